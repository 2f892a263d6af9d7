"""WebSocket, WebSocketEndpoint and serve_websocket.

Protocol-level tests drive a WebSocket with a scripted receive and a recorded send
(``Harness``); behaviour users see end to end goes through App and TestClient.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest

from microasgi import (
    App,
    HTTPException,
    PlainTextResponse,
    StreamingResponse,
    WebSocket,
    WebSocketDisconnect,
    WebSocketEndpoint,
    WebSocketException,
    WebSocketState,
)
from microasgi.background import BackgroundTask
from microasgi.requests import MAX_MESSAGE_SIZE_KEY
from microasgi.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession
from microasgi.types import Message, Scope
from microasgi.websockets import serve_websocket

CONNECT: Message = {"type": "websocket.connect"}
DENIAL: dict[str, Any] = {"websocket.http.response": {}}


def text(data: str) -> Message:
    return {"type": "websocket.receive", "text": data}


def binary(data: bytes) -> Message:
    return {"type": "websocket.receive", "bytes": data}


def disconnect(code: int = 1001) -> Message:
    return {"type": "websocket.disconnect", "code": code}


Endpoint = Callable[[WebSocket], Awaitable[Any]]


class Harness:
    """A scripted server: ``inbox`` feeds receive, ``sent`` records what the app sends."""

    def __init__(
        self,
        *inbox: Message,
        extensions: dict[str, Any] | None = None,
        limit: int | None = None,
        **scope: Any,
    ) -> None:
        self.inbox = list(inbox)
        self.sent: list[Message] = []
        self.send_error: OSError | None = None
        self.scope: Scope = {
            "type": "websocket",
            "path": "/ws",
            "headers": [],
            "subprotocols": [],
            "extensions": extensions if extensions is not None else {},
            **scope,
        }
        if limit is not None:
            self.scope[MAX_MESSAGE_SIZE_KEY] = limit
        self.websocket = WebSocket(self.scope, self.receive, self.send)

    async def receive(self) -> Message:
        if not self.inbox:
            raise AssertionError("The app received more messages than the test scripted.")
        return self.inbox.pop(0)

    async def send(self, message: Message) -> None:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append(message)

    def run(self, endpoint: Endpoint) -> None:
        """Serve ``endpoint`` as the router does, through serve_websocket."""

        async def main() -> None:
            await serve_websocket(self.websocket, endpoint(self.websocket))

        anyio.run(main)

    def call(self, endpoint: Endpoint) -> None:
        """Run ``endpoint`` bare, without serve_websocket's closing rules."""

        async def main() -> None:
            await endpoint(self.websocket)

        anyio.run(main)

    def types(self) -> list[str]:
        return [message["type"] for message in self.sent]


def close_message(code: int = 1000, reason: str = "") -> Message:
    return {"type": "websocket.close", "code": code, "reason": reason}


# -- states and the handshake --------------------------------------------------------------


def test_new_websocket_is_connecting_on_both_sides() -> None:
    harness = Harness()
    assert harness.websocket.client_state is WebSocketState.CONNECTING
    assert harness.websocket.application_state is WebSocketState.CONNECTING


def test_websocket_rejects_an_http_scope() -> None:
    async def receive() -> Message:
        raise AssertionError

    async def send(message: Message) -> None:
        raise AssertionError

    with pytest.raises(ValueError, match="'websocket' scope, got 'http'"):
        WebSocket({"type": "http"}, receive, send)


def test_accept_consumes_the_connect_message() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()

    harness.call(endpoint)
    assert harness.sent == [{"type": "websocket.accept", "subprotocol": None}]
    assert harness.websocket.client_state is WebSocketState.CONNECTED
    assert harness.websocket.application_state is WebSocketState.CONNECTED


def test_receive_returns_the_connect_message_and_accept_does_not_read_again() -> None:
    harness = Harness(CONNECT)
    received: list[Message] = []

    async def endpoint(websocket: WebSocket) -> None:
        received.append(await websocket.receive())
        await websocket.accept()

    harness.call(endpoint)
    assert received == [CONNECT]
    assert harness.types() == ["websocket.accept"]


def test_accept_raises_disconnect_when_the_client_left_during_the_handshake() -> None:
    harness = Harness(disconnect(1006))

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()

    with pytest.raises(WebSocketDisconnect) as info:
        harness.call(endpoint)
    assert info.value.code == 1006
    assert harness.sent == []
    assert harness.websocket.client_state is WebSocketState.DISCONNECTED


def test_client_gone_before_accept_gets_no_close() -> None:
    harness = Harness(disconnect(1006))

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()

    harness.run(endpoint)
    assert harness.sent == []
    assert harness.websocket.application_state is WebSocketState.DISCONNECTED


def test_accept_sends_the_chosen_subprotocol() -> None:
    harness = Harness(CONNECT, subprotocols=["chat.v1", "chat.v2"])

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="chat.v2")

    harness.call(endpoint)
    assert harness.sent[0]["subprotocol"] == "chat.v2"


def test_accept_refuses_a_subprotocol_the_client_did_not_offer() -> None:
    harness = Harness(CONNECT, subprotocols=["chat.v1"])

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="chat.v9")

    with pytest.raises(ValueError, match=r"'chat.v9' was not offered.*\['chat.v1'\]"):
        harness.call(endpoint)
    assert harness.sent == []


def test_accept_encodes_header_mapping() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept(headers={"X-Token": "abc"})

    harness.call(endpoint)
    assert harness.sent[0]["headers"] == [(b"x-token", b"abc")]


def test_accept_passes_raw_header_pairs_lowercased() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept(headers=[(b"X-Token", b"abc")])

    harness.call(endpoint)
    assert harness.sent[0]["headers"] == [(b"x-token", b"abc")]


@pytest.mark.parametrize(
    "headers",
    [{"x-token": "a\r\nset-cookie: evil=1"}, [(b"x-token", b"a\r\nset-cookie: evil=1")]],
)
def test_accept_rejects_header_injection(headers: Any) -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept(headers=headers)

    with pytest.raises(ValueError, match="CR, LF or NUL"):
        harness.call(endpoint)
    assert harness.sent == []


# -- misuse ---------------------------------------------------------------------------------


def test_send_before_accept_is_a_clear_error() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_text("too early")

    with pytest.raises(RuntimeError) as info:
        harness.call(endpoint)
    message = str(info.value)
    assert "CONNECTING" in message
    assert "got 'websocket.send'; call accept() first." in message
    assert "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'" in message


def test_send_bytes_before_accept_is_a_clear_error() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_bytes(b"too early")

    with pytest.raises(RuntimeError, match=r"call accept\(\) first"):
        harness.call(endpoint)


def test_raw_send_after_accept_passes_through() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send({"type": "websocket.send", "text": "raw"})

    harness.call(endpoint)
    assert harness.sent[-1] == {"type": "websocket.send", "text": "raw"}
    assert harness.websocket.application_state is WebSocketState.CONNECTED


def test_accept_twice_is_a_clear_error() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.accept()

    with pytest.raises(RuntimeError, match=r"CONNECTED.*accept\(\) was already called"):
        harness.call(endpoint)
    assert harness.types() == ["websocket.accept"]


def test_send_after_close_is_a_clear_error() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()
        await websocket.send_text("late")

    with pytest.raises(RuntimeError, match=r"DISCONNECTED: expected nothing.*websocket is closed"):
        harness.call(endpoint)


def test_close_twice_is_a_clear_error() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()
        await websocket.close()

    with pytest.raises(RuntimeError, match=r"got 'websocket.close'"):
        harness.call(endpoint)


def test_receive_after_disconnect_is_a_clear_error() -> None:
    harness = Harness(CONNECT, disconnect())

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(WebSocketDisconnect):
            await websocket.receive_text()
        await websocket.receive_text()

    with pytest.raises(RuntimeError, match=r"client already disconnected.*WebSocketDisconnect"):
        harness.call(endpoint)


def test_receive_text_before_accept_is_a_clear_error() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.receive_text()

    with pytest.raises(
        RuntimeError, match=r"CONNECTING: expected CONNECTED; call accept\(\) first"
    ):
        harness.call(endpoint)


def test_receive_bytes_before_accept_is_a_clear_error() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.receive_bytes()

    with pytest.raises(RuntimeError, match=r"call accept\(\) first"):
        harness.call(endpoint)


def test_receive_text_after_the_app_closed_is_a_clear_error() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()
        await websocket.receive_text()

    with pytest.raises(RuntimeError, match="the app closed the websocket"):
        harness.call(endpoint)


def test_a_message_out_of_protocol_order_from_the_server_is_reported() -> None:
    harness = Harness(text("before connect"))

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.receive()

    with pytest.raises(RuntimeError, match=r"Unexpected 'websocket.receive'.*'websocket.connect'"):
        harness.call(endpoint)


def test_response_body_before_response_start_is_a_clear_error() -> None:
    harness = Harness(extensions=DENIAL)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send({"type": "websocket.http.response.body", "body": b""})

    with pytest.raises(RuntimeError, match=r"send 'websocket.http.response.start' first"):
        harness.call(endpoint)


def test_raw_response_start_needs_the_server_extension() -> None:
    harness = Harness()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send({"type": "websocket.http.response.start", "status": 403})

    with pytest.raises(RuntimeError, match=r"does not offer the 'websocket.http.response'"):
        harness.call(endpoint)
    assert harness.sent == []


def test_denial_after_accept_is_a_clear_error() -> None:
    harness = Harness(CONNECT, extensions=DENIAL)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_denial_response(PlainTextResponse("no", status_code=403))

    with pytest.raises(RuntimeError, match="only possible before accept"):
        harness.call(endpoint)


def test_only_the_body_may_follow_a_started_denial_response() -> None:
    harness = Harness(extensions=DENIAL)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send({"type": "websocket.http.response.start", "status": 403})
        await websocket.close()

    with pytest.raises(RuntimeError, match=r"RESPONSE.*only its body may follow"):
        harness.call(endpoint)


# -- denial ---------------------------------------------------------------------------------


def test_close_before_accept_sends_a_close() -> None:
    harness = Harness()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.close(code=1008, reason="go away")

    harness.run(endpoint)
    assert harness.sent == [close_message(1008, "go away")]
    assert harness.websocket.application_state is WebSocketState.DISCONNECTED


def test_denial_response_uses_the_http_response_extension() -> None:
    harness = Harness(extensions=DENIAL)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("banned", status_code=403))

    harness.run(endpoint)
    start, body = harness.sent
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 403
    assert (b"content-length", b"6") in start["headers"]
    assert body == {"type": "websocket.http.response.body", "body": b"banned"}
    assert harness.websocket.application_state is WebSocketState.DISCONNECTED


def test_denial_response_falls_back_to_close_without_the_extension() -> None:
    harness = Harness()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("banned", status_code=403))

    harness.run(endpoint)
    assert harness.sent == [close_message(1008)]


def test_denial_response_streams_an_async_iterable() -> None:
    harness = Harness(extensions=DENIAL)

    async def chunks() -> AsyncIterator[str]:
        yield "ab"
        yield "cd"

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_denial_response(StreamingResponse(chunks(), status_code=401))

    harness.run(endpoint)
    assert [message.get("body") for message in harness.sent[1:]] == [b"ab", b"cd", b""]
    assert [message.get("more_body", False) for message in harness.sent[1:]] == [
        True,
        True,
        False,
    ]


def test_denial_response_streams_a_sync_iterable() -> None:
    harness = Harness(extensions=DENIAL)

    def chunks() -> Iterator[bytes]:
        yield b"x"

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_denial_response(StreamingResponse(chunks(), status_code=401))

    harness.run(endpoint)
    assert [message.get("body") for message in harness.sent[1:]] == [b"x", b""]


def test_denial_response_runs_its_background_task() -> None:
    harness = Harness(extensions=DENIAL)
    ran: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        task = BackgroundTask(ran.append, "done")
        await websocket.send_denial_response(PlainTextResponse("no", 403, background=task))

    harness.run(endpoint)
    assert ran == ["done"]


# -- receiving ------------------------------------------------------------------------------


def test_receive_text_bytes_and_json() -> None:
    harness = Harness(CONNECT, text("hi"), binary(b"\x00"), text('{"a":1}'), binary(b"[1]"))
    got: list[Any] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        got.append(await websocket.receive_text())
        got.append(await websocket.receive_bytes())
        got.append(await websocket.receive_json())
        got.append(await websocket.receive_json(mode="binary"))
        await websocket.close()

    harness.run(endpoint)
    assert got == ["hi", b"\x00", {"a": 1}, [1]]


def test_receive_text_raises_disconnect_with_the_client_code() -> None:
    harness = Harness(CONNECT, {"type": "websocket.disconnect", "code": 4001, "reason": "bye"})

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(WebSocketDisconnect) as info:
            await websocket.receive_text()
        assert (info.value.code, info.value.reason) == (4001, "bye")

    harness.run(endpoint)
    assert harness.websocket.client_state is WebSocketState.DISCONNECTED
    assert harness.types() == ["websocket.accept"]  # nobody left to send a close to


def test_raw_receive_returns_the_disconnect_message() -> None:
    harness = Harness(CONNECT, disconnect(1001))
    received: list[Message] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        received.append(await websocket.receive())

    harness.run(endpoint)
    assert received == [disconnect(1001)]


def test_receive_text_on_a_bytes_message_closes_with_1003() -> None:
    harness = Harness(CONNECT, binary(b"x"))

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    harness.run(endpoint)
    assert harness.sent[-1] == close_message(1003, "Expected a text message, got bytes.")


def test_receive_bytes_on_a_text_message_closes_with_1003() -> None:
    harness = Harness(CONNECT, text("x"))

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_bytes()

    harness.run(endpoint)
    assert harness.sent[-1] == close_message(1003, "Expected a bytes message, got text.")


def test_receive_json_on_invalid_json_closes_with_1007_and_stops_the_endpoint() -> None:
    harness = Harness(CONNECT, text("{not json"))
    after: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_json()
        after.append("reached")

    harness.run(endpoint)
    assert after == []
    assert harness.types() == ["websocket.accept", "websocket.close"]
    assert harness.sent[-1]["code"] == 1007
    assert harness.sent[-1]["reason"].startswith("Invalid JSON")


def test_receive_json_raises_disconnect_1007_to_the_endpoint() -> None:
    harness = Harness(CONNECT, binary(b"\xff\xfe"))

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(WebSocketDisconnect) as info:
            await websocket.receive_json(mode="binary")
        assert info.value.code == 1007

    harness.run(endpoint)
    assert harness.sent[-1]["code"] == 1007


def test_disconnect_without_a_code_reports_1005() -> None:
    harness = Harness(CONNECT, {"type": "websocket.disconnect"})

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(WebSocketDisconnect) as info:
            await websocket.receive_text()
        assert info.value.code == 1005

    harness.run(endpoint)


def test_receive_json_rejects_an_unknown_mode() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_json(mode="xml")  # type: ignore[arg-type]

    with pytest.raises(ValueError, match='"text" or "binary"'):
        harness.run(endpoint)


def test_iterators_end_cleanly_when_the_client_leaves() -> None:
    harness = Harness(CONNECT, text("a"), text("b"), disconnect())
    got: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        async for message in websocket.iter_text():
            got.append(message)

    harness.run(endpoint)
    assert got == ["a", "b"]
    assert harness.types() == ["websocket.accept"]


def test_iter_bytes_ends_cleanly_when_the_client_leaves() -> None:
    harness = Harness(CONNECT, binary(b"a"), disconnect())
    got: list[bytes] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        got.extend([message async for message in websocket.iter_bytes()])

    harness.run(endpoint)
    assert got == [b"a"]


def test_iter_json_ends_cleanly_on_invalid_json_after_closing_with_1007() -> None:
    harness = Harness(CONNECT, text("[1]"), text("nope"))
    got: list[Any] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        got.extend([message async for message in websocket.iter_json()])

    harness.run(endpoint)
    assert got == [[1]]
    assert harness.sent[-1]["code"] == 1007


# -- message size ---------------------------------------------------------------------------


def test_text_over_the_size_limit_closes_with_1009_before_the_endpoint_sees_it() -> None:
    harness = Harness(CONNECT, text("x" * 11), limit=10)
    got: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        got.append(await websocket.receive_text())

    harness.run(endpoint)
    assert got == []
    assert harness.sent[-1] == close_message(1009, "Message too big: the limit is 10 bytes.")


def test_bytes_over_the_size_limit_raise_disconnect_1009() -> None:
    harness = Harness(CONNECT, binary(b"x" * 11), limit=10)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(WebSocketDisconnect) as info:
            await websocket.receive_bytes()
        assert info.value.code == 1009

    harness.run(endpoint)


def test_size_limit_counts_utf8_bytes_not_characters() -> None:
    # Four characters, twelve UTF-8 bytes: under the limit by length, over it in bytes.
    harness = Harness(CONNECT, text("€€€€"), limit=10)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    harness.run(endpoint)
    assert harness.sent[-1]["code"] == 1009


@pytest.mark.parametrize(
    ("message", "limit"),
    [(text("x" * 10), 10), (text("€€€"), 10), (text("é"), 10), (binary(b"x" * 10), 10)],
)
def test_messages_within_the_size_limit_pass(message: Message, limit: int) -> None:
    harness = Harness(CONNECT, message, limit=limit)
    got: list[Message] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        got.append(await websocket.receive())
        await websocket.close()

    harness.run(endpoint)
    assert got == [message]


def test_none_size_limit_means_unlimited() -> None:
    harness = Harness(CONNECT, binary(b"x" * 100_000), **{MAX_MESSAGE_SIZE_KEY: None})
    got: list[bytes] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        got.append(await websocket.receive_bytes())

    harness.run(endpoint)
    assert len(got[0]) == 100_000


# -- sending --------------------------------------------------------------------------------


def test_send_text_bytes_and_json() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.send_bytes(b"\x01")
        await websocket.send_json({"a": "é", "b": [1, 2]})
        await websocket.send_json([1], mode="binary")

    harness.run(endpoint)
    assert harness.sent[1:5] == [
        {"type": "websocket.send", "text": "hi"},
        {"type": "websocket.send", "bytes": b"\x01"},
        {"type": "websocket.send", "text": '{"a":"é","b":[1,2]}'},
        {"type": "websocket.send", "bytes": b"[1]"},
    ]


def test_send_json_rejects_an_unknown_mode() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({}, mode="xml")  # type: ignore[arg-type]

    with pytest.raises(ValueError, match='"text" or "binary"'):
        harness.run(endpoint)


def test_oversized_message_after_the_app_closed_raises_without_a_second_close() -> None:
    harness = Harness(CONNECT, binary(b"x" * 11), limit=10)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()
        with pytest.raises(WebSocketDisconnect) as info:
            await websocket.receive()
        assert info.value.code == 1009

    harness.run(endpoint)
    assert harness.types() == ["websocket.accept", "websocket.close"]


def test_close_after_the_client_left_only_moves_the_state() -> None:
    harness = Harness(CONNECT, disconnect())

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(WebSocketDisconnect):
            await websocket.receive_text()
        await websocket.close()

    harness.run(endpoint)
    assert harness.types() == ["websocket.accept"]
    assert harness.websocket.application_state is WebSocketState.DISCONNECTED


# -- serve_websocket ------------------------------------------------------------------------


def test_return_without_close_closes_with_1000() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()

    harness.run(endpoint)
    assert harness.sent[-1] == close_message(1000)


def test_return_without_accept_closes_so_the_server_answers_403() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        return None

    harness.run(endpoint)
    assert harness.sent == [close_message(1000)]


def test_websocket_exception_after_accept_closes_with_its_code() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketException(4003, "forbidden topic")

    harness.run(endpoint)
    assert harness.sent[-1] == close_message(4003, "forbidden topic")


def test_websocket_exception_before_accept_closes_with_its_code() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        raise WebSocketException(1008)

    harness.run(endpoint)
    assert harness.sent == [close_message(1008)]


def test_websocket_exception_after_close_sends_nothing_more() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(4000)
        raise WebSocketException(4001)

    harness.run(endpoint)
    assert harness.sent[-1] == close_message(4000)
    assert harness.types().count("websocket.close") == 1


def test_http_exception_before_accept_becomes_a_denial_with_its_status() -> None:
    harness = Harness(CONNECT, extensions=DENIAL)

    async def endpoint(websocket: WebSocket) -> None:
        raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})

    harness.run(endpoint)
    start, body = harness.sent
    assert start["status"] == 401
    assert (b"www-authenticate", b"Bearer") in start["headers"]
    assert body["body"] == b"log in first"


def test_http_exception_before_accept_without_the_extension_closes() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        raise HTTPException(401)

    harness.run(endpoint)
    assert harness.sent == [close_message(1008)]


def test_http_exception_after_accept_closes_with_1011_and_propagates() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise HTTPException(400)

    with pytest.raises(HTTPException):
        harness.run(endpoint)
    assert harness.sent[-1] == close_message(1011)


def test_error_after_accept_closes_with_1011_then_propagates() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        harness.run(endpoint)
    assert harness.sent[-1] == close_message(1011)


def test_error_before_accept_becomes_a_500_denial_then_propagates() -> None:
    harness = Harness(CONNECT, extensions=DENIAL)

    async def endpoint(websocket: WebSocket) -> None:
        raise LookupError("boom")

    with pytest.raises(LookupError):
        harness.run(endpoint)
    assert harness.sent[0]["status"] == 500
    assert harness.sent[1]["body"] == b"Internal Server Error"


def test_error_before_accept_without_the_extension_closes_then_propagates() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        raise LookupError("boom")

    with pytest.raises(LookupError):
        harness.run(endpoint)
    assert harness.types() == ["websocket.close"]


def test_error_after_close_sends_no_second_close() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()
        raise LookupError("boom")

    with pytest.raises(LookupError):
        harness.run(endpoint)
    assert harness.types() == ["websocket.accept", "websocket.close"]


def test_disconnect_escaping_the_endpoint_ends_quietly() -> None:
    harness = Harness(CONNECT, disconnect())

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    harness.run(endpoint)
    assert harness.types() == ["websocket.accept"]


def test_disconnect_raised_by_the_app_itself_still_closes() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketDisconnect(1000)

    harness.run(endpoint)
    assert harness.sent[-1] == close_message(1000)


def test_final_close_to_a_vanished_client_is_not_an_error() -> None:
    harness = Harness(CONNECT)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        harness.send_error = OSError("client gone")  # ASGI 2.4: send raises once gone

    harness.run(endpoint)
    assert harness.websocket.application_state is WebSocketState.DISCONNECTED


def test_error_denial_to_a_vanished_client_still_propagates_the_error() -> None:
    harness = Harness(CONNECT, extensions=DENIAL)

    async def endpoint(websocket: WebSocket) -> None:
        harness.send_error = OSError("client gone")
        raise LookupError("boom")

    with pytest.raises(LookupError):
        harness.run(endpoint)


# -- WebSocketEndpoint ----------------------------------------------------------------------


class Recorder(WebSocketEndpoint):
    """Records what it receives and the close code it is told about."""

    log: list[Any]

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        self.log.append(data)
        await websocket.send_text(f"got {data!r}")

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        self.log.append(("closed", close_code))


def run_endpoint(endpoint_class: type[Recorder], harness: Harness) -> list[Any]:
    log: list[Any] = []

    async def endpoint(websocket: WebSocket) -> None:
        instance = endpoint_class()
        instance.log = log
        await instance.dispatch(websocket)

    harness.run(endpoint)
    return log


@pytest.mark.parametrize(
    ("encoding", "message", "data"),
    [
        ("text", text("hi"), "hi"),
        ("bytes", binary(b"hi"), b"hi"),
        ("json", text('{"a":1}'), {"a": 1}),
        (None, text("hi"), "hi"),
        (None, binary(b"hi"), b"hi"),
    ],
)
def test_endpoint_decodes_by_encoding(encoding: Any, message: Message, data: Any) -> None:
    class Endpoint(Recorder):
        pass

    Endpoint.encoding = encoding
    log = run_endpoint(Endpoint, Harness(CONNECT, message, disconnect(1001)))
    assert log == [data, ("closed", 1001)]


def test_endpoint_closes_with_1003_on_the_wrong_encoding() -> None:
    class Endpoint(Recorder):
        encoding = "bytes"

    harness = Harness(CONNECT, text("hi"))
    log = run_endpoint(Endpoint, harness)
    assert log == [("closed", 1003)]
    assert harness.sent[-1]["code"] == 1003


def test_endpoint_on_connect_close_skips_the_loop_and_on_disconnect() -> None:
    class Endpoint(Recorder):
        async def on_connect(self, websocket: WebSocket) -> None:
            await websocket.close(1008)

    harness = Harness(CONNECT)
    log = run_endpoint(Endpoint, harness)
    assert log == []
    assert harness.sent == [close_message(1008)]


def test_endpoint_error_in_on_receive_reports_1011_and_propagates() -> None:
    class Endpoint(Recorder):
        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            raise LookupError("boom")

    harness = Harness(CONNECT, text("hi"))
    with pytest.raises(LookupError):
        run_endpoint(Endpoint, harness)
    assert harness.sent[-1] == close_message(1011)


def test_endpoint_on_disconnect_gets_1011_when_on_receive_raises() -> None:
    log: list[Any] = []

    class Endpoint(Recorder):
        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            raise LookupError("boom")

        async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
            log.append(close_code)

    with pytest.raises(LookupError):
        run_endpoint(Endpoint, Harness(CONNECT, text("hi")))
    assert log == [1011]


def test_endpoint_rejects_an_unknown_encoding() -> None:
    class Endpoint(Recorder):
        encoding = "xml"  # type: ignore[assignment]

    with pytest.raises(ValueError, match=r'encoding must be "text", "bytes", "json" or None'):
        run_endpoint(Endpoint, Harness(CONNECT))


def test_endpoint_defaults_accept_and_ignore_messages() -> None:
    harness = Harness(CONNECT, text("hi"), disconnect())

    async def endpoint(websocket: WebSocket) -> None:
        await WebSocketEndpoint().dispatch(websocket)

    harness.run(endpoint)
    assert harness.types() == ["websocket.accept"]


# -- end to end through App and TestClient -------------------------------------------------


def close_code(session: WebSocketTestSession) -> int:
    """The code of the close the app sends next."""
    with pytest.raises(WebSocketDisconnect) as info:
        session.receive_text()
    return info.value.code


def test_app_websocket_gets_path_params_and_echoes() -> None:
    app = App()

    @app.websocket("/rooms/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async for message in websocket.iter_text():
            await websocket.send_text(f"{room}: {message}")

    with TestClient(app) as client, client.websocket_connect("/rooms/lobby") as session:
        session.send_text("hello")
        assert session.receive_text() == "lobby: hello"


def test_app_websocket_subprotocol_and_accept_headers_reach_the_client() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        assert websocket.scope["subprotocols"] == ["v1", "v2"]
        await websocket.accept(subprotocol="v2", headers={"x-served-by": "microasgi"})
        await websocket.close()

    client = TestClient(app)
    with client.websocket_connect("/ws", subprotocols=["v1", "v2"]) as session:
        assert session.accepted_subprotocol == "v2"
        assert (b"x-served-by", b"microasgi") in session.extra_headers


def test_app_websocket_sees_request_headers_and_query() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {"token": websocket.headers["x-token"], "q": websocket.query_params["q"]}
        )

    client = TestClient(app)
    with client.websocket_connect("/ws?q=1", headers={"x-token": "t"}) as session:
        assert session.receive_json() == {"token": "t", "q": "1"}


def test_app_close_before_accept_is_a_403_for_the_client() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.close()

    client = TestClient(app)
    with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
        pass
    assert info.value.status_code == 403


def test_app_denial_response_reaches_the_client_with_status_and_body() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("members only", 401))

    client = TestClient(app)
    with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
        pass
    assert info.value.status_code == 401
    assert info.value.text == "members only"


def test_app_http_exception_before_accept_reaches_the_client_as_denial() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        raise HTTPException(429, "slow down")

    client = TestClient(app)
    with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
        pass
    assert info.value.status_code == 429
    assert info.value.text == "slow down"


def test_app_server_close_code_and_reason_reach_the_client() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketException(4000, "kicked")

    client = TestClient(app)
    with client.websocket_connect("/ws") as session, pytest.raises(WebSocketDisconnect) as info:
        session.receive_text()
    assert (info.value.code, info.value.reason) == (4000, "kicked")


def test_app_error_after_accept_closes_1011_and_reaches_the_test() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise LookupError("boom")

    client = TestClient(app)
    codes: list[int] = []
    with pytest.raises(LookupError), client.websocket_connect("/ws") as session:
        codes.append(close_code(session))
    assert codes == [1011]


def test_app_error_after_accept_sends_1011_when_errors_are_not_raised() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        raise LookupError("boom")

    client = TestClient(app, raise_server_exceptions=False)
    with client.websocket_connect("/ws") as session, pytest.raises(WebSocketDisconnect) as info:
        session.receive_text()
    assert info.value.code == 1011


def test_app_max_message_size_closes_with_1009() -> None:
    app = App(max_message_size=8)
    seen: list[str] = []

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        async for message in websocket.iter_text():
            seen.append(message)

    client = TestClient(app)
    with client.websocket_connect("/ws") as session:
        session.send_text("small")
        session.send_text("much too large")
        with pytest.raises(WebSocketDisconnect) as info:
            session.receive_text()
    assert info.value.code == 1009
    assert seen == ["small"]


def test_app_route_max_message_size_overrides_the_app() -> None:
    app = App(max_message_size=8)

    @app.websocket("/big", max_message_size=None)
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(str(len(await websocket.receive_text())))

    client = TestClient(app)
    with client.websocket_connect("/big") as session:
        session.send_text("x" * 1000)
        assert session.receive_text() == "1000"


def test_app_invalid_json_closes_with_1007() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_json()

    client = TestClient(app)
    with client.websocket_connect("/ws") as session:
        session.send_text("{")
        with pytest.raises(WebSocketDisconnect) as info:
            session.receive_text()
    assert info.value.code == 1007


def test_app_websocket_endpoint_class() -> None:
    app = App()

    @app.websocket("/ws")
    class Echo(WebSocketEndpoint):
        encoding = "json"

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            await websocket.send_json({"echo": data})

    client = TestClient(app)
    with client.websocket_connect("/ws") as session:
        session.send_json([1, 2])
        assert session.receive_json() == {"echo": [1, 2]}


def test_app_client_disconnect_ends_the_iterator_and_the_endpoint() -> None:
    app = App()
    log: list[str] = []

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        async for message in websocket.iter_text():
            log.append(message)
        log.append("ended")

    client = TestClient(app)
    with client.websocket_connect("/ws") as session:
        session.send_text("one")
    assert log == ["one", "ended"]


def test_app_websocket_state_is_per_connection() -> None:
    app = App()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        count = getattr(websocket.state, "count", 0)
        websocket.state.count = count + 1
        await websocket.send_text(str(websocket.state.count))

    client = TestClient(app)
    for _ in range(2):
        with client.websocket_connect("/ws") as session:
            assert session.receive_text() == "1"


def test_receive_json_on_too_deeply_nested_json_closes_with_1007() -> None:
    harness = Harness(CONNECT, text("[" * 100_000 + "]" * 100_000))

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_json()

    harness.run(endpoint)
    assert harness.types() == ["websocket.accept", "websocket.close"]
    assert harness.sent[-1]["code"] == 1007
