"""Server-Sent Events: the wire format, pings, disconnects and cleanup, read incrementally."""

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from microasgi import App, Request
from microasgi.background import BackgroundTask
from microasgi.datastructures import Headers
from microasgi.sse import PING, EventSourceResponse, ServerSentEvent, encode_event
from microasgi.testclient import TestClient
from microasgi.types import Message, Receive, Scope, Send
from tests.conftest import HTTPScope, RunApp

# the format


def test_data_lines_are_split_on_every_line_break() -> None:
    event = ServerSentEvent(data="one\r\ntwo\rthree\nfour")
    assert event.encode() == b"data: one\ndata: two\ndata: three\ndata: four\n\n"


def test_all_fields_are_encoded_in_order() -> None:
    event = ServerSentEvent(data="x", event="tick", id="7", retry=1500, comment="hi\nthere")
    assert event.encode() == (b": hi\n: there\nevent: tick\nid: 7\nretry: 1500\ndata: x\n\n")


def test_empty_data_and_comment_lines_are_kept() -> None:
    assert ServerSentEvent(data="").encode() == b"data: \n\n"
    assert ServerSentEvent(comment="a\n\nb").encode() == b": a\n:\n: b\n\n"


def test_data_is_utf8() -> None:
    assert ServerSentEvent(data="é").encode() == "data: é\n\n".encode()


@pytest.mark.parametrize("event", ["a\nb", "a\rb"])
def test_event_with_line_break_is_refused(event: str) -> None:
    with pytest.raises(ValueError, match="event must not contain"):
        ServerSentEvent(data="x", event=event)


@pytest.mark.parametrize("event_id", ["1\n2", "1\r2", "1\x002"])
def test_id_with_line_break_or_nul_is_refused(event_id: str) -> None:
    with pytest.raises(ValueError, match="id must not contain"):
        ServerSentEvent(data="x", id=event_id)


@pytest.mark.parametrize("retry", [-1, True, 1.5])
def test_bad_retry_is_refused(retry: Any) -> None:
    with pytest.raises(ValueError, match="retry"):
        ServerSentEvent(retry=retry)


def test_non_text_data_is_refused() -> None:
    with pytest.raises(TypeError, match=r"json\.dumps"):
        ServerSentEvent(data={"a": 1})  # type: ignore[arg-type]


def test_repr_names_the_set_fields() -> None:
    assert repr(ServerSentEvent(data="x", id="1")) == "ServerSentEvent(data='x', id='1')"


def test_source_items_may_be_events_dicts_or_text() -> None:
    assert encode_event("hi") == b"data: hi\n\n"
    assert encode_event({"data": "hi", "event": "greet"}) == b"event: greet\ndata: hi\n\n"
    assert encode_event(ServerSentEvent(id="3")) == b"id: 3\n\n"
    with pytest.raises(TypeError, match="must yield"):
        encode_event(b"bytes")  # type: ignore[arg-type]


# the response


def test_headers_disable_caching_and_proxy_buffering() -> None:
    response = EventSourceResponse([])
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "connection" not in response.headers


@pytest.mark.parametrize("ping", [-1.0, float("nan")])
def test_bad_ping_interval_is_refused(ping: float) -> None:
    with pytest.raises(ValueError, match="ping"):
        EventSourceResponse([], ping=ping)


def test_user_headers_override_the_defaults() -> None:
    response = EventSourceResponse([], headers={"cache-control": "no-store", "X-Other": "1"})
    assert response.headers.getlist("cache-control") == ["no-store"]
    assert response.headers["x-other"] == "1"


def sse_app(
    events: Any, *, ping: float | None = None, background: BackgroundTask | None = None
) -> App:
    app = App()

    @app.get("/events")
    async def stream() -> EventSourceResponse:
        return EventSourceResponse(events, ping=ping, background=background)

    return app


def test_async_events_are_streamed_then_the_body_ends() -> None:
    async def events() -> AsyncIterator[str]:
        yield "one"
        yield "two"

    response = TestClient(sse_app(events())).get("/events")
    assert response.text == "data: one\n\ndata: two\n\n"


def test_sync_events_are_streamed() -> None:
    response = TestClient(sse_app([{"data": "a"}, ServerSentEvent(data="b")])).get("/events")
    assert response.text == "data: a\n\ndata: b\n\n"


def test_events_are_read_incrementally_and_cleanup_runs_on_disconnect() -> None:
    cleaned = threading.Event()

    async def endless() -> AsyncIterator[ServerSentEvent]:
        try:
            number = 0
            while True:
                number += 1
                yield ServerSentEvent(data=str(number), id=str(number))
                await anyio.sleep(0.01)
        finally:
            cleaned.set()

    client = TestClient(sse_app(endless()))
    with client.stream("GET", "/events") as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        lines = response.iter_lines()
        assert [next(lines) for _ in range(6)] == ["id: 1", "data: 1", "", "id: 2", "data: 2", ""]
    assert cleaned.wait(timeout=5)


def test_sync_generator_is_closed_on_disconnect() -> None:
    cleaned = threading.Event()

    def endless() -> Iterator[str]:
        try:
            while True:
                yield "tick"
        finally:
            cleaned.set()

    with TestClient(sse_app(endless())).stream("GET", "/events") as response:
        assert next(response.iter_lines()) == "data: tick"
    assert cleaned.wait(timeout=5)


def test_ping_is_sent_when_the_stream_is_quiet() -> None:
    async def slow() -> AsyncIterator[str]:
        await anyio.sleep(0.25)
        yield "late"

    response = TestClient(sse_app(slow(), ping=0.05)).get("/events")
    text = response.text
    assert text.endswith("data: late\n\n")
    assert text.count(PING.decode()) >= 2


def test_no_ping_when_disabled() -> None:
    async def slow() -> AsyncIterator[str]:
        await anyio.sleep(0.1)
        yield "late"

    assert TestClient(sse_app(slow(), ping=0)).get("/events").text == "data: late\n\n"


def test_failing_source_error_is_raised_as_is() -> None:
    async def failing() -> AsyncIterator[str]:
        yield "first"
        raise LookupError("source broke")

    with pytest.raises(LookupError, match="source broke"):
        TestClient(sse_app(failing())).get("/events")


def test_background_task_runs_after_the_stream() -> None:
    done: list[str] = []
    app = sse_app(["x"], background=BackgroundTask(done.append, "done"))
    TestClient(app).get("/events")
    assert done == ["done"]


def test_head_sends_no_body_and_closes_an_async_source(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    closed: list[bool] = []

    async def events() -> AsyncIterator[str]:
        try:
            yield "never sent"
        finally:
            closed.append(True)  # pragma: no cover - an unstarted generator runs no finally

    source = events()
    sent = run_app(EventSourceResponse(source), http_scope("/", method="HEAD"))
    assert [message.get("body", b"") for message in sent[1:]] == [b""]
    with pytest.raises(StopAsyncIteration):
        anyio.run(source.__anext__)  # closed: it never runs again


def test_head_closes_a_sync_source(run_app: RunApp, http_scope: HTTPScope) -> None:
    def events() -> Iterator[str]:
        yield "never sent"  # pragma: no cover - closed before it starts

    source = events()
    run_app(EventSourceResponse(source), http_scope("/", method="HEAD"))
    with pytest.raises(StopIteration):
        next(source)


def test_head_with_a_plain_list_source(run_app: RunApp, http_scope: HTTPScope) -> None:
    sent = run_app(EventSourceResponse(["x"]), http_scope("/", method="HEAD"))
    assert sent[-1] == {"type": "http.response.body", "body": b""}


def run_with(response: EventSourceResponse, scope: Scope, receive: Receive, send: Send) -> None:
    async def main() -> None:
        with anyio.fail_after(5):
            await response(scope, receive, send)

    anyio.run(main)


async def receive_nothing() -> Message:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover - sleep_forever never returns


def test_send_raising_oserror_stops_the_stream_quietly(http_scope: HTTPScope) -> None:
    cleaned: list[bool] = []
    sent: list[Message] = []

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                yield "tick"
        finally:
            cleaned.append(True)

    async def send(message: Message) -> None:
        if len(sent) == 3:
            raise OSError("client gone")  # ASGI 2.4
        sent.append(message)

    run_with(EventSourceResponse(endless()), http_scope("/"), receive_nothing, send)
    assert cleaned == [True]
    assert all(message.get("more_body") for message in sent[1:])  # no final body sent


def test_disconnect_seen_on_receive_stops_a_quiet_stream(http_scope: HTTPScope) -> None:
    cleaned: list[bool] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def quiet() -> AsyncIterator[str]:
        try:
            await anyio.sleep_forever()
            yield "never"  # pragma: no cover - cancelled while asleep
        finally:
            cleaned.append(True)

    async def receive() -> Message:
        if requests:
            return requests.pop()
        await anyio.sleep(0.05)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    scope = http_scope("/", asgi={"version": "3.0", "spec_version": "2.3"})
    run_with(EventSourceResponse(quiet(), ping=None), scope, receive, send)
    assert cleaned == [True]


def test_last_event_id_lets_a_stream_resume() -> None:
    app = App()

    @app.get("/events")
    async def stream(request: Request) -> EventSourceResponse:
        start = int(request.headers.get("last-event-id", "0")) + 1
        events = (ServerSentEvent(data=f"event {n}", id=str(n)) for n in range(start, start + 2))
        return EventSourceResponse(events)

    response = TestClient(app).get("/events", headers={"Last-Event-ID": "41"})
    assert response.text == "id: 42\ndata: event 42\n\nid: 43\ndata: event 43\n\n"


def test_status_code_is_sent(run_app: RunApp, http_scope: HTTPScope) -> None:
    sent = run_app(EventSourceResponse([], status_code=201), http_scope("/"))
    assert sent[0]["status"] == 201
    assert Headers(raw=sent[0]["headers"])["cache-control"] == "no-cache"


def test_async_iterable_without_aclose_is_streamed() -> None:
    class Countdown:
        def __init__(self) -> None:
            self.left = 2

        def __aiter__(self) -> "Countdown":
            return self

        async def __anext__(self) -> str:
            if not self.left:
                raise StopAsyncIteration
            self.left -= 1
            return str(self.left)

    assert TestClient(sse_app(Countdown())).get("/events").text == "data: 1\n\ndata: 0\n\n"
