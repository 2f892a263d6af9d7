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
    Iterable,
    Iterator,
)
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
from anyio.lowlevel import RunVar

from microasgi.types import Message, Receive, Scope

P = ParamSpec("P")
T = TypeVar("T")


# Two thread pools: sync endpoints (and other user code) on one, file I/O on the other,
# so slow sync endpoints can never queue a download or an upload behind them. Sizes are
# process-wide; each event loop gets its own limiters (anyio limiters belong to one loop).
_thread_limits = {"workers": 40, "file_io": 40}
_limiters: dict[str, RunVar[anyio.CapacityLimiter]] = {
    pool: RunVar(f"microasgi_{pool}_limiter") for pool in _thread_limits
}


def _limiter(pool: str) -> anyio.CapacityLimiter:
    var = _limiters[pool]
    try:
        return var.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(_thread_limits[pool])
        var.set(limiter)
        return limiter


def configure_threads(*, workers: int | None = None, file_io: int | None = None) -> None:
    """Size the worker-thread pools (the defaults: 40 and 40).

    ``workers`` bounds the threads running sync endpoints, sync iterators, background
    tasks and other user code; ``file_io`` bounds the threads reading and writing files
    (``FileResponse``, ``StaticFiles``, ``UploadFile``). Call it before serving, or at any
    time: limiters already made for the running event loop are resized too.

    Raises:
        ValueError: a size below 1.
    """
    sizes = {"workers": workers, "file_io": file_io}
    for pool, size in sizes.items():
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"{pool} must be a whole number of threads (1 or more), got {size!r}.")
    for pool, size in sizes.items():
        if size is None:
            continue
        _thread_limits[pool] = size
        try:
            limiter = _limiters[pool].get()
        except (LookupError, RuntimeError):  # none yet, or no event loop running here
            continue
        limiter.total_tokens = size


def thread_limits() -> dict[str, int]:
    """The configured pool sizes: ``{"workers": ..., "file_io": ...}``."""
    return dict(_thread_limits)


async def run_in_threadpool(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking callable in a worker thread and return its result.

    Context variables set by the caller are visible in the thread (anyio copies the context).
    """
    limiter = _limiter("workers")
    if kwargs:
        return await anyio.to_thread.run_sync(
            functools.partial(func, *args, **kwargs), limiter=limiter
        )
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


async def run_file_io(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking file operation on the file I/O threads (not the endpoints' pool)."""
    return await anyio.to_thread.run_sync(func, *args, limiter=_limiter("file_io"))


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
    limiter = _limiter("workers")
    exhausted = False
    try:
        while True:
            try:
                yield await anyio.to_thread.run_sync(_next_or_stop, iterator, limiter=limiter)
            except _StopSentinel:
                exhausted = True
                return
    finally:
        # An exhausted iterator has nothing left to clean up: skip the thread hop.
        close = None if exhausted else getattr(iterator, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close, limiter=limiter)


async def aclose_quietly(iterable: object, exhausted: bool = False) -> None:
    """Close an async iterator if it has ``aclose``, even inside a cancelled scope.

    Shielded so that a generator's ``finally`` gets to run its own awaits when the
    stream was stopped by a client disconnect (a cancellation). An async generator
    that ran to its end (``exhausted``) has nothing left to run: no shield, no call.
    """
    if exhausted and isinstance(iterable, types.AsyncGeneratorType):
        return
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


_cancel_scope_factory: Callable[[], anyio.CancelScope] | None = None


def _asyncio_cancel_scope() -> anyio.CancelScope:
    """``anyio.CancelScope()``, on asyncio. The public constructor finds the running backend
    through sniffio on every call, about a tenth of what a short stream costs; the class
    it returns on asyncio is looked up once here and then built directly (falling back to
    the public constructor should a later anyio not allow that)."""
    global _cancel_scope_factory
    factory = _cancel_scope_factory
    if factory is None:
        factory = type(anyio.CancelScope())
        try:
            usable = isinstance(factory(), anyio.CancelScope)
        except Exception:
            usable = False
        factory = _cancel_scope_factory = factory if usable else anyio.CancelScope
    return factory()


@functools.lru_cache(maxsize=16)
def _spec_at_least_2_4(spec_version: str) -> bool:
    major, _, rest = spec_version.partition(".")
    minor = rest.partition(".")[0]
    if not (major.isdigit() and minor.isdigit() and len(major) < 4 and len(minor) < 4):
        return False  # unparsable: assume an old server, which only receive() tells
    return (int(major), int(minor)) >= (2, 4)


def send_raises_on_disconnect(scope: Scope) -> bool:
    """Whether the server speaks ASGI spec 2.4 or later, whose ``send()`` raises ``OSError``
    once the client is gone. The one place that reads ``scope["asgi"]["spec_version"]``:
    a missing or malformed version counts as 2.0."""
    asgi = scope.get("asgi")
    version = asgi.get("spec_version") if isinstance(asgi, dict) else None
    return isinstance(version, str) and _spec_at_least_2_4(version)


# How many messages a loop that sends may send without letting the event loop run.
PACE_MESSAGES = 64


async def let_loop_run() -> None:
    """Let the event loop run once (a checkpoint, where cancellation is delivered).

    Senders call it once every ``PACE_MESSAGES`` messages. A stream whose source never
    awaits, sent to a server whose ``send()`` never waits, would otherwise hold the loop
    forever: the server could not even learn that the client left, and every other
    connection of the worker would starve. A counter, not a clock: a short response
    never pays for it.
    """
    await anyio.lowlevel.checkpoint()


async def run_until_disconnect(
    scope: Scope, receive: Receive, func: Callable[[], Awaitable[None]]
) -> bool:
    """Run ``func()``, which sends a response body; cancel it when the client leaves.

    Returns True when the client left first. The one disconnect watcher of the package.
    On ASGI 2.4 and later ``send()`` raises ``OSError`` once the client is gone, so no
    watcher runs: the sender stops on that error. Before 2.4 only receive() tells, read
    by a watcher task. That task costs more than a short response itself, so on asyncio
    it starts only once this task lets the event loop run (a callback scheduled now runs
    then): a response whose work never waits is done before anyone could have noticed a
    disconnect. Messages other than the disconnect (the unread rest of the request body)
    are dropped. An error from ``func`` or ``receive`` is raised as it is, not wrapped in
    an ExceptionGroup.
    """
    if send_raises_on_disconnect(scope):
        await func()
        return False
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # another anyio backend (trio): a task group
        return await _run_until_disconnect_in_task_group(receive, func)
    errors: list[Exception] = []
    # The scope opens before func runs, so cancel scopes func's work opens nest inside it.
    body_scope = _asyncio_cancel_scope()
    watcher: asyncio.Task[None] | None = None

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(_read_until_disconnect(receive, errors, body_scope.cancel))

    first_wait = loop.call_soon(start_watching)
    try:
        with body_scope:
            await func()
    except Exception as exc:
        errors.append(exc)
    finally:
        first_wait.cancel()
        if watcher is not None:
            watcher.cancel()  # done with the response: stop reading receive()
    if errors:
        raise errors[0]
    return body_scope.cancelled_caught


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
    receive: Receive, func: Callable[[], Awaitable[None]]
) -> bool:
    errors: list[Exception] = []
    disconnected = anyio.Event()

    def on_disconnect() -> None:
        disconnected.set()
        task_group.cancel_scope.cancel()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_read_until_disconnect, receive, errors, on_disconnect)
        try:
            await func()
        except Exception as exc:
            errors.append(exc)
        task_group.cancel_scope.cancel()
    if errors:
        raise errors[0]
    return disconnected.is_set()
