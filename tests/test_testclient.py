"""The TestClient driving tiny raw ASGI apps: HTTP, lifespan and websocket."""

import re
import threading
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest

from microasgi.exceptions import WebSocketDisconnect
from microasgi.testclient import TestClient, WebSocketDenialResponse, WebSocketTestSession
from microasgi.types import ASGIApp, Message, Receive, Scope, Send

START: Message = {"type": "http.response.start", "status": 200, "headers": []}


def body(data: bytes = b"", more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    await send({**START, "headers": [(b"content-type", b"text/plain")]})
    await send(body(b"hello"))


# HTTP


def test_get_returns_status_headers_and_body() -> None:
    response = TestClient(hello).get("/")
    assert (response.status_code, response.headers["content-type"], response.text) == (
        200,
        "text/plain",
        "hello",
    )


def test_http_scope_is_shaped_like_uvicorn() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await hello(scope, receive, send)

    TestClient(app).get("/a/b?x=1&y=2", headers={"X-Token": "t"})
    scope = scopes[0]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert (scope["http_version"], scope["method"], scope["scheme"]) == ("1.1", "GET", "http")
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (
        "/a/b",
        b"/a/b",
        b"x=1&y=2",
    )
    assert scope["root_path"] == ""
    assert scope["client"] == ("testclient", 50000)
    assert scope["server"] == ("testserver", 80)
    assert (b"host", b"testserver") in scope["headers"]
    assert (b"x-token", b"t") in scope["headers"]
    assert scope["state"] == {}
    assert scope["extensions"] == {"http.response.debug": {}}


def test_root_path_prefixes_path_and_raw_path() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await hello(scope, receive, send)

    TestClient(app, root_path="/api").get("/users")
    assert (scopes[0]["root_path"], scopes[0]["path"], scopes[0]["raw_path"]) == (
        "/api",
        "/api/users",
        b"/api/users",
    )


def test_path_is_percent_decoded_and_bad_utf8_replaced() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await hello(scope, receive, send)

    TestClient(app).get("/caf%C3%A9/%FF")
    assert scopes[0]["path"] == "/café/\ufffd"
    assert scopes[0]["raw_path"] == b"/caf%C3%A9/%FF"


def test_https_base_url_sets_scheme_and_port() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await hello(scope, receive, send)

    TestClient(app, base_url="https://example.org:8443").get("/")
    assert (scopes[0]["scheme"], scopes[0]["server"]) == ("https", ("example.org", 8443))


async def echo_body(scope: Scope, receive: Receive, send: Send) -> None:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message["body"])
        if not message["more_body"]:
            break
    await send(START)
    await send(body(b"|".join(chunks)))


def test_request_body_is_delivered() -> None:
    assert TestClient(echo_body).post("/", content=b"hello").content == b"hello"


def test_streamed_request_body_arrives_in_chunks() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"one"
        yield b"two"

    assert TestClient(echo_body).post("/", content=chunks()).content == b"one|two"


def test_empty_request_body_is_one_final_message() -> None:
    assert TestClient(echo_body).get("/").content == b""


def test_receive_reports_disconnect_only_once_the_response_is_complete() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

        async def watch() -> None:
            events.append((await receive())["type"])

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch)
            await send(START)
            await anyio.sleep(0.05)
            events.append("final body")
            await send(body(b"done"))

    TestClient(app).get("/")
    assert events == ["final body", "http.disconnect"]


def test_response_streams_incrementally() -> None:
    release = threading.Event()
    finished = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(body(b"first", more=True))
        await anyio.to_thread.run_sync(release.wait, 2)
        await send(body(b"second"))
        finished.set()

    with TestClient(app).stream("GET", "/") as response:
        chunks = response.iter_bytes()
        assert next(chunks) == b"first"
        assert not finished.is_set()
        release.set()
        assert b"".join(chunks) == b"second"
    assert finished.is_set()


def test_closing_the_response_early_disconnects_the_client() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(START)
        await send(body(b"first", more=True))
        received.append(await receive())
        try:
            await send(body(b"the client has gone"))
        except OSError as exc:  # ASGI 2.4: sending to a client that left raises OSError
            received.append({"type": type(exc).__name__})

    with TestClient(app).stream("GET", "/") as response:
        assert next(response.iter_bytes()) == b"first"
    assert received == [{"type": "http.disconnect"}, {"type": "OSError"}]


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        (
            [body(b"x")],
            "'http.response.body' sent before 'http.response.start'. "
            "Expected next: 'http.response.start' or 'http.response.debug' ",
        ),
        (
            [START, START],
            "'http.response.start' sent twice (after the response started). "
            "Expected next: 'http.response.body' or 'http.response.pathsend' ",
        ),
        (
            [START, body(), body()],
            "'http.response.body' sent after the response completed. Expected next: nothing more",
        ),
    ],
)
def test_protocol_violations_name_what_was_expected(messages: list[Message], error: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    with pytest.raises(RuntimeError) as info:
        TestClient(app, raise_server_exceptions=False).get("/")
    assert error in str(info.value)


def test_app_returning_without_start_is_an_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        pass

    with pytest.raises(
        RuntimeError, match=re.escape("returned without sending 'http.response.start'")
    ):
        TestClient(app).get("/")


def test_app_returning_before_the_final_body_is_an_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(body(b"partial", more=True))

    with pytest.raises(
        RuntimeError, match=re.escape("before sending the final 'http.response.body'")
    ):
        TestClient(app).get("/")


async def fails_before_start(scope: Scope, receive: Receive, send: Send) -> None:
    raise ValueError("boom")


async def fails_mid_body(scope: Scope, receive: Receive, send: Send) -> None:
    await send(START)
    await send(body(b"partial", more=True))
    raise ValueError("boom")


async def fails_after_response(scope: Scope, receive: Receive, send: Send) -> None:
    await hello(scope, receive, send)
    raise ValueError("boom")


@pytest.mark.parametrize("app", [fails_before_start, fails_mid_body, fails_after_response])
def test_app_exception_is_reraised_in_the_test(app: ASGIApp) -> None:
    with pytest.raises(ValueError, match="boom"):
        TestClient(app).get("/")


def test_app_exception_before_start_gives_500_when_not_raising() -> None:
    response = TestClient(fails_before_start, raise_server_exceptions=False).get("/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_app_exception_mid_body_ends_the_body_when_not_raising() -> None:
    response = TestClient(fails_mid_body, raise_server_exceptions=False).get("/")
    assert (response.status_code, response.content) == (200, b"partial")


def test_work_after_the_response_finishes_before_the_request_returns() -> None:
    done: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await hello(scope, receive, send)
        await anyio.sleep(0.05)
        done.append(True)

    assert TestClient(app).get("/").text == "hello"
    assert done == [True]


def test_silent_app_times_out_and_is_cancelled() -> None:
    cancelled = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"sent no message within 0\.2 s"):
        TestClient(app, timeout=0.2).get("/")
    assert time.monotonic() - started < 2
    assert cancelled.is_set()


def test_per_request_timeout_overrides_the_client_timeout() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep(0.3)
        await hello(scope, receive, send)

    client = TestClient(app, timeout=0.1)
    assert client.get("/", timeout=2).text == "hello"


async def ignores_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    await send(START)
    await send(body(b"first", more=True))
    await anyio.sleep_forever()


def test_app_still_running_after_early_close_is_cancelled_and_reported() -> None:
    with (
        pytest.raises(TimeoutError, match=r"did not return within 0\.2 s"),
        TestClient(ignores_disconnect, timeout=0.2).stream("GET", "/") as response,
    ):
        next(response.iter_bytes())


def test_app_still_running_after_early_close_is_cancelled_quietly_when_not_raising() -> None:
    client = TestClient(ignores_disconnect, raise_server_exceptions=False, timeout=0.2)
    with client.stream("GET", "/") as response:
        assert next(response.iter_bytes()) == b"first"


def test_body_that_stalls_times_out() -> None:
    with pytest.raises(TimeoutError, match="sending the body"):
        TestClient(ignores_disconnect, timeout=0.2).get("/")


def test_debug_info_lands_in_response_extensions() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.debug", "info": {"template": "index.html"}})
        await hello(scope, receive, send)

    response = TestClient(app).get("/")
    assert response.extensions["http.response.debug"] == {"template": "index.html"}


def test_requests_share_one_event_loop_inside_with() -> None:
    threads: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            threads.append(threading.get_ident())
            await hello(scope, receive, send)

    with TestClient(app) as client:
        client.get("/")
        client.get("/")
    assert len(threads) == 2
    assert threads[0] == threads[1]


def test_redirects_are_followed_by_default() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/old":
            await send({**START, "status": 307, "headers": [(b"location", b"/new")]})
            await send(body())
        else:
            await hello(scope, receive, send)

    client = TestClient(app)
    assert client.get("/old").url == "http://testserver/new"
    assert client.get("/old", follow_redirects=False).status_code == 307


# Lifespan


def lifespan_app(
    events: list[str], startup: str = "complete", shutdown: str = "complete"
) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            events.append(f"request state={scope['state']}")
            scope["state"]["mutated"] = True
            await hello(scope, receive, send)
            return
        await receive()
        scope["state"]["db"] = "connected"
        events.append("startup")
        await send({"type": f"lifespan.startup.{startup}", "message": "no database"})
        if startup == "failed":
            return
        await receive()
        events.append("shutdown")
        await send({"type": f"lifespan.shutdown.{shutdown}", "message": "cannot flush"})

    return app


def test_lifespan_runs_around_the_with_block() -> None:
    events: list[str] = []
    with TestClient(lifespan_app(events)) as client:
        assert events == ["startup"]
        client.get("/")
    assert events == ["startup", "request state={'db': 'connected'}", "shutdown"]


def test_lifespan_state_is_shallow_copied_into_each_request() -> None:
    events: list[str] = []
    with TestClient(lifespan_app(events)) as client:
        client.get("/")
        client.get("/")
    assert events[1] == events[2] == "request state={'db': 'connected'}"


def test_lifespan_startup_failed_raises_with_the_message() -> None:
    app = lifespan_app([], startup="failed")
    with pytest.raises(RuntimeError, match="Lifespan startup failed: no database"):
        TestClient(app).__enter__()


def test_lifespan_shutdown_failed_raises_with_the_message() -> None:
    app = lifespan_app([], shutdown="failed")
    client = TestClient(app)
    with pytest.raises(RuntimeError, match="Lifespan shutdown failed: cannot flush"), client:
        pass


async def http_only_raising(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        raise ValueError("only http")
    await hello(scope, receive, send)


async def http_only_returning(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await hello(scope, receive, send)


@pytest.mark.parametrize("app", [http_only_raising, http_only_returning])
def test_app_without_lifespan_support_is_tolerated(app: ASGIApp) -> None:
    with TestClient(app) as client:
        assert client.get("/").text == "hello"


def test_lifespan_that_never_answers_times_out() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep_forever()

    with pytest.raises(TimeoutError, match="starting"):
        TestClient(app, timeout=0.2).__enter__()


def test_lifespan_app_exception_at_shutdown_is_reraised() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise ValueError("shutdown crashed")

    with pytest.raises(ValueError, match="shutdown crashed"), TestClient(app):
        pass


def test_client_can_run_the_lifespan_twice() -> None:
    events: list[str] = []
    client = TestClient(lifespan_app(events))
    with client:
        pass
    with client:
        pass
    assert events == ["startup", "shutdown", "startup", "shutdown"]


# WebSocket


async def echo_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({**message, "type": "websocket.send"})


def test_websocket_echoes_text_bytes_and_json() -> None:
    with TestClient(echo_websocket).websocket_connect("/ws") as websocket:
        websocket.send_text("hi")
        assert websocket.receive_text() == "hi"
        websocket.send_bytes(b"\x00\x01")
        assert websocket.receive_bytes() == b"\x00\x01"
        websocket.send_json({"a": [1, "é"]})
        assert websocket.receive() == {"type": "websocket.send", "text": '{"a":[1,"é"]}'}
        websocket.send_json({"b": 2}, mode="binary")
        assert websocket.receive_json(mode="binary") == {"b": 2}
        websocket.send_json([3])
        assert websocket.receive_json() == [3]


def test_websocket_scope_and_handshake_headers() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.accept"})

    client = TestClient(app, base_url="https://testserver")
    with client.websocket_connect("/ws?x=1", subprotocols=["chat", "v2"], headers={"X-A": "b"}):
        pass
    scope = scopes[0]
    assert (scope["type"], scope["scheme"], scope["path"], scope["query_string"]) == (
        "websocket",
        "wss",
        "/ws",
        b"x=1",
    )
    assert scope["subprotocols"] == ["chat", "v2"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    headers = dict(scope["headers"])
    assert headers[b"sec-websocket-protocol"] == b"chat, v2"
    assert headers[b"upgrade"] == b"websocket"
    assert headers[b"x-a"] == b"b"
    assert "method" not in scope


def test_accepted_subprotocol_and_headers_are_exposed() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {"type": "websocket.accept", "subprotocol": "v2", "headers": [(b"x-server", b"1")]}
        )

    with TestClient(app).websocket_connect("/", subprotocols=["v1", "v2"]) as websocket:
        assert websocket.accepted_subprotocol == "v2"
        assert websocket.extra_headers == [(b"x-server", b"1")]


def test_app_close_raises_websocket_disconnect_with_code_and_reason() -> None:
    after_close: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "go away"})
        after_close.append(await receive())

    with TestClient(app).websocket_connect("/") as websocket:
        with pytest.raises(WebSocketDisconnect) as info:
            websocket.receive()
        assert (info.value.code, info.value.reason) == (4000, "go away")
    assert after_close[0]["type"] == "websocket.disconnect"


def test_client_close_delivers_code_and_reason() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        received.append(await receive())

    with TestClient(app).websocket_connect("/") as websocket:
        websocket.close(4001, "bye")
    assert received == [{"type": "websocket.disconnect", "code": 4001, "reason": "bye"}]


def test_leaving_the_block_disconnects_with_1000() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        received.append(await receive())
        received.append(await receive())  # every later receive reports the disconnect again

    with TestClient(app).websocket_connect("/"):
        pass
    assert [message["code"] for message in received] == [1000, 1000]


def test_close_before_accept_is_a_403_denial() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})

    with pytest.raises(WebSocketDenialResponse) as info:
        TestClient(app).websocket_connect("/").__enter__()
    assert info.value.status_code == 403
    assert "HTTP 403" in str(info.value)


def test_denial_response_carries_status_headers_and_body() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"token"})

    with pytest.raises(WebSocketDenialResponse) as info:
        TestClient(app).websocket_connect("/").__enter__()
    denial = info.value
    assert isinstance(denial, httpx.Response)
    assert (denial.status_code, denial.headers["www-authenticate"], denial.text) == (
        401,
        "Bearer",
        "no token",
    )


async def unfinished_denial(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.http.response.start", "status": 400, "headers": []})
    await send({"type": "websocket.http.response.body", "body": b"part", "more_body": True})


def test_denial_without_final_body_is_an_error() -> None:
    with pytest.raises(RuntimeError, match=re.escape("final 'websocket.http.response.body'")):
        TestClient(unfinished_denial).websocket_connect("/").__enter__()


def test_denial_cut_by_an_exception_keeps_the_partial_body_when_not_raising() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await unfinished_denial(scope, receive, send)
        raise ValueError("boom")

    client = TestClient(app, raise_server_exceptions=False)
    with pytest.raises(WebSocketDenialResponse) as info:
        client.websocket_connect("/").__enter__()
    assert (info.value.status_code, info.value.content) == (400, b"part")


def test_receive_times_out_on_a_silent_app() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    started = time.monotonic()
    with (
        TestClient(app, timeout=5).websocket_connect("/") as websocket,
        pytest.raises(TimeoutError, match=r"within 0\.2 s \(connected\)"),
    ):
        websocket.receive_text(timeout=0.2)
    assert time.monotonic() - started < 2


def test_handshake_times_out_on_a_silent_app() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep_forever()

    with pytest.raises(TimeoutError, match="handshake"):
        TestClient(app, timeout=0.2).websocket_connect("/").__enter__()


async def fails_before_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    raise ValueError("boom")


def test_app_exception_before_accept_is_reraised() -> None:
    with pytest.raises(ValueError, match="boom"):
        TestClient(fails_before_accept).websocket_connect("/").__enter__()


def test_app_exception_before_accept_is_a_500_denial_when_not_raising() -> None:
    client = TestClient(fails_before_accept, raise_server_exceptions=False)
    with pytest.raises(WebSocketDenialResponse) as info:
        client.websocket_connect("/").__enter__()
    assert info.value.status_code == 500


def test_app_returning_without_accept_is_an_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with pytest.raises(RuntimeError, match=re.escape("without sending 'websocket.accept'")):
        TestClient(app).websocket_connect("/").__enter__()


def test_send_before_accept_is_a_protocol_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "too early"})

    with pytest.raises(
        RuntimeError,
        match=r"before 'websocket.accept'. Expected next: 'websocket.accept' or 'websocket.close'",
    ):
        TestClient(app).websocket_connect("/").__enter__()


async def returns_after_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})


async def fails_after_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await returns_after_accept(scope, receive, send)
    raise ValueError("boom")


def test_app_returning_after_accept_reads_as_close_1000() -> None:
    with TestClient(returns_after_accept).websocket_connect("/") as websocket:
        with pytest.raises(WebSocketDisconnect) as info:
            websocket.receive()
        assert info.value.code == 1000
        websocket.send_text("dropped: the app has returned")


def test_app_exception_after_accept_is_reraised_on_receive() -> None:
    with (
        TestClient(fails_after_accept).websocket_connect("/") as websocket,
        pytest.raises(ValueError, match="boom"),
    ):
        websocket.receive()


def test_app_exception_after_accept_is_reraised_when_leaving() -> None:
    with (
        pytest.raises(ValueError, match="boom"),
        TestClient(fails_after_accept).websocket_connect("/"),
    ):
        pass


def test_app_exception_after_accept_reads_as_close_1011_when_not_raising() -> None:
    client = TestClient(fails_after_accept, raise_server_exceptions=False)
    with client.websocket_connect("/") as websocket:
        with pytest.raises(WebSocketDisconnect) as info:
            websocket.receive()
        assert info.value.code == 1011


def test_an_error_in_the_block_wins_over_the_app_error() -> None:
    with pytest.raises(KeyError), TestClient(fails_after_accept).websocket_connect("/"):
        raise KeyError("the test's own error")


def test_receive_text_of_a_bytes_message_is_a_type_error() -> None:
    with TestClient(echo_websocket).websocket_connect("/") as websocket:
        websocket.send_bytes(b"x")
        with pytest.raises(TypeError, match="Expected a text message"):
            websocket.receive_text()
        websocket.send_text("x")
        with pytest.raises(TypeError, match="Expected a bytes message"):
            websocket.receive_bytes()


def test_json_mode_must_be_text_or_binary() -> None:
    with (
        TestClient(echo_websocket).websocket_connect("/") as websocket,
        pytest.raises(ValueError, match="mode must be 'text' or 'binary'"),
    ):
        websocket.send_json({}, mode="xml")  # type: ignore[arg-type]


def test_session_must_be_entered_before_use() -> None:
    session = TestClient(echo_websocket).websocket_connect("/")
    assert isinstance(session, WebSocketTestSession)
    with pytest.raises(RuntimeError, match="not connected"):
        session.send_text("hi")


def test_websocket_sees_the_lifespan_state() -> None:
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["ready"] = True
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
        else:
            seen.append(scope["state"])
            await returns_after_accept(scope, receive, send)

    with TestClient(app) as client, client.websocket_connect("/"):
        pass
    assert seen == [{"ready": True}]
