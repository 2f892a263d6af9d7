"""Running an ASGI app for the test client: one connection at a time, bridged to the test's thread.

An :class:`AppCall` runs the app once on the client's event loop (a blocking portal), feeds its
``receive`` from the test's thread, checks what it sends against the ASGI protocol
(``microasgi.protocol``, unless the client's ``check_protocol`` is off) and queues it for the
test's thread. :class:`HTTPCall` and :class:`ASGITransport` turn that into httpx responses; the
websocket session and the lifespan build on :class:`AppCall` in their own modules.
"""

import math
import queue
from collections.abc import Iterable, Iterator
from concurrent.futures import wait
from contextlib import AbstractContextManager, ExitStack, suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote

import anyio
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from microasgi.protocol import HTTP, Protocol, ProtocolGuard, ProtocolViolation
from microasgi.types import ASGIApp, Message, Scope


@dataclass
class AppRunner:
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
    check_protocol: bool = True  # refuse what breaks the ASGI protocol (microasgi.protocol)

    def enter_portal(self, stack: ExitStack) -> BlockingPortal:
        """The client's long-lived portal, or a fresh one that lives as long as ``stack``."""
        if self.portal is not None:
            return self.portal
        return stack.enter_context(self.start_portal())

    def start_portal(self) -> AbstractContextManager[BlockingPortal]:
        return start_blocking_portal(self.backend, self.backend_options)


class AppCall:
    """One run of the app on the portal's event loop, bridged to the test's thread.

    What the app sends is checked against ``protocol`` (a ProtocolGuard; when the client's
    ``check_protocol`` is off it only follows the state) and queued for the test's thread, which
    reads it with a timeout. What the test puts reaches the app's ``receive`` through a memory
    stream.
    """

    protocol: ClassVar[Protocol]

    def __init__(
        self, runner: AppRunner, scope: Scope, inbox: Iterable[Message], timeout: float | None
    ) -> None:
        self.timeout = timeout
        self.protocol_error: RuntimeError | None = None
        self._raise_server_exceptions = runner.raise_server_exceptions
        self.guard = ProtocolGuard(self.protocol)
        self._check = runner.check_protocol
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
        if not self._check:
            self.guard.advance(message)  # follow the state where the message fits
        else:
            try:
                self.guard.check(message)
            except ProtocolViolation as exc:
                self.protocol_error = exc
                raise
        if self._client_gone:
            # ASGI 2.4: send() on a connection the client has left raises OSError.
            raise OSError("The client has disconnected.")
        self._on_sent(message)
        self._outbox.put(message)

    def _on_sent(self, message: Message) -> None:
        """Hook run on the loop after each message from the app (``guard.state`` is after it)."""

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
                f"The ASGI app sent no message within {seconds} s ({self.guard.state}); "
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
                f"The ASGI app did not return within {self.timeout} s ({self.guard.state}); "
                "it was cancelled."
            )
        if self.protocol_error is not None:
            return self.protocol_error
        return None if self._future.cancelled() else self._future.exception()


class HTTPCall(AppCall):
    protocol = HTTP

    def __init__(
        self, runner: AppRunner, scope: Scope, inbox: Iterable[Message], timeout: float | None
    ) -> None:
        # Taken before the app runs: the dict stays ours even if the app replaces the key.
        self._debug: dict[str, Any] = scope["extensions"]["http.response.debug"]
        super().__init__(runner, scope, inbox, timeout)

    def _on_sent(self, message: Message) -> None:
        if self.guard.state == "response complete":
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
            stream=ResponseBody(self),
            extensions={"http.response.debug": debug},
        )
        if "template" in debug:
            # What a template response rendered, for assertions (`response.template.name`).
            response.template = debug["template"]  # type: ignore[attr-defined]
            response.context = debug.get("context")  # type: ignore[attr-defined]
        return response


class ResponseBody(httpx.SyncByteStream):
    """The body as the app streams it; closing it early disconnects the client."""

    def __init__(self, call: HTTPCall) -> None:
        self._call = call

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from read_body(self._call, "http.response.body")
        except Exception:
            self._call.abort()
            raise

    def close(self) -> None:
        self._call.leave({"type": "http.disconnect"})
        self._call.close()


def read_body(call: AppCall, message_type: str) -> Iterator[bytes]:
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


class ASGITransport(httpx.BaseTransport):
    """Answers each httpx request by running the app once."""

    def __init__(self, runner: AppRunner) -> None:
        self._runner = runner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scope = connection_scope(request, self._runner)
        scope.update(type="http", method=request.method, extensions={"http.response.debug": {}})
        read_timeout: float | None = request.extensions.get("timeout", {}).get("read")
        call = HTTPCall(self._runner, scope, request_messages(request), read_timeout)
        try:
            return call.response()
        except BaseException:
            call.abort()
            raise


def connection_scope(request: httpx.Request, runner: AppRunner) -> Scope:
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


def request_messages(request: httpx.Request) -> list[Message]:
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
