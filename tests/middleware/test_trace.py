import json
import logging
import re

import anyio
import pytest

from microasgi.middleware.trace import (
    PREVIEW_SIZE,
    Trace,
    TraceEvent,
    TraceFormatter,
    TraceMiddleware,
    escape_controls,
)
from microasgi.types import Message, Receive, Scope, Send

from .conftest import ScopeRecorder, make_scope, run, text_app

LINE = re.compile(r"\[(\d+)\] \+(\d+\.\d{3})ms (.*)")


def traced(app: object, **options: object) -> tuple[TraceMiddleware, list[str]]:
    """The middleware, and the timeline lines of every trace it finished, in order."""
    lines: list[str] = []

    def collect(trace: Trace) -> None:
        lines.extend(trace.lines())

    return TraceMiddleware(app, collect, **options), lines  # type: ignore[arg-type]


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
    assert formatter.message_fields(message) == {"body": "<16 bytes>"}


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
    assert TraceFormatter().scope_fields(scope) == {"path": "'/'", "alpha": "2", "zeta": "1"}


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
    assert events(lines)[-3:] == [
        "send http.response.start status=200 "
        "headers=[('content-length', '2'), ('content-type', 'text/plain; charset=utf-8')]",
        "send failed OSError('client gone')",
        "raised OSError('client gone')",
    ]


def test_default_logs_one_record_per_finished_trace(caplog: pytest.LogCaptureFixture) -> None:
    middleware = TraceMiddleware(ScopeRecorder())
    with caplog.at_level(logging.INFO, logger="microasgi.trace"):
        run(middleware, make_scope())
        run(middleware, make_scope())
    assert [record.name for record in caplog.records] == ["microasgi.trace"] * 2
    assert [record.levelno for record in caplog.records] == [logging.INFO] * 2
    first = caplog.records[0].getMessage().split("\n")
    assert len(first) == 4
    assert first[0].startswith("[1] +")
    assert first[-1].endswith(" end")
    assert caplog.records[1].getMessage().startswith("[2] +")
    trace = getattr(caplog.records[0], "trace", None)
    assert isinstance(trace, Trace)
    assert trace.finished


def test_default_logging_is_quiet_below_info(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.WARNING, logger="microasgi.trace"):
        result = run(TraceMiddleware(text_app(b"same")), make_scope())
    assert caplog.records == []
    assert result.messages == run(text_app(b"same"), make_scope()).messages
    assert capsys.readouterr() == ("", "")  # never print()


def test_control_characters_never_reach_a_line(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.accept", "x\nkey": "v"})
        await send({"type": "websocket.send", "text": "a\r\nb"})
        raise ValueError("bad\nline\x1b[31m")

    scope = make_scope(
        "websocket", path="/a\nb\u2028c", headers=[("x-forged", "v\r\n[2] +0.000ms end\x85")]
    )
    scope["weird\x00key"] = "\x7f"
    middleware = TraceMiddleware(app, include_bodies=True)
    with (
        caplog.at_level(logging.INFO, logger="microasgi.trace"),
        pytest.raises(ValueError, match="bad"),
    ):
        run(middleware, scope, [{"type": "websocket.connect"}])
    text = caplog.records[0].getMessage()
    lines = text.split("\n")
    assert len(lines) == 4  # scope, accept, send, raised: nothing forged
    assert all(LINE.fullmatch(line) for line in lines)
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028]", text)
    assert "path='/a\\nb\\u2028c'" in lines[0]
    assert "x\\nkey='v'" in lines[1]


def test_escape_controls() -> None:
    assert escape_controls("a\tb\x1bc\u2029d") == "a\\tb\\x1bc\\u2029d"
    assert escape_controls("plain é") == "plain é"


def test_callback_gets_the_typed_trace_as_json() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    traces: list[Trace] = []
    middleware = TraceMiddleware(app, traces.append, include_bodies=True)
    run(middleware, make_scope(method="PUT", headers=[("cookie", "s=1")]))
    [trace] = traces
    assert trace.number == 1
    assert trace.type == "http"
    assert trace.scope["method"] == "'PUT'"
    assert trace.scope["headers"] == "[('cookie', '<redacted>')]"
    assert [(event.direction, event.type) for event in trace.events] == [
        ("receive", "http.request"),
        ("send", "http.response.start"),
        ("send", "http.response.body"),
    ]
    assert trace.events[2].fields == {"body": "<2 bytes> b'ok'"}
    times = [event.time for event in trace.events]
    assert times == sorted(times)
    assert trace.duration is not None
    assert trace.duration >= times[-1]
    data = json.loads(json.dumps(trace.to_dict()))
    assert data["type"] == "http"
    assert data["error"] is None
    assert data["events"][1] == {
        "direction": "send",
        "type": "http.response.start",
        "time": round(trace.events[1].time, 6),
        "fields": {"status": "201", "headers": "[]"},
        "error": None,
    }


def test_cancellation_finishes_the_trace() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep(10)

    traces: list[Trace] = []
    middleware = TraceMiddleware(app, traces.append)

    async def main() -> None:
        with anyio.move_on_after(0.01):
            await middleware(make_scope(), _never_receive, _ignore_send)

    anyio.run(main)
    assert traces[0].finished
    assert traces[0].error is not None
    assert "Cancel" in traces[0].error


async def _never_receive() -> Message:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover


async def _ignore_send(message: Message) -> None:
    pass  # pragma: no cover


def test_trace_timeline_of_an_unfinished_trace_has_no_end() -> None:
    trace = Trace(1, "http", {}, 0.0, 0.0, [TraceEvent("receive", "http.request", 0.001)])
    assert not trace.finished
    assert trace.lines() == ["[1] +0.000ms scope http", "[1] +1.000ms receive http.request"]


def test_messages_pass_through_unchanged() -> None:
    middleware, _ = traced(text_app(b"same"))
    assert run(middleware, make_scope()).messages == run(text_app(b"same"), make_scope()).messages


def test_headers_that_are_not_a_list_are_shown_as_repr() -> None:
    assert TraceFormatter().value("headers", None) == "None"


def test_headers_that_are_not_pairs_are_shown_as_repr() -> None:
    assert TraceFormatter().value("headers", [b"oops"]) == "[b'oops']"
