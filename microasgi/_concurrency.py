"""The one module that talks to anyio: worker threads and iteration in threads.

Everything that must not block the event loop (sync endpoints, sync iterators,
file I/O) goes through here, so the thread policy lives in one place.
"""

import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")


async def run_in_threadpool(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking callable in a worker thread and return its result."""
    if kwargs:
        return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))
    return await anyio.to_thread.run_sync(func, *args)


class _StopSentinel(Exception):
    """Carries StopIteration out of a thread (StopIteration can't cross an await)."""


def _next_or_stop(iterator: Iterator[T]) -> T:
    try:
        return next(iterator)
    except StopIteration:
        raise _StopSentinel from None


async def iterate_in_threadpool(iterable: Iterable[T]) -> AsyncIterator[T]:
    """Iterate a blocking iterable, each ``next`` in a worker thread.

    When the consumer stops early (client gone, error), the iterator's ``close``
    runs in a thread too, so a generator's ``finally`` block always executes.
    """
    iterator = iter(iterable)
    try:
        while True:
            try:
                yield await anyio.to_thread.run_sync(_next_or_stop, iterator)
            except _StopSentinel:
                return
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close)
