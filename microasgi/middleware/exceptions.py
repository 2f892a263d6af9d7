"""Exception handlers: turn errors raised by endpoints into responses.

This runs inside the user middleware, so the responses it produces (the 500
included) still pass through CORS and the rest. Lookup order: the status code
of an HTTPException, then the exception's class MRO. Errors without a specific
handler become a 500 (the 500/Exception handler, or the default) and are then
re-raised for the server to log.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from microasgi._concurrency import run_in_threadpool
from microasgi.endpoints import is_async_callable, to_response
from microasgi.exceptions import ClientDisconnect, HTTPException
from microasgi.middleware.errors import http_exception_response, server_error_response
from microasgi.requests import Request
from microasgi.responses import (
    Response,
    mark_response_started,
    response_started,
)
from microasgi.types import ASGIApp, Receive, Scope, Send

ExceptionHandler = Callable[[Request, Exception], Response | Awaitable[Response]]
HandlerKey = int | type[Exception]


class ExceptionMiddleware:
    """Answer endpoint errors with the registered handlers.

    An App's is its ``exception_layer``: routes, mounts and the router's 404/405 answer
    their errors on the spot with its ``answer`` (``microasgi.answering``), so the App
    never calls it as a layer. Called as one, it answers what escapes its app.
    """

    def __init__(
        self, app: ASGIApp, handlers: Mapping[HandlerKey, ExceptionHandler], debug: bool = False
    ) -> None:
        self.app = app
        # Read at error time, so handlers registered after the stack was built still count.
        self.handlers = handlers
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # No send wrapper: routes mark errors raised once a response has started.
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            await self.answer(exc, scope, receive, send)

    async def answer(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``exc``, raised while serving the HTTP ``scope``.

        Re-raises it when the server must hear of it: after a response had started, and
        after answering a server error (500) so that it gets logged.
        """
        if isinstance(exc, ClientDisconnect):
            return  # Nobody is left to answer.
        if response_started(exc):
            raise exc  # Too late for a response; the server closes the connection.
        handler, is_server_error = self._lookup(exc)
        try:
            response = await self._respond(handler, scope, receive, exc)
        except Exception:
            # A failing handler must not leave the client without an answer.
            response, is_server_error = server_error_response(scope, exc, self.debug), True
        await response(scope, receive, send)
        if is_server_error:
            # Answered: outer layers (a parent App, the guard) must not answer again.
            mark_response_started(exc)
            raise exc

    def _lookup(self, exc: Exception) -> tuple[ExceptionHandler | None, bool]:
        """The handler for ``exc`` and whether answering it counts as a server error."""
        if isinstance(exc, HTTPException):
            handler = self.handlers.get(exc.status_code)
            if handler is not None:
                return handler, False
        for cls in type(exc).__mro__:
            if cls is Exception:
                break
            handler = self.handlers.get(cls)
            if handler is not None:
                return handler, False
        if isinstance(exc, HTTPException):
            return None, False
        return self.handlers.get(500) or self.handlers.get(Exception), True

    async def _respond(
        self, handler: ExceptionHandler | None, scope: Scope, receive: Receive, exc: Exception
    ) -> Response:
        if handler is None:
            if isinstance(exc, HTTPException):
                return http_exception_response(exc)
            return server_error_response(scope, exc, self.debug)
        request = Request(scope, receive)
        result: Any
        try:
            if is_async_callable(handler):
                result = await handler(request, exc)  # type: ignore[misc]
            else:
                result = await run_in_threadpool(handler, request, exc)
        finally:
            if request._form is not None:  # a form the handler read: its files go now
                await request.close()
        return to_response(result, handler)
