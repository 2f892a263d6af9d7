"""The outermost guard: whatever escapes the stack becomes a 500, then is re-raised.

Endpoint errors are normally answered further in (by ExceptionMiddleware, inside
the user middleware); this guard catches what user middleware itself raises. If a
response has already started, no second start is sent: the error propagates and
the server closes the connection.
"""

import html
import traceback

from microasgi.datastructures import Headers
from microasgi.exceptions import ClientDisconnect, HTTPException
from microasgi.responses import (
    HTMLResponse,
    PlainTextResponse,
    Response,
    mark_response_started,
    response_started,
    watch_start,
)
from microasgi.types import ASGIApp, Receive, Scope, Send


def http_exception_response(exc: HTTPException) -> Response:
    """The default answer to an HTTPException: its detail as text (no body for 204/304)."""
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


class ServerErrorMiddleware:
    """Answer 500 for anything the stack raised before responding, then re-raise.

    Args:
        app: the stack to guard.
        debug: show the traceback in the 500 response.
        watch_sends: watch the sends to learn whether a response started. The App
            turns it off when every user middleware marks its own late errors
            (``marks_response_errors``), which saves a wrapper per message.
    """

    def __init__(self, app: ASGIApp, debug: bool = False, watch_sends: bool = True) -> None:
        self.app = app
        self.debug = debug
        self.watch_sends = watch_sends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = [False]
        try:
            await self.app(scope, receive, watch_start(send, started) if self.watch_sends else send)
        except Exception as exc:
            await self.answer(exc, started[0], scope, receive, send)

    async def answer(
        self, exc: Exception, started: bool, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer ``exc``, which escaped the stack (``started``: the watched send saw the
        response start), then re-raise it; only re-raise when a response had started."""
        if isinstance(exc, ClientDisconnect):
            return  # Nobody is left to answer.
        if started or response_started(exc):
            raise exc  # The server logs it and closes the connection.
        if isinstance(exc, HTTPException):
            # Bad input noticed in middleware (a body too large, invalid JSON): its
            # status, not a 500.
            await http_exception_response(exc)(scope, receive, send)
            return
        await server_error_response(scope, exc, self.debug)(scope, receive, send)
        mark_response_started(exc)
        raise exc  # Re-raised so the server logs it.
