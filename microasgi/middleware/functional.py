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
from typing import Any

from microasgi.answering import send_answered
from microasgi.background import BackgroundTask, BackgroundTasks
from microasgi.endpoints import endpoint_name, is_async_callable
from microasgi.requests import Request
from microasgi.resolution import Resolution, close_resolution, resolver_of
from microasgi.responses import Response, mark_response_started, send_response
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


class _DownstreamResponse(Response):
    """What ``call_next`` returns: the downstream's status and headers, body still to come.

    Editing ``response.headers`` edits the start message before it is sent.
    """

    sends_start_first = True  # its __call__ sends the start before anything else

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
        await send(self._start)
        # From now on the downstream sends straight to the server: no pause per chunk.
        self._downstream.forward_to = send
        await self._downstream.next_message()
        if self.background is not None:
            await self.background()


def _body_replaying_receive(request: Request, receive: Receive) -> Receive:
    """The receive channel the downstream gets once the middleware read, streamed or peeked
    at the body; an untouched body leaves it the real channel."""
    if request._pending:
        # Body messages is_disconnected() took off the channel: hand them on first.
        pending = request._pending

        async def replay_pending() -> Message:
            return pending.pop(0) if pending else await receive()

        return replay_pending
    body = request._body
    if body is not None:
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    # Only stream() is left: it consumed the body.
    async def consumed() -> Message:
        raise RuntimeError(
            "The middleware consumed the request body with stream(); use "
            "await request.body() in middleware so the endpoint can read it again."
        )

    return consumed


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


class FunctionMiddleware:
    """Wrap ``dispatch(request, call_next)`` as pure ASGI middleware (HTTP only)."""

    # Errors escaping after its response started carry mark_response_started, so the
    # outer guard needs no send wrapper for it.
    marks_response_errors = True

    def __init__(self, app: ASGIApp, dispatch: DispatchFunction) -> None:
        if not is_async_callable(dispatch):
            # A sync dispatch returns call_next's coroutine unawaited: every request fails.
            raise TypeError(
                f"Function middleware {endpoint_name(dispatch)} must be an `async def "
                "dispatch(request, call_next)`: it awaits call_next(request)."
            )
        self.app = app
        self.dispatch = dispatch
        # Set when the app behind is microasgi's router: then call_next mostly gets the
        # endpoint's response without stepping anything.
        self._resolve = resolver_of(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        downstreams: list[_Downstream] = []
        # What call_next handed over: each resolution, with the endpoint's background task
        # as it was then (the middleware may set one of its own on the response).
        handed: list[tuple[Resolution, BackgroundTask | None]] = []

        # A partial, not a closure: built in C, and no cell per shared variable.
        call_next: CallNext = functools.partial(
            FunctionMiddleware._call_next, self, scope, receive, downstreams, handed
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
            if response._sends_two_messages:
                # Response.__call__ and send_response(), inlined as in Route._serve.
                try:
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
                except BaseException as exc:
                    mark_response_started(exc)
                    raise
            else:
                await send_response(response, scope, channel, send)
        finally:
            for resolution, _ in handed:
                if resolution[2] is not None:  # the endpoint took a Request: close its form
                    await close_resolution(resolution)
            for downstream in downstreams:
                await downstream.discard()
            if request._form is not None:  # a form the middleware itself read
                await request.close()

    async def _call_next(
        self,
        scope: Scope,
        receive: Receive,
        downstreams: list[_Downstream],
        handed: list[tuple[Resolution, BackgroundTask | None]],
        request: Request,
    ) -> Response:
        """``call_next`` of one request (bound with ``functools.partial``)."""
        touched = request._body is not None or request._pending or request._stream_consumed
        downstream_receive = _body_replaying_receive(request, receive) if touched else receive
        app = self.app
        resolve = self._resolve
        if resolve is not None:
            outcome: Resolution | Exception | None
            try:
                outcome = await resolve(scope, downstream_receive)
            except Exception as exc:
                outcome = exc
            if outcome is not None:
                if isinstance(outcome, tuple):
                    response = outcome[0]
                    if response.sends_start_first:
                        handed.append((outcome, response.background))
                        return response  # the endpoint's own response, unsent
                # An error, or a response that may fail before its start: stepped,
                # so that call_next sees what the handlers answer.
                app = functools.partial(send_answered, outcome)
        downstream = _Downstream(app, scope, downstream_receive)
        downstreams.append(downstream)
        start = await downstream.next_message()
        if start is None or start["type"] != "http.response.start":
            got = "nothing" if start is None else repr(start["type"])
            raise RuntimeError(
                f"Expected 'http.response.start' from the app behind call_next, got {got}."
            )
        return _DownstreamResponse(downstream, start)
