"""The test client's websocket session: connect, send, receive and close, as a browser would."""

import json
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx

from microasgi.exceptions import WebSocketDisconnect
from microasgi.protocol import WEBSOCKET
from microasgi.testclient._calls import AppCall, AppRunner, read_body
from microasgi.types import Message, RawHeaders, Scope

_T = TypeVar("_T")
# The headers a browser's websocket handshake carries.
WEBSOCKET_HANDSHAKE = {
    "connection": "upgrade",
    "upgrade": "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGVzdGNsaWVudCBrZXk=",
}


# Both bases define __setstate__ for pickling, which a test never needs.
class WebSocketDenialResponse(httpx.Response, Exception):  # type: ignore[misc]
    """The HTTP response an app sent instead of accepting a websocket (403 for a plain close)."""

    def __str__(self) -> str:
        return f"The ASGI app denied the websocket connection with HTTP {self.status_code}."


class WebSocketCall(AppCall):
    protocol = WEBSOCKET

    def _on_sent(self, message: Message) -> None:
        if self.guard.state == "closed":
            # After the app closes, its receive() reports the disconnect (ASGI spec).
            code = message.get("code", 1000)
            self._deliver({"type": "websocket.disconnect", "code": code, "reason": ""})


class WebSocketTestSession:
    """A websocket connection to the app, opened by entering the with-block.

    Attributes:
        accepted_subprotocol: the subprotocol the app chose in ``websocket.accept``.
        extra_headers: the headers the app sent with ``websocket.accept``.
    """

    def __init__(self, runner: AppRunner, scope: Scope) -> None:
        self._runner = runner
        self._scope = scope
        self._call: WebSocketCall | None = None
        self._open = False  # accepted, and neither side has closed yet
        self.accepted_subprotocol: str | None = None
        self.extra_headers: RawHeaders = []

    def __enter__(self) -> Self:
        """Connect: send websocket.connect and wait for the app's answer.

        Raises:
            WebSocketDenialResponse: the app closed before accepting, or sent a denial response.
        """
        call = WebSocketCall(
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

    def _handshake(self, call: WebSocketCall) -> None:
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
            body = b"".join(read_body(call, "websocket.http.response.body"))
            raise WebSocketDenialResponse(
                message["status"], headers=list(message.get("headers", [])), content=body
            )

    def _require_call(self) -> WebSocketCall:
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
