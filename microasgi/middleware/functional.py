"""Function middleware: ``@app.middleware("http") async def mw(request, call_next)``.

``call_next`` runs the rest of the stack in the caller's own task, with no task
group and no memory stream: the downstream app's coroutine is stepped by hand
and paused at its response start, which ``call_next`` returns; once the
middleware's response is sent, the rest of the messages go straight to the
server. So streaming passes through chunk by chunk,
context variables flow both ways, background tasks run after the body, and the
endpoint reads the real receive channel (it sees disconnects). A body the
middleware read with ``body()`` is replayed to the endpoint.
"""

import functools
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, ClassVar

from microasgi.background import BackgroundTask, BackgroundTasks
from microasgi.endpoints import endpoint_name, is_async_callable
from microasgi.requests import Request
from microasgi.resolution import Resolution, close_resolution, resolver_of
from microasgi.responses import Response
from microasgi.responsestate import (
    RESPONSE_STATE_KEY,
    hand_over,
    note_start,
    records_its_start,
    records_own_start,
)
from microasgi.types import ASGIApp, Message, Receive, Scope, Send

CallNext = Callable[[Request], Awaitable[Response]]
DispatchFunction = Callable[[Request, CallNext], Awaitable[Response]]

# Yielded by a paused downstream; the stepper catches it before the event loop sees it.
_PAUSE = object()


class _Pause:
    def __await__(self) -> Generator[Any, None, None]:
        yield _PAUSE


class _Discarded(BaseException):
    """Thrown into a downstream the middleware did not use, to unwind it."""


async def _drop(message: Message) -> None:
    """Where a discarded downstream's messages go."""


class _Downstream:
    """The rest of the stack, run in the caller's task.

    It pauses at its first ``send`` (the response start, handed to ``call_next``);
    once ``forward_to`` is set, its later messages go straight to the real send.
    """

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        self._outbox: Message | None = None
        self.forward_to: Send | None = None
        self._coroutine: Coroutine[Any, Any, None] = app(scope, receive, self._send)  # type: ignore[assignment]
        self.finished = False
        # True while this task steps the downstream: a send outside it came from another task.
        self._stepping = False

    async def _send(self, message: Message) -> None:
        if self.forward_to is not None:
            await self.forward_to(message)
            return
        if not self._stepping:
            raise RuntimeError(
                "The app behind call_next sent its response start from another task; "
                "function middleware needs the app to send from the task that called it "
                "(use pure ASGI middleware in front of such an app)."
            )
        self._outbox = message
        await _Pause()

    def next_message(self) -> Awaitable[Message | None]:
        """Run the downstream until it sends a message (returned) or ends (None)."""
        return self._drive(None)

    async def discard(self) -> None:
        """Abandon a downstream the middleware did not use: unwind it where it paused, so
        its cleanup (finally blocks, context managers, awaiting ones too) runs."""
        if self.finished:
            return
        self.forward_to = _drop
        try:
            await self._drive(_Discarded())
        except* _Discarded:  # a task group on the way wraps it in an exception group
            pass

    @types.coroutine
    def _drive(self, error: BaseException | None) -> Generator[Any, Any, Message | None]:
        """Step the downstream (throwing ``error`` in first, if given) until it pauses at
        a send or ends. Whatever else it awaits is passed up to the event loop, and what
        the loop sends or throws back (results, cancellation) is passed down to it."""
        value: Any = None
        while True:
            self._stepping = True
            try:
                if error is not None:
                    yielded = self._coroutine.throw(error)
                else:
                    yielded = self._coroutine.send(value)
            except StopIteration:
                self.finished = True
                return None
            except BaseException:
                self.finished = True
                raise
            finally:
                self._stepping = False
            if yielded is _PAUSE:
                message, self._outbox = self._outbox, None
                return message
            try:
                value, error = (yield yielded), None
            except BaseException as exc:  # cancellation and the like go to the downstream
                value, error = None, exc


@records_its_start
class _DownstreamResponse(Response):
    """What ``call_next`` returns: the downstream's status and headers, body still to come.

    Editing ``response.headers`` edits the start message before it is sent.
    """

    def __init__(self, downstream: _Downstream, start: Message) -> None:
        self.status_code = start["status"]
        # Servers accept any iterable of pairs; a list lets response.headers edit it in place.
        headers: Any = start.get("headers", [])
        if not isinstance(headers, list):
            headers = [tuple(pair) for pair in headers]
        start["headers"] = self.raw_headers = headers
        self.background = None
        self._downstream = downstream
        self._start = start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._start["status"] = self.status_code
        note_start(scope)
        await send(self._start)
        # From now on the downstream sends straight to the server: no pause per chunk.
        self._downstream.forward_to = send
        await self._downstream.next_message()
        if self.background is not None:
            await self.background()


def _keep_endpoint_background(
    response: Response, endpoint_background: BackgroundTask | None
) -> None:
    """When the middleware set a background task of its own on the endpoint's response, the
    endpoint's task still runs, first: as it would behind a stepped call_next."""
    current = response.background
    if endpoint_background is None:
        return
    tasks = [endpoint_background] if current is None else [endpoint_background, current]
    response.background = BackgroundTasks(tasks)


async def _send_resolution(
    resolution: Resolution, scope: Scope, receive: Receive, send: Send
) -> None:
    """Send a resolved response as its route would have, then close the endpoint's form
    (bound with ``functools.partial``: the app ``call_next`` steps)."""
    try:
        await resolution[0](scope, resolution[1], send)
    finally:
        await close_resolution(resolution)


def check_middleware_function(dispatch: DispatchFunction) -> None:
    """Refuse a sync ``dispatch``: it would return call_next's coroutine unawaited, and
    every request would fail.

    Raises:
        TypeError: ``dispatch`` is not an ``async def``.
    """
    if not is_async_callable(dispatch):
        raise TypeError(
            f"Function middleware {endpoint_name(dispatch)} must be an `async def "
            "dispatch(request, call_next)`: it awaits call_next(request)."
        )


@records_its_start
class FunctionMiddleware:
    """Wrap ``dispatch(request, call_next)`` as pure ASGI middleware (HTTP only).

    An error ``call_next`` raises is what the app behind let propagate (an unhandled
    error): the dispatch function may catch it and answer, or let it go on outwards.
    """

    # Whether call_next may take the resolution shortcut (microasgi.resolution) when the
    # app behind is microasgi's router. Off, every request is stepped: the tests run
    # both ways, so the two execution models cannot drift apart.
    use_resolution: ClassVar[bool] = True

    def __init__(self, app: ASGIApp, dispatch: DispatchFunction) -> None:
        check_middleware_function(dispatch)
        self.app = app
        self.dispatch = dispatch
        # Set when the app behind is microasgi's router: then call_next mostly gets the
        # endpoint's response without stepping anything.
        self._resolve = resolver_of(app) if self.use_resolution else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The response record (microasgi.responsestate), when this middleware talks to the
        # server directly: out of the scope while the rest of the stack runs (it sends to
        # call_next, not to the server), back in once this middleware sends.
        state = scope.pop(RESPONSE_STATE_KEY, None)
        request = Request(scope, receive)
        downstreams: list[_Downstream] = []
        # What call_next handed over: each resolution, with the endpoint's background task
        # as it was then (the middleware may set one of its own on the response).
        handed: list[tuple[Resolution, BackgroundTask | None]] = []

        # A partial, not a closure: built in C, and no cell per shared variable.
        call_next: CallNext = functools.partial(
            FunctionMiddleware._call_next, self, scope, downstreams, handed
        )
        try:
            response = await self.dispatch(request, call_next)
            if not isinstance(response, Response):
                raise TypeError(
                    f"Middleware {getattr(self.dispatch, '__qualname__', self.dispatch)!r} "
                    f"returned {type(response).__name__}; return a Response (e.g. call_next's)."
                )
            channel = receive  # for the endpoint's own response: the channel it saw
            for resolution, endpoint_background in handed:
                if resolution[0] is response:
                    channel = resolution[1]
                    if endpoint_background is not response.background:
                        _keep_endpoint_background(response, endpoint_background)
            if state is not None:
                scope[RESPONSE_STATE_KEY] = state
            if response._sends_two_messages:
                # Response.__call__, inlined as in Route._serve (tests/test_route_copies.py).
                if state is not None:
                    state[0] = True
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": response.raw_headers,
                    }
                )
                body = b"" if scope["method"] == "HEAD" else response.body
                await send({"type": "http.response.body", "body": body})
                if response.background is not None:
                    await response.background()
            elif records_own_start(response):
                await response(scope, channel, send)
            else:
                await response(scope, channel, hand_over(scope, send))
        finally:
            for resolution, _ in handed:
                request_of_endpoint = resolution[2]
                if request_of_endpoint is not None and request_of_endpoint.holds_form:
                    await request_of_endpoint.close()
            for downstream in downstreams:
                await downstream.discard()
            if request.holds_form:  # a form the middleware itself read
                await request.close()

    async def _call_next(
        self,
        scope: Scope,
        downstreams: list[_Downstream],
        handed: list[tuple[Resolution, BackgroundTask | None]],
        request: Request,
    ) -> Response:
        """``call_next`` of one request (bound with ``functools.partial``)."""
        downstream_receive = request.receive_for_next_app()
        app = self.app
        resolve = self._resolve
        if resolve is not None:
            resolution = await resolve(scope, downstream_receive)
            if resolution is not None:
                response = resolution[0]
                if response._sends_two_messages:
                    # Start, then the whole body: nothing can fail before its start, so
                    # call_next may hand it over unsent, as the endpoint built it.
                    handed.append((resolution, response.background))
                    return response
                # Any other response (a file, a stream, yours) may fail before its start,
                # which call_next must raise: stepped, like the rest of the stack.
                app = functools.partial(_send_resolution, resolution)
        downstream = _Downstream(app, scope, downstream_receive)
        downstreams.append(downstream)
        start = await downstream.next_message()
        if start is None or start["type"] != "http.response.start":
            got = "nothing" if start is None else repr(start["type"])
            raise RuntimeError(
                f"Expected 'http.response.start' from the app behind call_next, got {got}."
            )
        return _DownstreamResponse(downstream, start)
