"""AuthenticationMiddleware: sets ``scope["user"]`` and ``scope["auth"]`` for every connection."""

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from microasgi._concurrency import run_in_threadpool
from microasgi.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    UnauthenticatedUser,
)
from microasgi.requests import HTTPConnection
from microasgi.responses import PlainTextResponse, Response
from microasgi.types import ASGIApp, Receive, Scope, Send

ErrorHandler = Callable[[HTTPConnection, AuthenticationError], Response | Awaitable[Response]]

# The websocket close code for credentials the backend refused.
CLOSE_POLICY_VIOLATION = 1008


class AuthenticationMiddleware:
    """Ask ``backend`` who each HTTP and websocket connection is.

    The answer lands in ``scope["auth"]`` (``AuthCredentials``) and ``scope["user"]``
    (a ``BaseUser``; ``UnauthenticatedUser`` when the backend returns None), read as
    ``request.auth`` and ``request.user``. An ``AuthenticationError`` from the backend is
    answered with 400 and its message (or ``on_error(conn, exc)``'s response, sync or async);
    a websocket is closed with 1008 instead.
    """

    def __init__(
        self,
        app: ASGIApp,
        backend: AuthenticationBackend,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self.app = app
        self.backend = backend
        self.on_error = on_error
        self._async_backend = inspect.iscoroutinefunction(backend.authenticate)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        try:
            if self._async_backend:
                result = await self.backend.authenticate(conn)
            else:
                result = await run_in_threadpool(self.backend.authenticate, conn)  # type: ignore[arg-type]
        except AuthenticationError as exc:
            if scope["type"] == "websocket":
                await send(
                    {"type": "websocket.close", "code": CLOSE_POLICY_VIOLATION, "reason": ""}
                )
                return
            response = await self._error_response(conn, exc)
            await response(scope, receive, send)
            return
        if result is None:
            scope["auth"], scope["user"] = AuthCredentials(), UnauthenticatedUser()
        else:
            scope["auth"], scope["user"] = result
        await self.app(scope, receive, send)

    async def _error_response(self, conn: HTTPConnection, exc: AuthenticationError) -> Response:
        if self.on_error is None:
            return PlainTextResponse(str(exc) or "Invalid credentials.", status_code=400)
        response: Any = self.on_error(conn, exc)
        if inspect.isawaitable(response):
            response = await response
        return response  # type: ignore[no-any-return]
