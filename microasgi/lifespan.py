"""The lifespan: startup hooks, the user's context manager and mounted apps' lifespans.

``lifespan_context`` folds the hooks, the ``lifespan(app)`` factory and the children's
contexts into one async context manager yielding the merged state; it is the one
runner for all of them. ``serve_lifespan`` speaks the ASGI lifespan protocol around
that context, its message order kept as a transition table. This module knows the
lifespan scope and messages; it knows nothing of routing or of how an app is built.
"""

import enum
import traceback
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from microasgi._concurrency import run_in_threadpool
from microasgi.endpoints import is_async_callable
from microasgi.types import Receive, Scope, Send

LifespanFactory = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any] | None]]
ChildLifespan = Callable[[], AbstractAsyncContextManager[dict[str, Any]]]


class _Phase(enum.Enum):
    WAITING = 0  # no message yet: only startup may come
    STARTED = 1  # startup complete: only shutdown may come
    STOPPED = 2


# ASGI lifespan spec: the server sends startup, then (after serving) shutdown.
_TRANSITIONS: dict[_Phase, dict[str, _Phase]] = {
    _Phase.WAITING: {"lifespan.startup": _Phase.STARTED},
    _Phase.STARTED: {"lifespan.shutdown": _Phase.STOPPED},
    _Phase.STOPPED: {},
}


async def _run_hook(hook: Callable[[], Any]) -> None:
    if is_async_callable(hook):
        await hook()
    else:
        await run_in_threadpool(hook)


async def _run_hooks(hooks: Sequence[Callable[[], Any]]) -> None:
    for hook in hooks:
        await _run_hook(hook)


def lifespan_context(
    app: Any,
    lifespan: LifespanFactory | None,
    on_startup: Sequence[Callable[[], Any]],
    on_shutdown: Sequence[Callable[[], Any]],
    children: Sequence[ChildLifespan] = (),
) -> AbstractAsyncContextManager[dict[str, Any]]:
    """One context manager for everything an app runs at startup and shutdown.

    Entering runs the ``on_startup`` hooks in order (sync ones in a worker thread),
    then enters ``lifespan(app)``, then each child context (mounted apps, in mount
    order). It yields the merged state: the children's in mount order, then the
    app's own mapping, which wins on a shared key. Exiting unwinds in reverse and
    runs the ``on_shutdown`` hooks last. The shutdown hooks run only if every
    startup hook succeeded; the contexts entered before a failure are exited.
    """
    hooks_up = tuple(on_startup)
    hooks_down = tuple(on_shutdown)
    contexts = tuple(children)

    @asynccontextmanager
    async def run() -> AsyncIterator[dict[str, Any]]:
        await _run_hooks(hooks_up)
        async with AsyncExitStack() as stack:
            stack.push_async_callback(_run_hooks, hooks_down)
            own: Mapping[str, Any] | None = None
            if lifespan is not None:
                own = await stack.enter_async_context(lifespan(app))
                if own is not None and not isinstance(own, Mapping):
                    raise TypeError(
                        f"The lifespan must yield a mapping (the connection state) or None, "
                        f"got {type(own).__name__}; yield {{'name': value}} instead."
                    )
            state: dict[str, Any] = {}
            for child in contexts:
                state.update(await stack.enter_async_context(child()))
            if own is not None:
                state.update(own)
            yield state

    return run()


async def serve_lifespan(
    context: Callable[[], AbstractAsyncContextManager[dict[str, Any]]],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Serve an ASGI ``lifespan`` scope around ``context()``.

    ``lifespan.startup`` enters the context, puts its state into ``scope["state"]``
    and answers ``lifespan.startup.complete``; ``lifespan.shutdown`` exits it and
    answers ``lifespan.shutdown.complete``. A failure is answered with the
    ``.failed`` message carrying the traceback text (servers log it) and ends the
    protocol without re-raising. The context is entered and exited in this one task,
    so task groups and cancel scopes opened in a user's lifespan stay valid.

    Raises:
        RuntimeError: the server sent a message out of the protocol's order.
    """
    phase = _Phase.WAITING
    manager = context()
    while True:
        message = await receive()
        message_type = message["type"]
        next_phase = _TRANSITIONS[phase].get(message_type)
        if next_phase is None:
            allowed = " or ".join(repr(name) for name in _TRANSITIONS[phase]) or "nothing"
            raise RuntimeError(
                f"Unexpected {message_type!r} in lifespan phase {phase.name}: expected "
                f"{allowed}; the server broke the ASGI lifespan protocol."
            )
        phase = next_phase
        if phase is _Phase.STARTED:
            if not await _start(manager, scope, send):
                return
        else:
            try:
                await manager.__aexit__(None, None, None)
            except Exception:
                await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
                return
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _start(
    manager: AbstractAsyncContextManager[dict[str, Any]], scope: Scope, send: Send
) -> bool:
    """Enter the context and answer startup; False once startup failed."""
    try:
        state = await manager.__aenter__()
    except Exception:
        await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
        return False
    if state:
        server_state = scope.get("state")
        if server_state is None:
            error = RuntimeError(
                "The lifespan yielded state, but the ASGI server does not support lifespan "
                "state (no 'state' in the lifespan scope); upgrade the server, or keep "
                "resources on app.state instead of yielding them."
            )
            # The context was entered: unwind it before reporting, so resources are freed.
            try:
                await manager.__aexit__(RuntimeError, error, None)
            except Exception:
                await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
                return False
            await send({"type": "lifespan.startup.failed", "message": str(error)})
            return False
        server_state.update(state)
    await send({"type": "lifespan.startup.complete"})
    return True


def _nothing_to_run() -> AbstractAsyncContextManager[dict[str, Any]]:
    return lifespan_context(None, None, (), ())


async def serve_empty_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """Speak the lifespan protocol for an app with nothing to start or stop (a bare
    Router, a WSGI app), through the same runner as App's."""
    await serve_lifespan(_nothing_to_run, scope, receive, send)
