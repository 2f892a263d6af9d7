"""An in-process test client that drives any ASGI 3 app through httpx.

This module owns: building ASGI scopes from httpx requests, running the app on an anyio event
loop in a background thread (a blocking portal), bridging messages between that loop and the
test's thread, checking the app's side of the HTTP, websocket and lifespan protocols, and turning
what the app sends back into httpx responses and websocket sessions.

It must not know microasgi's own requests, responses or routing: it speaks only the ASGI
vocabulary (``microasgi.types``, ``microasgi.exceptions``), so it can drive any ASGI app.
"""

import json
import math
import queue
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import wait
from contextlib import AbstractContextManager, ExitStack, suppress
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from types import TracebackType
from typing import Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import unquote

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from microasgi.exceptions import WebSocketDisconnect
from microasgi.types import ASGIApp, Message, RawHeaders, Scope

__all__ = ["TestClient", "WebSocketDenialResponse", "WebSocketTestSession"]

_T = TypeVar("_T")
# What httpx takes as cookies.
_Cookies = httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]
_WEBSOCKET_HANDSHAKE = {
    "connection": "upgrade",
    "upgrade": "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGVzdGNsaWVudCBrZXk=",
}

# What the app may send, per protocol: {state: {message type: next state}}; the first state is
# the initial one. A final body (more_body false) moves on to the last state in _on_sent.
_Rules = dict[str, dict[str, str]]
_HTTP_RULES: _Rules = {
    "response not started": {
        "http.response.start": "sending the body",
        "http.response.debug": "response not started",
    },
    "sending the body": {"http.response.body": "sending the body"},
    "response complete": {},
}
_WEBSOCKET_RULES: _Rules = {
    "handshake": {
        "websocket.accept": "connected",
        "websocket.close": "closed",
        "websocket.http.response.start": "sending the denial body",
    },
    "connected": {"websocket.send": "connected", "websocket.close": "closed"},
    "sending the denial body": {"websocket.http.response.body": "sending the denial body"},
    "closed": {},
}
_LIFESPAN_RULES: _Rules = {
    "starting": {"lifespan.startup.complete": "started", "lifespan.startup.failed": "stopped"},
    "started": {"lifespan.shutdown.complete": "stopped", "lifespan.shutdown.failed": "stopped"},
    "stopped": {},
}


@dataclass
class _AppRunner:
    """What every connection of one TestClient shares: the app, the options and the portal."""

    app: ASGIApp
    raise_server_exceptions: bool
    root_path: str
    timeout: float
    client: tuple[str, int] = ("testclient", 50000)
    backend: str = "asyncio"  # the anyio backend the app runs on, and its options
    backend_options: dict[str, Any] = field(default_factory=dict)
    portal: BlockingPortal | None = None  # set for the duration of `with TestClient(...)`
    state: dict[str, Any] = field(default_factory=dict)  # the lifespan's scope["state"]

    def enter_portal(self, stack: ExitStack) -> BlockingPortal:
        """The client's long-lived portal, or a fresh one that lives as long as ``stack``."""
        if self.portal is not None:
            return self.portal
        return stack.enter_context(self.start_portal())

    def start_portal(self) -> AbstractContextManager[BlockingPortal]:
        return start_blocking_portal(self.backend, self.backend_options)


class _AppCall:
    """One run of the app on the portal's event loop, bridged to the test's thread.

    What the app sends is checked against ``rules`` and queued for the test's thread, which reads
    it with a timeout. What the test puts reaches the app's ``receive`` through a memory stream.
    """

    rules: ClassVar[_Rules]

    def __init__(
        self, runner: _AppRunner, scope: Scope, inbox: Iterable[Message], timeout: float | None
    ) -> None:
        self.timeout = timeout
        self.protocol_error: RuntimeError | None = None
        self._raise_server_exceptions = runner.raise_server_exceptions
        self._state = next(iter(self.rules))
        self._client_gone = False
        self._disconnect: Message | None = None
        self._closed = False
        self._outbox: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self._inbox, self._app_inbox = anyio.create_memory_object_stream[Message](math.inf)
        for message in inbox:
            self._inbox.send_nowait(message)  # no receiver is waiting yet: safe off the loop
        self._stack = ExitStack()
        self._portal = runner.enter_portal(self._stack)
        self._future = self._portal.start_task_soon(self._run, runner.app, scope)

    # On the event loop.

    async def _run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            with self._inbox, self._app_inbox:
                await app(scope, self._receive, self._send)
        finally:
            self._outbox.put(None)  # tells the test's thread that the app has returned

    async def _receive(self) -> Message:
        if self._disconnect is None:
            message = await self._app_inbox.receive()
            if not str(message["type"]).endswith(".disconnect"):
                return message
            self._disconnect = message
        # After a disconnect every receive reports it again, as servers do.
        return dict(self._disconnect)

    async def _send(self, message: Message) -> None:
        allowed = self.rules[self._state]
        next_state = allowed.get(message.get("type", ""))
        if next_state is None:
            expected = " or ".join(map(repr, allowed)) or "no further message"
            self.protocol_error = RuntimeError(
                f"Expected {expected} ({self._state}), got {message.get('type')!r}."
            )
            raise self.protocol_error
        if self._client_gone:
            # ASGI 2.4: send() on a connection the client has left raises OSError.
            raise OSError("The client has disconnected.")
        self._state = next_state
        self._on_sent(message)
        self._outbox.put(message)

    def _on_sent(self, message: Message) -> None:
        """Hook run on the loop after each valid message from the app."""

    def _deliver(self, message: Message) -> None:
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._inbox.send_nowait(message)  # closed: the app has returned, nobody listens

    def _leave(self, message: Message) -> None:
        self._client_gone = True
        self._deliver(message)

    # On the test's thread.

    def get(self, timeout: float | None = None) -> Message | None:
        """The app's next message, or None once it has returned.

        Raises:
            TimeoutError: nothing arrived within ``timeout`` (default: the call's timeout).
        """
        seconds = self.timeout if timeout is None else timeout
        try:
            message = self._outbox.get(timeout=seconds)
        except queue.Empty:
            raise TimeoutError(
                f"The ASGI app sent no message within {seconds} s ({self._state}); "
                "pass a larger timeout if it is only slow."
            ) from None
        if message is None:
            self._outbox.put(None)  # keep the end marker for any later get
        return message

    def put(self, message: Message) -> None:
        """Queue ``message`` for the app's receive; dropped once the app has returned."""
        if not self._closed:
            self._portal.call(self._deliver, message)

    def leave(self, message: Message) -> None:
        """The client goes away: deliver its disconnect message, drop what the app sends next."""
        if not self._closed:
            self._portal.call(self._leave, message)

    def close(self, *, raise_errors: bool = True) -> BaseException | None:
        """Wait for the app to return (cancelling it after the timeout); release the portal.

        Raises:
            RuntimeError: the app broke the protocol (when ``raise_errors``).
            BaseException: the app's own exception, or TimeoutError if it had to be cancelled,
                when ``raise_errors`` and the client raises server exceptions.

        Returns:
            The app's exception when it was not raised, else None.
        """
        if self._closed:
            return None
        self._closed = True
        try:
            error = self._outcome()
        finally:
            self._stack.close()
        # Protocol errors are the test's concern whatever raise_server_exceptions says.
        worth_raising = error is self.protocol_error or self._raise_server_exceptions
        if raise_errors and worth_raising and error is not None:
            raise error
        return error

    def abort(self) -> None:
        """Cancel the app and release the portal, raising nothing: the caller is failing."""
        if not self._closed:
            self._future.cancel()
            self.close(raise_errors=False)

    def _outcome(self) -> BaseException | None:
        if not wait([self._future], self.timeout).done:
            self._future.cancel()
            return TimeoutError(
                f"The ASGI app did not return within {self.timeout} s ({self._state}); "
                "it was cancelled."
            )
        if self.protocol_error is not None:
            return self.protocol_error
        return None if self._future.cancelled() else self._future.exception()


class _HTTPCall(_AppCall):
    rules = _HTTP_RULES

    def __init__(
        self, runner: _AppRunner, scope: Scope, inbox: Iterable[Message], timeout: float | None
    ) -> None:
        # Taken before the app runs: the dict stays ours even if the app replaces the key.
        self._debug: dict[str, Any] = scope["extensions"]["http.response.debug"]
        super().__init__(runner, scope, inbox, timeout)

    def _on_sent(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._state = "response complete"
            # Once the response is sent, receive() reports the client as gone (ASGI spec).
            self._deliver({"type": "http.disconnect"})

    def response(self) -> httpx.Response:
        """Wait for http.response.start and return a response that streams the body.

        What the app reports for tests (a template response: ``template`` and ``context``)
        arrives as ``http.response.debug`` messages, or written into the scope's
        ``http.response.debug`` extension dict, which passes through middleware untouched.
        """
        debug = self._debug
        message = self.get()
        while message is not None and message["type"] == "http.response.debug":
            debug.update(message.get("info", {}))
            message = self.get()
        if message is None:
            if self.close() is None:
                raise RuntimeError("The ASGI app returned without sending 'http.response.start'.")
            return httpx.Response(500, text="Internal Server Error")
        response = httpx.Response(
            message["status"],
            headers=[(name, value) for name, value in message.get("headers", [])],
            stream=_ResponseBody(self),
            extensions={"http.response.debug": debug},
        )
        if "template" in debug:
            # What a template response rendered, for assertions (`response.template.name`).
            response.template = debug["template"]  # type: ignore[attr-defined]
            response.context = debug.get("context")  # type: ignore[attr-defined]
        return response


class _ResponseBody(httpx.SyncByteStream):
    """The body as the app streams it; closing it early disconnects the client."""

    def __init__(self, call: _HTTPCall) -> None:
        self._call = call

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from _read_body(self._call, "http.response.body")
        except Exception:
            self._call.abort()
            raise

    def close(self) -> None:
        self._call.leave({"type": "http.disconnect"})
        self._call.close()


def _read_body(call: _AppCall, message_type: str) -> Iterator[bytes]:
    """The body the app sends as ``message_type`` messages, up to the final one.

    Then waits for the app to return (background work included) and raises its error. An app
    that returns before the final message is an error; one that raised, when the client does not
    raise server exceptions, just ends the body there.
    """
    while (message := call.get()) is not None:
        if body := message.get("body", b""):
            yield bytes(body)
        if not message.get("more_body", False):
            call.close()
            return
    if call.close() is None:
        raise RuntimeError(
            f"The ASGI app returned before sending the final {message_type!r} (more_body=False)."
        )


class _ASGITransport(httpx.BaseTransport):
    """Answers each httpx request by running the app once."""

    def __init__(self, runner: _AppRunner) -> None:
        self._runner = runner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scope = _connection_scope(request, self._runner)
        scope.update(type="http", method=request.method, extensions={"http.response.debug": {}})
        read_timeout: float | None = request.extensions.get("timeout", {}).get("read")
        call = _HTTPCall(self._runner, scope, _request_messages(request), read_timeout)
        try:
            return call.response()
        except BaseException:
            call.abort()
            raise


def _connection_scope(request: httpx.Request, runner: _AppRunner) -> Scope:
    """The scope keys HTTP and websocket connections share, shaped as uvicorn builds them."""
    url = request.url
    raw_path, _, query_string = url.raw_path.partition(b"?")
    # ASGI wants the path percent-decoded as UTF-8; bytes that are not UTF-8 become U+FFFD, as
    # in uvicorn, so a malformed path reaches the app instead of crashing the client.
    path = unquote(raw_path.decode("latin-1"), errors="replace")
    default_port = 443 if url.scheme in ("https", "wss") else 80
    return {
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": url.scheme,
        "server": (url.host, url.port or default_port),
        "client": runner.client,
        "root_path": runner.root_path,
        "path": runner.root_path + path,
        "raw_path": runner.root_path.encode() + raw_path,
        "query_string": query_string,
        "headers": [(name.lower(), value) for name, value in request.headers.raw],
        "state": dict(runner.state),
    }


def _request_messages(request: httpx.Request) -> list[Message]:
    """The request body as http.request messages, one per chunk httpx gives."""
    if not isinstance(request.stream, httpx.SyncByteStream):  # pragma: no cover
        # httpx.Client refuses async bodies before it calls the transport.
        raise TypeError("TestClient needs a synchronous request body.")
    chunks = [bytes(chunk) for chunk in request.stream] or [b""]
    last = len(chunks) - 1
    return [
        {"type": "http.request", "body": chunk, "more_body": index < last}
        for index, chunk in enumerate(chunks)
    ]


# Both bases define __setstate__ for pickling, which a test never needs.
class WebSocketDenialResponse(httpx.Response, Exception):  # type: ignore[misc]
    """The HTTP response an app sent instead of accepting a websocket (403 for a plain close)."""

    def __str__(self) -> str:
        return f"The ASGI app denied the websocket connection with HTTP {self.status_code}."


class _WebSocketCall(_AppCall):
    rules = _WEBSOCKET_RULES

    def _on_sent(self, message: Message) -> None:
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            self._state = "closed"
        if self._state == "closed":
            # After the app closes, its receive() reports the disconnect (ASGI spec).
            code = message.get("code", 1000)
            self._deliver({"type": "websocket.disconnect", "code": code, "reason": ""})


class WebSocketTestSession:
    """A websocket connection to the app, opened by entering the with-block.

    Attributes:
        accepted_subprotocol: the subprotocol the app chose in ``websocket.accept``.
        extra_headers: the headers the app sent with ``websocket.accept``.
    """

    def __init__(self, runner: _AppRunner, scope: Scope) -> None:
        self._runner = runner
        self._scope = scope
        self._call: _WebSocketCall | None = None
        self._open = False  # accepted, and neither side has closed yet
        self.accepted_subprotocol: str | None = None
        self.extra_headers: RawHeaders = []

    def __enter__(self) -> Self:
        """Connect: send websocket.connect and wait for the app's answer.

        Raises:
            WebSocketDenialResponse: the app closed before accepting, or sent a denial response.
        """
        call = _WebSocketCall(
            self._runner, self._scope, [{"type": "websocket.connect"}], self._runner.timeout
        )
        self._call = call
        try:
            self._handshake(call)
        except BaseException:
            call.abort()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Disconnect (code 1000) if still open, wait for the app and raise its error."""
        if self._open:
            self.close()
        # Leaving through an exception: keep it, rather than the app's.
        self._require_call().close(raise_errors=exc_type is None)

    def _handshake(self, call: _WebSocketCall) -> None:
        message = call.get()
        if message is None:
            if call.close() is None:
                raise RuntimeError(
                    "The ASGI app returned without sending 'websocket.accept' or 'websocket.close'."
                )
            raise WebSocketDenialResponse(500, text="Internal Server Error")
        if message["type"] == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.extra_headers = list(message.get("headers", []))
            self._open = True
        elif message["type"] == "websocket.close":
            call.close()
            raise WebSocketDenialResponse(403)  # what uvicorn answers to a close before accept
        else:
            body = b"".join(_read_body(call, "websocket.http.response.body"))
            raise WebSocketDenialResponse(
                message["status"], headers=list(message.get("headers", [])), content=body
            )

    def _require_call(self) -> _WebSocketCall:
        if self._call is None:
            raise RuntimeError(
                "The websocket is not connected: use `with client.websocket_connect(path) as ws:`."
            )
        return self._call

    def send(self, message: Message) -> None:
        """Send a raw ASGI message to the app's receive."""
        self._require_call().put(message)

    def send_text(self, data: str) -> None:
        self.send({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        self.send({"type": "websocket.receive", "bytes": data})

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send ``data`` as compact JSON in a text (``mode="text"``) or binary message."""
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if _check_mode(mode) == "text":
            self.send_text(text)
        else:
            self.send_bytes(text.encode())

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Disconnect from the app: its next receive gets websocket.disconnect."""
        self._open = False
        self._require_call().leave(
            {"type": "websocket.disconnect", "code": code, "reason": reason or ""}
        )

    def receive(self, timeout: float | None = None) -> Message:
        """The app's next message.

        Raises:
            WebSocketDisconnect: the app closed the websocket, or returned without closing it.
            TimeoutError: nothing arrived within ``timeout`` (default: the client's timeout).
        """
        call = self._require_call()
        message = call.get(timeout)
        if message is None:
            self._open = False
            error = call.close()  # raises the app's error when the client raises them
            raise WebSocketDisconnect(1000 if error is None else 1011)
        if message["type"] == "websocket.close":
            self._open = False
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        return message

    def receive_text(self, timeout: float | None = None) -> str:
        return _payload(self.receive(timeout), "text", str)

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        return _payload(self.receive(timeout), "bytes", bytes)

    def receive_json(
        self, mode: Literal["text", "binary"] = "text", timeout: float | None = None
    ) -> Any:
        """Receive a text (``mode="text"``) or binary message and decode it as JSON."""
        if _check_mode(mode) == "text":
            return json.loads(self.receive_text(timeout))
        return json.loads(self.receive_bytes(timeout))


def _payload(message: Message, key: str, kind: type[_T]) -> _T:
    """The ``text`` or ``bytes`` of a websocket.send message, checked to be there."""
    value = message.get(key)
    if not isinstance(value, kind):
        raise TypeError(f"Expected a {key} message from the app, got {message!r}.")
    return value


def _check_mode(mode: str) -> str:
    if mode not in ("text", "binary"):
        raise ValueError(f"mode must be 'text' or 'binary', got {mode!r}.")
    return mode


class _Lifespan(_AppCall):
    """The app's lifespan protocol, run around a ``with TestClient(app):`` block."""

    rules = _LIFESPAN_RULES

    def __init__(self, runner: _AppRunner) -> None:
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
    ) -> None:
        self.app = app
        self._runner = _AppRunner(
            app,
            raise_server_exceptions,
            root_path,
            timeout,
            client,
            backend,
            dict(backend_options or {}),
        )
        self._lifespan: _Lifespan | None = None
        self._portal_stack = ExitStack()
        all_headers = httpx.Headers({"user-agent": "testclient"})
        all_headers.update(headers or {})  # case-insensitive: a given User-Agent replaces ours
        super().__init__(
            base_url=base_url,
            transport=_ASGITransport(self._runner),
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
            lifespan = _Lifespan(self._runner)
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
        handshake = httpx.Headers(_WEBSOCKET_HANDSHAKE)
        if subprotocols:
            handshake["sec-websocket-protocol"] = ", ".join(subprotocols)
        handshake.update(headers or {})
        request = self.build_request("GET", path, headers=handshake)
        scope = _connection_scope(request, self._runner)
        scope.update(
            type="websocket",
            scheme="wss" if request.url.scheme in ("https", "wss") else "ws",
            subprotocols=list(subprotocols or ()),
            extensions={"websocket.http.response": {}},
        )
        return WebSocketTestSession(self._runner, scope)
