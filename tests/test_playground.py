"""The ASGI playground, in process: its page and files, the live stream, the recorder, try a
request, the race, and its refusals. The browser tests (tests/browser) drive the page itself."""

import json
from typing import Any

import anyio
import pytest

from examples.playground import app as example_app
from microasgi import App, Mount
from microasgi.middleware.trace import Trace
from microasgi.playground import Playground
from microasgi.playground.race import check_race
from microasgi.playground.tryout import check_form
from microasgi.testclient import TestClient
from microasgi.types import Message, Receive, Scope, Send


def test_playground_needs_debug() -> None:
    with pytest.raises(ValueError, match="playground=True needs debug=True"):
        App(playground=True)


def test_playground_path_must_be_below_the_root() -> None:
    with pytest.raises(ValueError, match="playground path must be a path below '/'"):
        App(debug=True, playground=True, playground_path="/")


def test_off_by_default_and_then_the_path_is_the_apps() -> None:
    client = TestClient(App(debug=True))
    assert client.get("/__asgi__").status_code == 404


def test_page_and_files_are_served_self_contained() -> None:
    with TestClient(example_app) as client:
        page = client.get("/__asgi__")
        assert page.headers["content-type"].startswith("text/html")
        assert 'data-base="/__asgi__"' in page.text
        assert "http://" not in page.text
        assert "https://" not in page.text
        script = client.get("/__asgi__/app.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert "EventSource" in script.text
        assert "innerHTML" not in script.text
        assert client.get("/__asgi__/style.css").headers["content-type"].startswith("text/css")
        protocol = client.get("/__asgi__/protocol").json()
        assert protocol["websocket"]["initial"] == "handshake"
        assert "websocket.accept" in protocol["websocket"]["transitions"]["handshake"]


def test_unknown_paths_and_methods_of_the_playground() -> None:
    client = TestClient(example_app)
    assert client.get("/__asgi__/nothing").status_code == 404
    refused = client.post("/__asgi__/protocol")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")
    assert client.get("/__asgi__/race").status_code == 405


def test_a_websocket_to_the_playground_path_is_closed() -> None:
    client = TestClient(example_app)
    with pytest.raises(Exception, match="403"), client.websocket_connect("/__asgi__"):
        pass  # pragma: no cover - the connection is refused


def test_recorder_keeps_the_apps_traces_but_never_its_own() -> None:
    app = App(debug=True, playground=True, playground_path="/play")
    app.add_route("/hi", lambda: "hi")
    with TestClient(app) as client:
        client.get("/play")
        client.get("/play/app.js")
        assert client.get("/hi", headers={"authorization": "Bearer secret"}).text == "hi"
    playground = app._stack
    assert isinstance(playground, Playground)
    [trace] = playground.traces
    assert trace["scope"]["path"] == "'/hi'"
    assert "secret" not in json.dumps(trace)
    assert "<redacted>" in trace["scope"]["headers"]


def test_the_ring_buffer_is_bounded() -> None:
    playground = Playground(example_app, capacity=2)
    for number in range(1, 4):
        playground.record(Trace(number, "http", {}, 0.0, duration=0.0))
    assert [trace["number"] for trace in playground.traces] == [2, 3]


def test_events_stream_the_kept_traces_then_the_new_ones() -> None:
    playground = Playground(example_app)
    playground.record(Trace(1, "http", {}, 0.0, duration=0.0))
    sent: list[bytes] = []

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def send(message: Message) -> None:
        sent.append(message.get("body", b""))

    async def main() -> None:
        scope: Scope = {"type": "http", "method": "GET", "path": "/__asgi__/events"}
        scope.update(headers=[], query_string=b"", root_path="")
        with anyio.move_on_after(0.5):
            async with anyio.create_task_group() as group:
                group.start_soon(playground, scope, receive, send)
                await anyio.sleep(0.1)
                playground.record(Trace(2, "websocket", {}, 0.0, duration=0.0))
                await anyio.sleep(0.1)
                group.cancel_scope.cancel()

    anyio.run(main)
    stream = b"".join(sent).decode()
    numbers = [
        json.loads(line[6:])["number"] for line in stream.splitlines() if line[:6] == "data: "
    ]
    assert numbers == [1, 2]
    assert "event: trace" in stream
    assert playground._listeners == set()  # the page left: its stream was dropped


def test_a_full_listener_misses_traces_and_a_closed_one_is_dropped() -> None:
    playground = Playground(example_app)
    full, _full_receiver = anyio.create_memory_object_stream[dict[str, Any]](0)
    closed, closed_receiver = anyio.create_memory_object_stream[dict[str, Any]](1)
    closed_receiver.close()
    playground._listeners.update({full, closed})
    playground.record(Trace(1, "http", {}, 0.0, duration=0.0))
    assert playground._listeners == {full}
    for stream in (full, _full_receiver, closed):
        stream.close()


def test_try_requests_of_each_kind() -> None:
    with TestClient(example_app) as client:
        http = client.post(
            "/__asgi__/try",
            json={"method": "post", "path": "/echo?x=1", "headers": "X-Note: hi", "body": "{}"},
        ).json()
        websocket = client.post(
            "/__asgi__/try", json={"kind": "websocket", "path": "/ws", "messages": ["one"]}
        ).json()
        lifespan = client.post("/__asgi__/try", json={"kind": "lifespan"}).json()
    assert http["scope"]["method"] == "'POST'"
    assert ("send", "http.response.body") in [(e["direction"], e["type"]) for e in http["events"]]
    sent = [e["fields"].get("text") for e in websocket["events"] if e["type"] == "websocket.send"]
    assert sent == ["<9 chars> 'echo: one'"]
    assert [e["type"] for e in lifespan["events"]] == [
        "lifespan.startup",
        "lifespan.startup.complete",
        "lifespan.shutdown",
        "lifespan.shutdown.complete",
    ]


def test_a_try_against_a_stream_that_never_ends_is_left_after_a_while() -> None:
    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive())["type"] != "http.disconnect":
            pass  # pragma: no cover - the request message comes first, then the disconnect
        await send({"type": "http.response.body", "body": b""})

    client = TestClient(App(debug=True, playground=True, routes=[Mount("/forever", forever)]))
    trace = client.post("/__asgi__/try", json={"path": "/forever/"}).json()
    assert [e["type"] for e in trace["events"]][-1] == "http.response.body"
    assert trace["duration"] >= 1.0
    assert trace["error"] is None


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ([], "the form must be a JSON object"),
        ({"kind": "ftp"}, "kind must be one of http, websocket, lifespan"),
        ({"method": "GE T"}, "bad method 'GE T'"),
        ({"path": "no-slash"}, "path must start with '/'"),
        ({"path": "/a\nb"}, "path must start with '/'"),
        ({"headers": "no colon"}, "bad header 'no colon'"),
        ({"messages": "one"}, "messages must be a list of texts"),
        ({"messages": ["x"] * 21}, "at most 20 websocket messages"),
        ({"body": 3}, "body must be text"),
    ],
)
def test_bad_try_forms_are_400(form: Any, error: str) -> None:
    with pytest.raises(ValueError, match="^" + error.replace("(", r"\(").replace(")", r"\)")):
        check_form(form)
    answer = TestClient(example_app).post("/__asgi__/try", json=form)
    assert answer.status_code == 400
    assert error in answer.json()["error"]


def test_the_race_shows_wsgi_queueing_and_asgi_waiting_together() -> None:
    result = TestClient(example_app).post("/__asgi__/race", json={"count": 4, "delay": 0.1})
    wsgi, asgi = result.json()["runs"]
    assert wsgi["name"] == "WSGI, one worker"
    assert 0.38 <= wsgi["total"] < 1.0
    assert 0.09 <= asgi["total"] < 0.3
    begins = sorted(bar["begin"] for bar in wsgi["bars"])
    assert begins[-1] >= 0.28  # the last request waited for three others
    assert all(bar["start"] <= bar["begin"] <= bar["end"] for bar in asgi["bars"])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"count": 0, "delay": 1}, "count must be a whole number from 1 to 20"),
        ({"count": True, "delay": 1}, "count must be a whole number from 1 to 20"),
        ({"count": 2, "delay": "1"}, "delay must be a number of seconds"),
        ({"count": 2, "delay": 0}, "delay must be above 0 and at most 5.0 seconds"),
        ([1, 2], "the race takes a JSON object: count and delay"),
    ],
)
def test_bad_races_are_400(body: Any, error: str) -> None:
    answer = TestClient(example_app).post("/__asgi__/race", json=body)
    assert (answer.status_code, answer.json()) == (400, {"error": error})


def test_check_race_accepts_whole_and_decimal_delays() -> None:
    assert check_race(3, 1) == (3, 1.0)
    assert check_race(20, 0.25) == (20, 0.25)
