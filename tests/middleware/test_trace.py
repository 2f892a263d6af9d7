import logging
import re

import anyio
import pytest

from microasgi.middleware.trace import PREVIEW_SIZE, TraceFormatter, TraceMiddleware
from microasgi.types import Message, Receive, Scope, Send

from .conftest import ScopeRecorder, make_scope, run, text_app

LINE = re.compile(r"\[(\d+)\] \+(\d+\.\d{3})ms (.*)")


def traced(app: object, **options: object) -> tuple[TraceMiddleware, list[str]]:
    lines: list[str] = []
    return TraceMiddleware(app, log=lines.append, **options), lines  # type: ignore[arg-type]


def events(lines: list[str]) -> list[str]:
    """The lines without their ``[n] +t.tttms`` prefix."""
    parsed = []
    for line in lines:
        match = LINE.fullmatch(line)
        assert match is not None, line
        parsed.append(match[3])
    return parsed


def test_http_request_lines_in_order() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await text_app(b"hello")(scope, receive, send)

    middleware, lines = traced(app)
    run(middleware, make_scope(method="POST", path="/items", query_string=b"a=1"))
    assert events(lines) == [
        "scope http method='POST' scheme='http' path='/items' query_string=b'a=1' "
        "root_path='' http_version='1.1' client=('127.0.0.1', 50000) "
        "server=('testserver', 80) headers=[]",
        "receive http.request body=<0 bytes> more_body=False",
        "send http.response.start status=200 "
        "headers=[('content-length', '5'), ('content-type', 'text/plain; charset=utf-8')]",
        "send http.response.body body=<5 bytes>",
        "end",
    ]


def test_timestamps_grow_from_zero_and_connections_are_numbered() -> None:
    middleware, lines = traced(text_app())
    run(middleware, make_scope())
    run(middleware, make_scope())
    parsed = [LINE.fullmatch(line) for line in lines]
    assert all(parsed)
    numbers = [match[1] for match in parsed if match]
    times = [float(match[2]) for match in parsed if match]
    assert numbers == ["1"] * 4 + ["2"] * 4
    assert times[:4] == sorted(times[:4])
    assert times[0] < 50  # milliseconds since the connection started, not since the epoch


def test_websocket_session_lines() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"].upper()})
        await send({"type": "websocket.close", "code": 1000})

    middleware, lines = traced(app, include_bodies=True)
    run(
        middleware,
        make_scope("websocket", path="/ws"),
        [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}],
    )
    assert events(lines)[1:] == [
        "receive websocket.connect",
        "send websocket.accept",
        "receive websocket.receive text=<2 chars> 'hi'",
        "send websocket.send text=<2 chars> 'HI'",
        "send websocket.close code=1000",
        "end",
    ]
    assert events(lines)[0].startswith("scope websocket scheme='ws' path='/ws'")


def test_lifespan_lines() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})

    middleware, lines = traced(app)
    run(
        middleware, {"type": "lifespan", "asgi": {"version": "3.0"}}, [{"type": "lifespan.startup"}]
    )
    assert events(lines) == [
        "scope lifespan",
        "receive lifespan.startup",
        "send lifespan.startup.complete",
        "end",
    ]


def test_credentials_are_redacted_in_the_scope_and_the_response() -> None:
    app = text_app(headers=[(b"set-cookie", b"session=secret")])
    middleware, lines = traced(app)
    headers = [
        ("Authorization", "Bearer secret"),
        ("Cookie", "session=secret"),
        ("Proxy-Authorization", "Basic secret"),
        ("accept", "text/plain"),
    ]
    run(middleware, make_scope(headers=headers))
    text = "\n".join(lines)
    assert "secret" not in text
    assert "('authorization', '<redacted>')" in text
    assert "('cookie', '<redacted>')" in text
    assert "('set-cookie', '<redacted>')" in text
    assert "('accept', 'text/plain')" in text


def test_extra_redacted_headers() -> None:
    middleware, lines = traced(text_app(), redact_headers=["X-Api-Key"])
    run(middleware, make_scope(headers=[("x-api-key", "k"), ("authorization", "visible")]))
    assert "('x-api-key', '<redacted>')" in lines[0]
    assert "('authorization', 'visible')" in lines[0]


def test_bodies_are_hidden_unless_asked_for() -> None:
    formatter = TraceFormatter()
    message: Message = {"type": "http.response.body", "body": b"password=hunter2"}
    assert formatter.message("send", message) == "send http.response.body body=<16 bytes>"


def test_included_bodies_show_a_cut_prefix() -> None:
    formatter = TraceFormatter(include_bodies=True)
    long_body = b"x" * (PREVIEW_SIZE + 10)
    shown = formatter.value("body", long_body)
    assert shown == f"<{PREVIEW_SIZE + 10} bytes> {b'x' * PREVIEW_SIZE!r}..."
    assert formatter.value("bytes", b"\x00\x01") == "<2 bytes> b'\\x00\\x01'"
    assert formatter.value("body", b"") == "<0 bytes>"
    assert formatter.value("text", "y" * (PREVIEW_SIZE + 1)).endswith("'...")
    assert formatter.value("text", "") == "<0 chars>"
    assert formatter.value("text", "") == "<0 chars>"


def test_long_values_are_cut() -> None:
    shown = TraceFormatter().value("state", {"big": "z" * 1000})
    assert len(shown) == 203
    assert shown.endswith("...")


def test_unknown_scope_keys_follow_sorted_and_noise_is_skipped() -> None:
    scope: Scope = {"type": "http", "path": "/", "zeta": 1, "alpha": 2, "state": {"x": 1}}
    assert TraceFormatter().scope(scope) == "scope http path='/' alpha=2 zeta=1"


def test_app_error_is_logged_and_reraised() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("boom")

    middleware, lines = traced(app)
    with pytest.raises(ValueError, match="boom"):
        run(middleware, make_scope())
    assert events(lines)[-1] == "raised ValueError('boom')"


def test_failed_send_is_logged() -> None:
    middleware, lines = traced(text_app())

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        raise OSError("client gone")

    with pytest.raises(OSError, match="client gone"):
        anyio.run(middleware, make_scope(), receive, send)
    assert events(lines)[-2:] == [
        "send failed OSError('client gone')",
        "raised OSError('client gone')",
    ]


def test_logger_receives_lines_at_info(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.trace")
    middleware = TraceMiddleware(ScopeRecorder(), log=logger)
    with caplog.at_level(logging.INFO, logger="tests.trace"):
        run(middleware, make_scope())
    assert [record.levelno for record in caplog.records] == [logging.INFO] * 4
    assert caplog.records[-1].getMessage().endswith(" end")


def test_messages_pass_through_unchanged() -> None:
    middleware, _ = traced(text_app(b"same"))
    assert run(middleware, make_scope()).messages == run(text_app(b"same"), make_scope()).messages


def test_default_log_prints(capsys: pytest.CaptureFixture[str]) -> None:
    run(TraceMiddleware(text_app()), make_scope())
    assert capsys.readouterr().out.count("\n") == 4


def test_headers_that_are_not_a_list_are_shown_as_repr() -> None:
    assert TraceFormatter().value("headers", None) == "None"
