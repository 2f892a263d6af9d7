"""The protocol guard: the transition tables, the per-connection guard, App(debug=True) and
TestClient(check_protocol=...)."""

from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import anyio
import pytest

from microasgi import App, Mount
from microasgi.exceptions import WebSocketDisconnect
from microasgi.protocol import (
    HTTP,
    LIFESPAN,
    PROTOCOLS,
    WEBSOCKET,
    Protocol,
    ProtocolGuard,
    ProtocolGuardMiddleware,
    ProtocolViolation,
    event_of,
)
from microasgi.responses import PlainTextResponse
from microasgi.testclient import TestClient
from microasgi.types import ASGIApp, Message, Receive, Scope, Send

START: Message = {"type": "http.response.start", "status": 200, "headers": []}
BODY: Message = {"type": "http.response.body", "body": b"done"}
ACCEPT: Message = {"type": "websocket.accept"}
CLOSE: Message = {"type": "websocket.close", "code": 1000}


def sender(messages: Sequence[Message]) -> ASGIApp:
    """A raw ASGI app that sends ``messages`` in order, whatever the protocol says."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    return app


def serve(app: ASGIApp, scope_type: str, path: str = "/") -> tuple[list[Message], Exception]:
    """Run ``app`` once on a fake server; what the server received, and what the app raised."""
    received: list[Message] = []
    scope: dict[str, Any] = {"type": scope_type, "path": path, "root_path": "", "headers": []}
    scope.update(method="GET", query_string=b"", http_version="1.1", scheme="http")

    async def receive() -> Message:
        if scope_type == "http":
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        received.append(message)

    async def main() -> None:
        await app(scope, receive, send)

    with pytest.raises(ProtocolViolation) as info:
        anyio.run(main)
    return received, info.value


# (scope type, messages the app sends, the violation named, what was expected next)
VIOLATIONS = [
    pytest.param(
        "http",
        [BODY],
        "'http.response.body' sent before 'http.response.start'",
        "Expected next: 'http.response.start' or 'http.response.debug'",
        id="body-before-start",
    ),
    pytest.param(
        "http",
        [START, START],
        "'http.response.start' sent twice (after the response started)",
        "Expected next: 'http.response.body' or 'http.response.pathsend'",
        id="second-start",
    ),
    pytest.param(
        "http",
        [START, BODY, {"type": "http.response.body", "body": b"late"}],
        "'http.response.body' sent after the response completed",
        "Expected next: nothing more",
        id="after-final-body",
    ),
    pytest.param(
        "http",
        [{"type": "http.response.begin", "status": 200}],
        "unknown message type 'http.response.begin' for a http connection",
        "Expected next: 'http.response.start'",
        id="unknown-type",
    ),
    pytest.param(
        "http",
        [{"type": "http.response.start", "status": 200, "headers": [("x-name", "text")]}],
        "'http.response.start' has a header that is not a pair of bytes: ('x-name', 'text')",
        "Expected next: 'http.response.start'",
        id="header-not-bytes",
    ),
    pytest.param(
        "http",
        [{"type": "http.response.start", "status": 200, "headers": 42}],
        "'http.response.start' headers must be a list of (bytes, bytes) pairs",
        "Expected next: 'http.response.start'",
        id="headers-not-a-list",
    ),
    pytest.param(
        "websocket",
        [{"type": "websocket.send", "text": "early"}],
        "'websocket.send' sent before 'websocket.accept'",
        "Expected next: 'websocket.accept' or 'websocket.close' or 'websocket.http.response.start'",
        id="send-before-accept",
    ),
    pytest.param(
        "websocket",
        [ACCEPT, CLOSE, ACCEPT],
        "'websocket.accept' sent after the websocket closed",
        "Expected next: nothing more",
        id="accept-after-close",
    ),
    pytest.param(
        "websocket",
        [ACCEPT, ACCEPT],
        "'websocket.accept' sent twice (after 'websocket.accept')",
        "Expected next: 'websocket.send' or 'websocket.close'",
        id="second-accept",
    ),
    pytest.param(
        "websocket",
        [{"type": "websocket.accept", "headers": [(b"x-a", b"1", b"extra")]}],
        "'websocket.accept' has a header that is not a pair of bytes",
        "Expected next: 'websocket.accept'",
        id="accept-header-triple",
    ),
]


@pytest.mark.parametrize(("scope_type", "messages", "violation", "expected"), VIOLATIONS)
def test_each_violation_is_refused_and_not_forwarded(
    scope_type: str, messages: list[Message], violation: str, expected: str
) -> None:
    received, error = serve(ProtocolGuardMiddleware(sender(messages)), scope_type)
    assert isinstance(error, RuntimeError)
    assert str(error).startswith(f"ASGI protocol violation: {violation}")
    assert expected in str(error)
    # Everything before the violation went out; the violating message did not.
    assert received == messages[: len(received)]
    assert len(received) == len(messages) - 1


@pytest.mark.parametrize(("scope_type", "messages", "violation", "expected"), VIOLATIONS)
def test_test_client_refuses_each_violation(
    scope_type: str, messages: list[Message], violation: str, expected: str
) -> None:
    client = TestClient(sender(messages), raise_server_exceptions=False)

    def connect() -> None:
        if scope_type == "http":
            client.get("/")
            return
        with client.websocket_connect("/") as session, suppress(WebSocketDisconnect):
            session.receive()

    with pytest.raises(ProtocolViolation, match="ASGI protocol violation") as info:
        connect()
    assert violation in str(info.value)
    assert expected in str(info.value)


def test_violation_attributes_say_where_the_connection_was() -> None:
    guard = ProtocolGuard(HTTP)
    guard.check(START)
    with pytest.raises(ProtocolViolation) as info:
        guard.check(START)
    error = info.value
    assert (error.message_type, error.state) == ("http.response.start", "sending the body")
    assert error.expected == ["http.response.body", "http.response.pathsend"]
    assert error.violation == "'http.response.start' sent twice (after the response started)"
    assert guard.state == "sending the body"  # a refused message does not move the guard


def test_valid_conversations_pass() -> None:
    conversations: list[tuple[Protocol, list[Message]]] = [
        (HTTP, [START, {"type": "http.response.body", "more_body": True}, BODY]),
        (HTTP, [{"type": "http.response.debug", "info": {}}, START, BODY]),
        (HTTP, [START, {"type": "http.response.pathsend", "path": "/tmp/x"}]),
        (
            HTTP,
            [
                {**START, "trailers": True},
                BODY,
                {"type": "http.response.trailers", "headers": [], "more_trailers": True},
                {"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]},
            ],
        ),
        (WEBSOCKET, [ACCEPT, {"type": "websocket.send", "text": "hi"}, CLOSE]),
        (WEBSOCKET, [CLOSE]),
        (
            WEBSOCKET,
            [
                {"type": "websocket.http.response.start", "status": 403, "headers": []},
                {"type": "websocket.http.response.body", "body": b"no", "more_body": True},
                {"type": "websocket.http.response.body", "body": b""},
            ],
        ),
        (LIFESPAN, [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]),
    ]
    for protocol, messages in conversations:
        guard = ProtocolGuard(protocol)
        for message in messages:
            guard.check(message)
        assert protocol.transitions[guard.state] == {}, (protocol.name, guard.state)


def test_trailers_announced_must_follow_the_body() -> None:
    guard = ProtocolGuard(HTTP)
    guard.check({**START, "trailers": True})
    guard.check(BODY)
    with pytest.raises(ProtocolViolation, match="sent after the final body"):
        guard.check(BODY)


def test_every_state_explains_what_comes_next() -> None:
    for protocol in PROTOCOLS.values():
        assert protocol.transitions
        for state, events in protocol.transitions.items():
            assert protocol.allows[state]
            assert protocol.where[state]
            assert all(after in protocol.transitions for after in events.values())


def test_events_refine_the_type_by_its_flag() -> None:
    assert event_of(BODY) == "http.response.body, final"
    assert event_of({"type": "http.response.body", "more_body": True}) == "http.response.body"
    assert event_of({**START, "trailers": True}) == "http.response.start, trailers"
    assert event_of(ACCEPT) == "websocket.accept"


def test_lifespan_and_unknown_scopes_pass_through_the_middleware() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        await send({"type": "anything"})

    async def send(message: Message) -> None:
        seen.append(message["type"])

    async def receive() -> Message:
        return {}

    async def main() -> None:
        guarded = ProtocolGuardMiddleware(app)
        await guarded({"type": "lifespan"}, receive, send)
        await guarded({"type": "custom"}, receive, send)

    anyio.run(main)
    assert seen == ["lifespan", "anything", "custom", "anything"]


def test_debug_app_catches_a_raw_asgi_app_mounted_in_it() -> None:
    app = App(debug=True, routes=[Mount("/raw", sender([BODY]))])
    received, error = serve(app, "http", "/raw/")
    assert "'http.response.body' sent before 'http.response.start'" in str(error)
    # The guard refused the body; the App answered the error with its 500 instead.
    assert BODY not in received
    assert received[0]["type"] == "http.response.start"
    assert received[0]["status"] == 500


def test_debug_app_refuses_a_second_start_after_the_response_began() -> None:
    app = App(debug=True, routes=[Mount("/raw", sender([START, START]))])
    received, error = serve(app, "http", "/raw/")
    assert "sent twice" in str(error)
    assert received == [START]  # nothing more reached the server


def test_debug_app_guards_websockets() -> None:
    app = App(debug=True, routes=[Mount("/raw", sender([{"type": "websocket.send", "text": "x"}]))])
    received, error = serve(app, "websocket", "/raw/")
    assert "'websocket.send' sent before 'websocket.accept'" in str(error)
    assert received == []


def test_app_without_debug_builds_no_guard() -> None:
    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hi")

    quiet, loud = App(), App(debug=True)
    for app in (quiet, loud):
        app.add_route("/", home)
        assert TestClient(app).get("/").text == "hi"
    assert not isinstance(quiet._stack, ProtocolGuardMiddleware)
    assert isinstance(loud._stack, ProtocolGuardMiddleware)


def test_test_client_without_check_lets_violations_through() -> None:
    app = sender([START, BODY, {"type": "http.response.body", "body": b"late"}])
    assert TestClient(app, check_protocol=False).get("/").text == "done"
    with pytest.raises(ProtocolViolation):
        TestClient(app).get("/")
