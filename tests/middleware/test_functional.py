"""@app.middleware("http"): each test names a trap a naive implementation falls into."""

import contextvars
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from microasgi import (
    App,
    BackgroundTask,
    FileResponse,
    Host,
    HTTPException,
    Mount,
    PlainTextResponse,
    Request,
    Response,
    Route,
    Router,
    StreamingResponse,
)
from microasgi.middleware import Middleware
from microasgi.middleware.functional import CallNext, FunctionMiddleware
from microasgi.testclient import TestClient
from microasgi.types import ASGIApp, Message, Receive, Scope, Send
from tests.conftest import HTTPScope, RunApp

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


@pytest.fixture(autouse=True, params=[True, False], ids=["resolved", "stepped"])
def execution_model(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every test here runs twice: call_next with the resolution shortcut, and without it
    (every request stepped), so that the two execution models cannot drift apart."""
    use_resolution: bool = request.param
    monkeypatch.setattr(FunctionMiddleware, "use_resolution", use_resolution)
    return use_resolution


def test_middleware_can_add_headers_to_the_response() -> None:
    app = App()

    @app.middleware("http")
    async def add_header(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-process"] = "yes"
        return response

    @app.get("/")
    async def home() -> str:
        return "ok"

    response = TestClient(app).get("/")
    assert (response.text, response.headers["x-process"]) == ("ok", "yes")


def test_middleware_can_replace_the_response_without_running_the_rest() -> None:
    cleaned_up = threading.Event()
    app = App()

    @app.middleware("http")
    async def gate(request: Request, call_next: CallNext) -> Response:
        if request.headers.get("x-token") != "secret":
            return PlainTextResponse("denied", status_code=403)
        return await call_next(request)

    @app.middleware("http")
    async def replace_after(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        return PlainTextResponse(f"replaced {response.status_code}")

    class TrackedResponse(PlainTextResponse):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await super().__call__(scope, receive, send)
            finally:
                cleaned_up.set()

    @app.get("/")
    async def home() -> Response:
        return TrackedResponse("original")

    client = TestClient(app)
    assert client.get("/").status_code == 403
    assert not cleaned_up.is_set()
    assert client.get("/", headers={"x-token": "secret"}).text == "replaced 200"
    assert cleaned_up.is_set()


def test_streaming_passes_through_chunk_by_chunk() -> None:
    release = threading.Event()
    app = App()

    @app.middleware("http")
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first"
            assert await anyio.to_thread.run_sync(release.wait, 5)
            yield b"second"

        return StreamingResponse(body())

    client = TestClient(app)
    with client.stream("GET", "/stream") as response:
        chunks = response.iter_bytes()
        # The generator is still blocked, yet the first chunk is already here.
        assert next(chunks) == b"first"
        release.set()
        assert b"".join(chunks) == b"second"


def test_background_task_runs_after_the_response_body() -> None:
    events: list[str] = []
    app = App()

    @app.middleware("http")
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        events.append("middleware got response")
        return response

    async def later() -> None:
        events.append("background")

    @app.get("/")
    async def home() -> Response:
        return PlainTextResponse("done", background=BackgroundTask(later))

    sent_order: list[str] = []

    async def main() -> None:
        async def receive() -> Message:
            await anyio.sleep_forever()
            raise AssertionError  # pragma: no cover

        async def send(message: Message) -> None:
            sent_order.append(message["type"])
            if message["type"] == "http.response.body":
                assert events == ["middleware got response"]

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": [],
            "query_string": b"",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
        }
        await app(scope, receive, send)

    anyio.run(main)
    assert sent_order == ["http.response.start", "http.response.body"]
    assert events == ["middleware got response", "background"]


def test_context_variables_flow_both_ways() -> None:
    seen: dict[str, str] = {}
    app = App()

    @app.middleware("http")
    async def set_context(request: Request, call_next: CallNext) -> Response:
        request_id.set("from-middleware")
        response = await call_next(request)
        seen["after call_next"] = request_id.get()
        return response

    @app.get("/")
    async def home() -> str:
        seen["endpoint"] = request_id.get()
        request_id.set("from-endpoint")
        return "ok"

    TestClient(app).get("/")
    assert seen == {"endpoint": "from-middleware", "after call_next": "from-endpoint"}


def test_endpoint_sees_client_disconnect(run_app: RunApp, http_scope: HTTPScope) -> None:
    seen: list[bool] = []
    app = App()

    @app.middleware("http")
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    @app.get("/")
    async def home(request: Request) -> str:
        seen.append(await request.is_disconnected())
        return "bye"

    # The scripted receive has no messages: the client is gone at once.
    run_app(app, http_scope("/"))
    assert seen == [True]


def test_body_read_in_middleware_is_read_again_by_the_endpoint() -> None:
    app = App()

    @app.middleware("http")
    async def inspect_body(request: Request, call_next: CallNext) -> Response:
        body = await request.body()
        response = await call_next(request)
        response.headers["x-body-length"] = str(len(body))
        return response

    @app.post("/")
    async def echo(request: Request) -> bytes:
        return await request.body()

    response = TestClient(app).post("/", content=b"payload")
    assert response.content == b"payload"
    assert response.headers["x-body-length"] == "7"


def test_body_streamed_in_middleware_is_a_clear_error_for_the_endpoint() -> None:
    app = App()

    @app.middleware("http")
    async def drain(request: Request, call_next: CallNext) -> Response:
        async for _ in request.stream():
            pass
        return await call_next(request)

    @app.post("/")
    async def echo(request: Request) -> bytes:
        return await request.body()

    with pytest.raises(RuntimeError, match="consumed the request body with stream"):
        TestClient(app).post("/", content=b"payload")


def test_endpoint_exceptions_reach_exception_handlers_inside_the_middleware() -> None:
    app = App(exception_handlers={409: lambda request, exc: PlainTextResponse("conflict", 409)})

    @app.middleware("http")
    async def tag(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-tagged"] = "1"
        return response

    @app.get("/")
    async def home() -> str:
        raise HTTPException(409)

    response = TestClient(app).get("/")
    assert (response.status_code, response.text, response.headers["x-tagged"]) == (
        409,
        "conflict",
        "1",
    )


def test_unhandled_error_reaches_the_middleware_then_the_guard_answers_500() -> None:
    app = App()
    seen: list[BaseException] = []

    @app.middleware("http")
    async def tag(request: Request, call_next: CallNext) -> Response:
        try:
            response = await call_next(request)
        except RuntimeError as exc:
            seen.append(exc)
            raise
        response.headers["x-tagged"] = "1"
        return response

    @app.get("/")
    async def home() -> str:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        TestClient(app).get("/")
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert "x-tagged" not in response.headers
    assert [str(exc) for exc in seen] == ["boom", "boom"]


def test_middleware_returning_a_non_response_is_a_type_error() -> None:
    app = App()

    @app.middleware("http")
    async def broken(request: Request, call_next: CallNext) -> Response:
        return "nope"  # type: ignore[return-value]

    with pytest.raises(TypeError, match="return a Response"):
        TestClient(app).get("/")


def test_app_behind_call_next_that_sends_nothing_is_a_clear_error(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    from microasgi.middleware.functional import FunctionMiddleware

    async def silent(scope: object, receive: object, send: object) -> None:
        return None

    async def passthrough(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    with pytest.raises(RuntimeError, match=r"Expected 'http\.response\.start'.*got nothing"):
        run_app(FunctionMiddleware(silent, passthrough), http_scope("/"))


def test_websocket_scopes_pass_straight_through() -> None:
    app = App()

    @app.middleware("http")
    async def never(request: Request, call_next: CallNext) -> Response:
        raise AssertionError("function middleware must not see websockets")

    @app.websocket("/ws")
    async def ws(websocket: object) -> None:
        from microasgi import WebSocket

        assert isinstance(websocket, WebSocket)
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    with TestClient(app).websocket_connect("/ws") as session:
        assert session.receive_text() == "hi"


def test_cancellation_reaches_the_downstream(run_app: RunApp, http_scope: HTTPScope) -> None:
    cancelled = threading.Event()
    app = App()

    @app.middleware("http")
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    @app.get("/")
    async def slow() -> str:
        try:
            await anyio.sleep(10)
        finally:
            cancelled.set()
        return "never"  # pragma: no cover

    async def main() -> None:
        with anyio.move_on_after(0.05):

            async def receive() -> Message:
                await anyio.sleep_forever()
                raise AssertionError  # pragma: no cover

            async def send(message: Message) -> None:
                raise AssertionError("nothing is sent")  # pragma: no cover

            await app(http_scope("/"), receive, send)

    anyio.run(main)
    assert cancelled.is_set()


def test_bad_input_read_in_middleware_gets_its_status_not_a_500() -> None:
    app = App(max_body_size=10)

    @app.middleware("http")
    async def read_json(request: Request, call_next: CallNext) -> Response:
        await request.json()
        return await call_next(request)

    @app.post("/")
    async def echo(request: Request) -> bytes:
        return await request.body()

    client = TestClient(app)
    assert client.post("/", content=b"x" * 100).status_code == 413
    assert client.post("/", content=b"{").status_code == 400
    assert client.post("/", content=b"{}", headers={"content-length": "abc"}).status_code == 400
    assert client.post("/", content=b"{}").content == b"{}"


def test_wsgi_app_behind_function_middleware() -> None:
    from microasgi.middleware.wsgi import WSGIMiddleware

    def wsgi(environ: dict[str, object], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello ", b"from wsgi"]

    app = App()

    @app.middleware("http")
    async def tag(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-tagged"] = "1"
        return response

    app.mount("/wsgi", WSGIMiddleware(wsgi))
    response = TestClient(app).get("/wsgi/")
    assert (response.text, response.headers["x-tagged"]) == ("hello from wsgi", "1")


def test_start_sent_from_another_task_is_a_clear_error() -> None:
    async def sends_from_a_child_task(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_start() -> None:
            await send({"type": "http.response.start", "status": 200})

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(send_start)

    app = App()

    @app.middleware("http")
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    app.mount("/raw", sends_from_a_child_task)
    # The child task's error reaches the test wrapped in the app's task group.
    with pytest.raises(ExceptionGroup) as info:
        TestClient(app).get("/raw/x")
    assert info.group_contains(RuntimeError, match="from another task")


def test_discarded_response_unwinds_a_task_group_behind_it() -> None:
    class HoldsATaskGroup:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(anyio.sleep_forever)
                await self.app(scope, receive, send)
                task_group.cancel_scope.cancel()

    async def replace(request: Request, call_next: CallNext) -> Response:
        await call_next(request)
        return PlainTextResponse("replaced", status_code=403)

    app = App(
        middleware=[Middleware(FunctionMiddleware, dispatch=replace), Middleware(HoldsATaskGroup)]
    )

    @app.get("/")
    async def home() -> str:
        return "original"

    with TestClient(app) as client:
        assert client.get("/").text == "replaced"
        assert client.get("/").status_code == 403  # the portal survived


def test_form_read_in_middleware_is_closed_with_the_request() -> None:
    files: list[Any] = []
    app = App()

    @app.middleware("http")
    async def read_form(request: Request, call_next: CallNext) -> Response:
        form = await request.form()
        files.append(form["upload"])
        return await call_next(request)

    @app.post("/")
    async def home() -> str:
        return "ok"

    response = TestClient(app).post("/", files={"upload": ("a.bin", b"x" * 2_000_000)})
    assert response.text == "ok"
    assert files[0].file.closed


def test_discarded_response_lets_the_endpoint_close_its_form() -> None:
    files: list[Any] = []
    app = App()

    @app.middleware("http")
    async def replace(request: Request, call_next: CallNext) -> Response:
        await call_next(request)
        return PlainTextResponse("replaced")

    @app.post("/")
    async def upload(request: Request) -> str:
        form = await request.form()
        files.append(form["upload"])
        return "stored"

    response = TestClient(app).post("/", files={"upload": ("a.bin", b"x" * 2_000_000)})
    assert response.text == "replaced"
    assert files[0].file.closed


# The shortcut: call_next resolves plain routes to the endpoint's own response -----------


def _tagging_app(**app_options: Any) -> App:
    app = App(**app_options)

    @app.middleware("http")
    async def tag(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-tagged"] = "1"
        return response

    return app


def test_call_next_hands_over_the_endpoints_own_response_when_resolved(
    execution_model: bool,
) -> None:
    built: list[Response] = []
    seen: list[Response] = []
    app = App()

    @app.middleware("http")
    async def keep(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        seen.append(response)
        return response

    @app.get("/items/{item_id:int}")
    async def item(item_id: int) -> Response:
        built.append(PlainTextResponse(f"item {item_id}"))
        return built[-1]

    response = TestClient(app).get("/items/7")
    assert response.text == "item 7"
    # Stepped, call_next gets the start the endpoint's response sent, not the object.
    assert (seen[0] is built[0]) is execution_model
    assert seen[0].status_code == built[0].status_code


@pytest.mark.parametrize(
    ("method", "path", "status", "text"),
    [
        ("GET", "/items/abc", 404, "Not Found"),  # the convertor refuses the value
        ("DELETE", "/items/1", 405, "Method Not Allowed"),
        ("GET", "/nowhere", 404, "Not Found"),
        ("GET", "/guarded", 200, "guarded by route middleware"),
        ("GET", "/sub/inner", 200, "mounted"),
        ("GET", "/items/1/", 200, "item 1"),  # the slash redirect, followed
    ],
)
def test_requests_off_the_shortcut_still_get_their_answer(
    method: str, path: str, status: int, text: str
) -> None:
    app = _tagging_app()

    @app.get("/items/{item_id:int}")
    async def item(item_id: int) -> str:
        return f"item {item_id}"

    async def route_middleware_endpoint() -> str:
        return "guarded by route middleware"

    app.get("/guarded", middleware=[Middleware(_HeaderMiddleware)])(route_middleware_endpoint)
    sub = App()
    sub.get("/inner")(lambda: "mounted")
    app.mount("/sub", sub)

    response = TestClient(app).request(method, path)
    assert (response.status_code, response.text, response.headers["x-tagged"]) == (
        status,
        text,
        "1",
    )


class _HeaderMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def test_host_routes_take_the_stepped_path() -> None:
    app = _tagging_app()
    app.add(Host("api.example.com", Router([Route("/", lambda: "api")])))
    app.get("/")(lambda: "main")
    client = TestClient(app)
    assert client.get("/", headers={"host": "api.example.com"}).text == "api"
    assert client.get("/").text == "main"


def test_response_failing_before_its_start_gets_the_500_handler_outside_the_middleware(
    tmp_path: Path,
) -> None:
    app = _tagging_app(
        exception_handlers={500: lambda request, exc: PlainTextResponse("custom 500", 500)}
    )

    @app.get("/file")
    async def missing() -> FileResponse:
        return FileResponse(tmp_path / "gone.txt")

    response = TestClient(app, raise_server_exceptions=False).get("/file")
    assert (response.status_code, response.text) == (500, "custom 500")
    assert "x-tagged" not in response.headers


def test_file_response_through_the_shortcut_is_sent_whole(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"file body")
    app = _tagging_app()

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(tmp_path / "a.txt")

    response = TestClient(app).get("/file")
    assert (response.text, response.headers["x-tagged"]) == ("file body", "1")


def test_stream_failing_after_its_start_sends_no_second_start(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = _tagging_app()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        raise LookupError("the source broke")

    @app.get("/")
    async def stream() -> StreamingResponse:
        return StreamingResponse(chunks())

    sent: list[Message] = []
    with pytest.raises(LookupError, match="the source broke"):
        run_app(app, http_scope("/"), sent=sent)
    starts = [message for message in sent if message["type"] == "http.response.start"]
    assert len(starts) == 1
    assert (b"x-tagged", b"1") in starts[0]["headers"]


def _upload_app(files: list[Any], fail: bool) -> App:
    app = _tagging_app()

    @app.post("/")
    async def upload(request: Request) -> str:
        form = await request.form()
        files.append(form["upload"])
        if fail:
            raise HTTPException(422, "no thanks")
        return f"stored {len(files)}"

    return app


@pytest.mark.parametrize("fail", [False, True])
def test_form_read_by_a_resolved_endpoint_is_closed(fail: bool) -> None:
    files: list[Any] = []
    app = _upload_app(files, fail)
    response = TestClient(app).post("/", files={"upload": ("a.bin", b"x" * 2_000_000)})
    assert response.status_code == (422 if fail else 200)
    assert response.headers["x-tagged"] == "1"
    assert files[0].file.closed


def test_calling_call_next_twice_sends_the_chosen_response_and_closes_both_forms() -> None:
    files: list[Any] = []
    app = App()

    @app.middleware("http")
    async def twice(request: Request, call_next: CallNext) -> Response:
        await request.body()
        first = await call_next(request)
        second = await call_next(request)
        assert first is not second
        return second

    @app.post("/")
    async def upload(request: Request) -> str:
        form = await request.form()
        files.append(form["upload"])
        return f"call {len(files)}"

    response = TestClient(app).post("/", files={"upload": ("a.bin", b"x" * 2_000)})
    assert response.text == "call 2"
    assert len(files) == 2
    assert all(upload.file.closed for upload in files)


def test_mount_level_function_middleware_over_a_router_lets_errors_reach_the_app() -> None:
    # Behind this middleware is a bare Router: it resolves, but has no handlers of its own.
    async def tag(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-mounted"] = "1"
        return response

    async def ok() -> str:
        return "fine"

    async def broken() -> str:
        raise HTTPException(418, "teapot")

    app = App()
    app.add(
        Mount(
            "/api",
            routes=[Route("/ok", ok), Route("/broken", broken)],
            middleware=[Middleware(FunctionMiddleware, dispatch=tag)],
        )
    )
    client = TestClient(app)
    response = client.get("/api/ok")
    assert (response.text, response.headers["x-mounted"]) == ("fine", "1")
    response = client.get("/api/broken")
    assert (response.status_code, response.text) == (418, "teapot")
    assert response.headers["x-mounted"] == "1"  # handled innermost, inside the middleware


def test_background_task_failing_after_a_resolved_response_is_raised_after_the_body(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = _tagging_app()

    async def fail() -> None:
        raise LookupError("background broke")

    @app.get("/")
    async def home() -> PlainTextResponse:
        return PlainTextResponse("sent", background=BackgroundTask(fail))

    sent: list[Message] = []
    with pytest.raises(LookupError, match="background broke"):
        run_app(app, http_scope("/"), sent=sent)
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"sent"


# Found in review: the shortcut must behave as the stepped path does ---------------------


@pytest.mark.parametrize("streamed", [False, True])
def test_a_background_task_set_by_middleware_runs_after_the_endpoints_own(streamed: bool) -> None:
    ran: list[str] = []
    app = App()

    @app.middleware("http")
    async def audit(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.background = BackgroundTask(ran.append, "middleware")
        return response

    async def chunks() -> AsyncIterator[bytes]:
        yield b"ok"

    @app.get("/")
    async def home() -> Response:
        task = BackgroundTask(ran.append, "endpoint")
        if streamed:
            return StreamingResponse(chunks(), background=task)
        return PlainTextResponse("ok", background=task)

    assert TestClient(app).get("/").text == "ok"
    assert ran == ["endpoint", "middleware"]


class _ResolvingSomethingElse:
    """Pure ASGI middleware with a method that happens to be called resolve."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def resolve(self, host: str) -> str:
        return host.upper()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def test_an_unrelated_resolve_method_is_not_taken_for_the_shortcut() -> None:
    app = _tagging_app()
    app.add_middleware(_ResolvingSomethingElse)  # inside the function middleware
    app.get("/")(lambda: "hello")
    response = TestClient(app).get("/")
    assert (response.status_code, response.text, response.headers["x-tagged"]) == (
        200,
        "hello",
        "1",
    )


def test_mount_level_middleware_can_catch_a_response_failing_before_its_start(
    tmp_path: Path,
) -> None:
    async def fallback(request: Request, call_next: CallNext) -> Response:
        try:
            return await call_next(request)
        except RuntimeError:
            return PlainTextResponse("fallback", status_code=503)

    async def download() -> FileResponse:
        return FileResponse(tmp_path / "missing.pdf")

    app = App()
    app.add(
        Mount(
            "/files",
            routes=[Route("/report", download)],
            middleware=[Middleware(FunctionMiddleware, dispatch=fallback)],
        )
    )
    response = TestClient(app).get("/files/report")
    assert (response.status_code, response.text) == (503, "fallback")
