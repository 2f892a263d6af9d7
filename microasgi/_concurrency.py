"""The one module that talks to anyio: worker threads, the disconnect watch, task groups.

Everything that must not block the event loop (sync endpoints, sync iterators,
file I/O) goes through here, so the thread policy lives in one place; so does the
cancellation policy (what is shielded, what a client disconnect cancels).
This module knows the ASGI receive channel, not requests, responses or routing.
"""

import asyncio
import functools
import types
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

from microasgi.types import Message, Receive

P = ParamSpec("P")
T = TypeVar("T")


async def run_in_threadpool(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking callable in a worker thread and return its result.

    Context variables set by the caller are visible in the thread (anyio copies the context).
    """
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


async def iterate_in_threadpool(iterable: Iterable[T]) -> AsyncGenerator[T, None]:
    """Iterate a blocking iterable, each ``next`` in a worker thread.

    When the consumer stops early (client gone, error), the iterator's ``close``
    runs in a thread too, so a generator's ``finally`` block always executes.
    """
    iterator = iter(iterable)
    exhausted = False
    try:
        while True:
            try:
                yield await anyio.to_thread.run_sync(_next_or_stop, iterator)
            except _StopSentinel:
                exhausted = True
                return
    finally:
        # An exhausted iterator has nothing left to clean up: skip the thread hop.
        close = None if exhausted else getattr(iterator, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close)


async def aclose_quietly(iterable: object) -> None:
    """Close an async iterator if it has ``aclose``, even inside a cancelled scope.

    Shielded so that a generator's ``finally`` gets to run its own awaits when the
    stream was stopped by a client disconnect (a cancellation).
    """
    aclose: Callable[[], Awaitable[Any]] | None = getattr(iterable, "aclose", None)
    if aclose is not None:
        with anyio.CancelScope(shield=True):
            await aclose()


# Scheduler passes receive_nowait() allows: enough for a receive that checkpoints
# before returning a queued message (anyio memory streams do), never a real wait.
_READY_PASSES = 5


async def receive_nowait(receive: Receive) -> Message | None:
    """The next message if ``receive`` has one ready now, else None (never waits on I/O).

    ``receive`` runs in a child task for a few scheduler passes, then is cancelled if it
    is still waiting. A cancelled scope around a plain await would not do: receives
    that checkpoint first (anyio memory streams) would never return a queued message.
    A message that arrives while the child is being cancelled is still returned, and an
    error from ``receive`` is raised as it is (not in an ExceptionGroup).
    """
    taken: list[Message] = []
    errors: list[Exception] = []
    # Only the child's wait is cancelled, never the caller's task.
    waiting = anyio.CancelScope()

    async def take() -> None:
        with waiting:
            try:
                taken.append(await receive())
            except Exception as exc:
                errors.append(exc)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(take)
        for _ in range(_READY_PASSES):
            await anyio.lowlevel.checkpoint()
            if taken or errors:
                break
        waiting.cancel()
    if errors:
        raise errors[0]
    return taken[0] if taken else None


async def run_until_disconnect(
    receive: Receive, func: Callable[[Callable[[], None]], Awaitable[None]]
) -> None:
    """Run ``func(watch)``; once it calls ``watch()``, cancel it when ``http.disconnect``
    arrives.

    Before ASGI spec 2.4 a server drops what is sent after the client left, so the
    only way to notice is receive(), read by a watcher task. That task, and on asyncio
    even a task group, costs more than a short response itself, so the watcher starts
    only when ``func`` asks for it. Messages other than the disconnect (the unread rest
    of the request body) are dropped. An error from ``func`` or ``receive`` is raised
    as it is, not wrapped in an ExceptionGroup.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # another anyio backend (trio): a task group
        await _run_until_disconnect_in_task_group(receive, func)
        return
    errors: list[Exception] = []
    # The scope opens before func runs, so cancel scopes func's work opens nest inside it.
    scope = anyio.CancelScope()
    watcher: asyncio.Task[None] | None = None

    def watch() -> None:
        nonlocal watcher
        if watcher is None:
            watcher = loop.create_task(_read_until_disconnect(receive, errors, scope.cancel))

    try:
        with scope:
            await func(watch)
    except Exception as exc:
        errors.append(exc)
    finally:
        if watcher is not None:
            watcher.cancel()  # done with the response: stop reading receive()
    if errors:
        raise errors[0]


async def _read_until_disconnect(
    receive: Receive, errors: list[Exception], on_disconnect: Callable[[], None]
) -> None:
    """The watcher: read receive() until http.disconnect (or an error), then cancel."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception as exc:
        errors.append(exc)
    on_disconnect()


async def _run_until_disconnect_in_task_group(
    receive: Receive, func: Callable[[Callable[[], None]], Awaitable[None]]
) -> None:
    errors: list[Exception] = []
    async with anyio.create_task_group() as task_group:
        watching = False

        def watch() -> None:
            nonlocal watching
            if not watching:
                watching = True
                task_group.start_soon(
                    _read_until_disconnect, receive, errors, task_group.cancel_scope.cancel
                )

        try:
            await func(watch)
        except Exception as exc:
            errors.append(exc)
        if watching:
            task_group.cancel_scope.cancel()
    if errors:
        raise errors[0]


def step_until_waiting(awaitable: Any) -> tuple[bool, Any]:
    """Run a coroutine-like ``awaitable`` until it first has to wait.

    Returns ``(True, result)`` when it finished without waiting, or ``(False, yielded)``
    when it suspended; then finish it with ``await resume(awaitable, yielded)``, in
    the same task. Lets a caller skip machinery (a watcher task) for work that is ready.
    Exceptions it raises (StopAsyncIteration included) propagate.
    """
    try:
        yielded = awaitable.send(None)
    except StopIteration as done:
        return True, done.value
    return False, yielded


@types.coroutine
def resume(awaitable: Any, yielded: Any) -> Generator[Any, Any, Any]:
    """Finish an awaitable that ``step_until_waiting`` left suspended.

    What it yields goes up to the event loop; what the loop sends or throws back
    (results, cancellation) goes down to it.
    """
    while True:
        try:
            value = yield yielded
        except BaseException as exc:
            step = functools.partial(awaitable.throw, exc)
        else:
            step = functools.partial(awaitable.send, value)
        try:
            yielded = step()
        except StopIteration as done:
            return done.value
