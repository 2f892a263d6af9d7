"""An in-process test client that drives any ASGI 3 app through httpx.

The package owns: building ASGI scopes from httpx requests, running the app on an anyio event
loop in a background thread (a blocking portal; ``_calls``), bridging messages between that loop
and the test's thread, checking the app's side of the HTTP, websocket and lifespan protocols
(the protocol guard, ``microasgi.protocol``), and turning what the app sends back into httpx
responses and websocket sessions (``_websocket``). This module holds the client and the lifespan.

It must not know microasgi's own requests, responses or routing: it speaks only the ASGI
vocabulary (``microasgi.types``, ``microasgi.exceptions``, ``microasgi.protocol``), so it can
drive any ASGI app.
"""

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from http.cookiejar import CookieJar
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from microasgi.protocol import LIFESPAN
from microasgi.testclient._calls import AppCall, AppRunner, ASGITransport, connection_scope
from microasgi.testclient._websocket import (
    WEBSOCKET_HANDSHAKE,
    WebSocketDenialResponse,
    WebSocketTestSession,
)
from microasgi.types import ASGIApp, Message

__all__ = ["TestClient", "WebSocketDenialResponse", "WebSocketTestSession"]

# What httpx takes as cookies.
_Cookies = httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]


class Lifespan(AppCall):
    """The app's lifespan protocol, run around a ``with TestClient(app):`` block."""

    protocol = LIFESPAN

    def __init__(self, runner: AppRunner) -> None:
        asgi = {"version": "3.0", "spec_version": "2.0"}
        scope = {"type": "lifespan", "asgi": asgi, "state": runner.state}
        super().__init__(runner, scope, [{"type": "lifespan.startup"}], runner.timeout)

    def startup(self) -> bool:
        """Wait for the answer to lifespan.startup; False if the app does not support lifespan.

        Raises:
            RuntimeError: the app answered lifespan.startup.failed.
            TimeoutError: the app neither answered nor returned within the timeout.
        """
        message = self._answer()
        if message is not None and message["type"] == "lifespan.startup.complete":
            return True
        self.close(raise_errors=False)
        if message is None:
            # As uvicorn's "auto" mode: an app that returns or raises without answering does not
            # support lifespan, and serving goes on without it.
            return False
        raise RuntimeError(f"Lifespan startup failed: {message.get('message', '')}")

    def shutdown(self) -> None:
        """Send lifespan.shutdown, wait for the answer and for the app to return.

        Raises:
            RuntimeError: the app answered lifespan.shutdown.failed.
        """
        self.put({"type": "lifespan.shutdown"})
        message = self._answer()
        self.close()
        if message is not None and message["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(f"Lifespan shutdown failed: {message.get('message', '')}")

    def _answer(self) -> Message | None:
        try:
            return self.get()
        except TimeoutError:
            self.abort()
            raise


class TestClient(httpx.Client):
    """An ``httpx.Client`` whose requests run an ASGI app in process.

    ``with TestClient(app) as client:`` keeps one event loop for the block and runs the app's
    lifespan around it; without ``with``, each request gets its own loop and no lifespan.

    Args:
        app: any ASGI 3 app.
        base_url: the scheme, host and port the app sees.
        raise_server_exceptions: re-raise the app's exceptions in the test. When False, an
            exception before the response started gives a 500 response; after, the body ends.
        root_path: the ASGI ``root_path``; it prefixes ``scope["path"]`` too, as uvicorn does.
        headers: sent with every request (a ``user-agent: testclient`` is added unless given).
        cookies: the client's initial cookie jar, sent where they match; cookies the app sets
            are kept too. Each request method also takes ``cookies=`` for that request alone.
        client: the peer address ``(host, port)`` the app sees in ``scope["client"]``.
        backend: the anyio backend to run the app on, ``"asyncio"`` or ``"trio"``, and
            ``backend_options`` for it (``{"use_uvloop": True}`` on asyncio).
        timeout: seconds to wait for each message from the app before raising TimeoutError
            (httpx's per-request ``timeout=`` overrides it for HTTP).
        follow_redirects: as in httpx; on by default, as in a browser.
        check_protocol: the protocol guard (``microasgi.protocol``): every message the app
            sends is checked against the ASGI protocol, and the first that breaks it is
            refused with a ``RuntimeError`` (a ``ProtocolViolation``) naming the violation and
            what was expected next. False lets any message through.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        cookies: _Cookies | None = None,
        client: tuple[str, int] = ("testclient", 50000),
        backend: Literal["asyncio", "trio"] = "asyncio",
        backend_options: dict[str, Any] | None = None,
        timeout: float = 5.0,
        follow_redirects: bool = True,
        check_protocol: bool = True,
    ) -> None:
        self.app = app
        self._runner = AppRunner(
            app,
            raise_server_exceptions,
            root_path,
            timeout,
            client,
            backend,
            dict(backend_options or {}),
            check_protocol=check_protocol,
        )
        self._lifespan: Lifespan | None = None
        self._portal_stack = ExitStack()
        all_headers = httpx.Headers({"user-agent": "testclient"})
        all_headers.update(headers or {})  # case-insensitive: a given User-Agent replaces ours
        super().__init__(
            base_url=base_url,
            transport=ASGITransport(self._runner),
            headers=all_headers,
            cookies=cookies,
            timeout=timeout,
            follow_redirects=follow_redirects,
        )

    def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        cookies: _Cookies | None = None,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
        **options: Any,
    ) -> httpx.Response:
        """As ``httpx.Client.request``; ``cookies=`` is sent with this request only (not with
        the redirects it leads to), on top of the client's jar, without httpx's deprecation
        warning. What the app sets is kept in the jar, as usual."""
        request = self.build_request(method, url, cookies=cookies, **options)
        return self.send(request, auth=auth, follow_redirects=follow_redirects)

    def __enter__(self) -> Self:
        """Start the event loop for the block and run the lifespan startup."""
        with ExitStack() as stack:
            self._runner.portal = stack.enter_context(self._runner.start_portal())
            stack.callback(setattr, self._runner, "portal", None)
            self._runner.state = {}
            lifespan = Lifespan(self._runner)
            self._lifespan = lifespan if lifespan.startup() else None
            self._portal_stack = stack.pop_all()  # startup worked: keep the loop running
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        """Run the lifespan shutdown and stop the event loop."""
        lifespan, self._lifespan = self._lifespan, None
        with self._portal_stack:
            if lifespan is not None:
                lifespan.shutdown()

    def websocket_connect(
        self,
        path: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WebSocketTestSession:
        """A websocket session to ``path``; it connects when its with-block is entered."""
        handshake = httpx.Headers(WEBSOCKET_HANDSHAKE)
        if subprotocols:
            handshake["sec-websocket-protocol"] = ", ".join(subprotocols)
        handshake.update(headers or {})
        request = self.build_request("GET", path, headers=handshake)
        scope = connection_scope(request, self._runner)
        scope.update(
            type="websocket",
            scheme="wss" if request.url.scheme in ("https", "wss") else "ws",
            subprotocols=list(subprotocols or ()),
            extensions={"websocket.http.response": {}},
        )
        return WebSocketTestSession(self._runner, scope)
