"""How errors become responses: the one lookup of exception handlers and the default answers.

Two kinds of error, two places (``docs/errors.md`` tells users the same):

- A *handled* error (an ``HTTPException``, or any exception with a handler registered for
  its status code or one of its classes) is answered innermost, where it is raised: the
  route turns it into the handler's response and sends that like any other, inside every
  middleware (``handled_response``). A router's 404/405 and an error raised while matching
  are handled errors of the router.
- Anything else is *unhandled*: it propagates as an exception through every middleware,
  route, mount and App level alike, so middleware that catches it finds nothing sent. Only
  the outermost App answers it, with a 500 (``App.__call__`` and ``answer_escaped``), then
  re-raises it for the server to log.

The handlers come from ``scope["app"]``: the App serving the request (a mounted App puts
itself there for its own routes). An error raised by a handler is chained to the error it
was handling and propagates as unhandled. This module knows requests and responses, not
routing or middleware.
"""

import html
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from microasgi._concurrency import run_in_threadpool
from microasgi.datastructures import Headers
from microasgi.endpoints import is_async_callable
from microasgi.exceptions import ClientDisconnect, HTTPException, RequestValidationError
from microasgi.requests import Request
from microasgi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from microasgi.responsestate import hand_over
from microasgi.results import to_response
from microasgi.types import Receive, Scope, Send

ExceptionHandler = Callable[[Request, Exception], Response | Awaitable[Response]]
HandlerKey = int | type[Exception]


def http_exception_response(exc: HTTPException) -> Response:
    """The default answer to an HTTPException: its detail as text (no body for 204/304);
    a RequestValidationError's problems as JSON ``{"detail": [...]}``."""
    if isinstance(exc, RequestValidationError):
        return JSONResponse({"detail": exc.errors}, status_code=422, headers=exc.headers)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


def server_error_response(scope: Scope, exc: BaseException, debug: bool) -> Response:
    """The default 500: no detail, unless ``debug`` asks for the traceback."""
    if not debug:
        return PlainTextResponse("Internal Server Error", status_code=500)
    text = "".join(traceback.format_exception(exc))
    if "text/html" in Headers(scope=scope).get("accept", ""):
        page = (
            "<!doctype html><html><head><title>500 Internal Server Error</title></head>"
            f"<body><h1>500 Internal Server Error</h1><pre>{html.escape(text)}</pre></body></html>"
        )
        return HTMLResponse(page, status_code=500)
    return PlainTextResponse(text, status_code=500)


class ExceptionHandlers:
    """An App's handlers, looked up by status code, then by the exception's class MRO.

    Args:
        handlers: ``{status code or exception class: handler(request, exc)}``; read at
            error time, so handlers registered later still count.
        debug: show the traceback in the default 500.
    """

    def __init__(self, handlers: Mapping[HandlerKey, ExceptionHandler], debug: bool) -> None:
        self.handlers = handlers
        self.debug = debug

    def handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """The handler registered for ``exc`` itself: its status code (an HTTPException),
        else its most specific class. ``Exception`` and 500 are the server error's own
        handlers (``server_error_response``), not a handled error's."""
        handlers = self.handlers
        if not handlers:
            return None
        if isinstance(exc, HTTPException):
            handler = handlers.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            if cls is Exception:
                break
            handler = handlers.get(cls)
            if handler is not None:
                return handler
        return None

    async def handled_response(
        self, exc: Exception, scope: Scope, receive: Receive
    ) -> Response | None:
        """The response to a handled error, or None when ``exc`` is unhandled."""
        handler = self.handler_for(exc)
        if handler is not None:
            return await run_handler(handler, exc, scope, receive)
        if isinstance(exc, HTTPException):
            return http_exception_response(exc)
        return None

    async def server_error_response(
        self, exc: Exception, scope: Scope, receive: Receive
    ) -> Response:
        """The 500 for an unhandled error: the 500 or ``Exception`` handler's, else the
        default. Raises what a failing handler raised (chained to ``exc``)."""
        handler = self.handlers.get(500) or self.handlers.get(Exception)
        if handler is not None:
            return await run_handler(handler, exc, scope, receive)
        return server_error_response(scope, exc, self.debug)


async def run_handler(
    handler: ExceptionHandler, exc: Exception, scope: Scope, receive: Receive
) -> Response:
    """Call ``handler(request, exc)`` (sync ones in a thread) and convert what it returns.

    Raises:
        Exception: what the handler raised (or a TypeError for what it returned),
            chained to ``exc`` with ``raise ... from``.
    """
    request = Request(scope, receive)
    result: Any
    try:
        if is_async_callable(handler):
            result = await handler(request, exc)  # type: ignore[misc]
        else:
            result = await run_in_threadpool(handler, request, exc)
        return to_response(result, handler)
    except Exception as handler_error:
        raise handler_error from exc
    finally:
        await request.close()  # a form the handler read: its files go now


def handlers_of(scope: Scope) -> ExceptionHandlers | None:
    """The handlers of the App serving ``scope`` (None for a bare Router or another framework)."""
    handlers: ExceptionHandlers | None = getattr(scope.get("app"), "handlers", None)
    return handlers if isinstance(handlers, ExceptionHandlers) else None


async def handled_response(exc: Exception, scope: Scope, receive: Receive) -> Response:
    """The response to ``exc`` if it is a handled error of an HTTP request; else re-raise it.

    Without an App in the scope an HTTPException still gets its default answer when nobody
    else is there to hear it (a Router served on its own); under another framework's app
    it is raised for that framework's handlers.
    """
    if scope["type"] == "http":
        handlers = handlers_of(scope)
        if handlers is not None:
            response = await handlers.handled_response(exc, scope, receive)
            if response is not None:
                return response
        elif isinstance(exc, HTTPException) and "app" not in scope:
            return http_exception_response(exc)
    raise exc


async def answer_handled(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Send the answer to a handled error (a router's 404, an error while matching); raise
    an unhandled one."""
    response = await handled_response(exc, scope, receive)
    await response(scope, receive, hand_over(scope, send))


async def answer_escaped(
    exc: Exception, started: bool, scope: Scope, receive: Receive, send: Send
) -> None:
    """The outermost guard's answer to an error that escaped the whole stack.

    ``started``: a message already went to the server, so the error is only re-raised
    (the server closes the connection). A ClientDisconnect is dropped: nobody is left to
    answer. A handled error (an HTTPException raised by middleware, say) gets its answer;
    anything else a 500 and is re-raised for the server to log. A handler that fails here
    gets the default 500, and its error (chained to ``exc``) is the one re-raised.
    """
    if isinstance(exc, ClientDisconnect):
        return
    if started:
        raise exc
    handlers = handlers_of(scope) or _NO_HANDLERS
    error: Exception | None = None
    try:
        response = await handlers.handled_response(exc, scope, receive)
        if response is None:
            error = exc
            response = await handlers.server_error_response(exc, scope, receive)
    except Exception as handler_error:
        error = handler_error
        response = server_error_response(scope, handler_error, handlers.debug)
    await response(scope, receive, send)
    if error is not None:
        raise error


_NO_HANDLERS = ExceptionHandlers({}, debug=False)
