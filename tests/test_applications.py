"""App: decorators, the middleware stack, error handling and the ASGI surface."""

from typing import Any

import pytest

from microasgi import App, HTTPException, PlainTextResponse, Request, Response, Route, Router
from microasgi.exceptions import ClientDisconnect
from microasgi.middleware import Middleware
from microasgi.testclient import TestClient
from microasgi.types import ASGIApp, Message, Receive, Scope, Send
from tests.conftest import HTTPScope, RunApp


class HeaderMiddleware:
    """Adds ``x-order: <label>`` to every response, so tests can see the stack order."""

    def __init__(self, app: ASGIApp, label: str) -> None:
        self.app = app
        self.label = label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-order", self.label.encode())]
            await send(message)

        await self.app(scope, receive, send_with_header)


class RaisingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("middleware broke")


def test_every_method_decorator_registers_its_method() -> None:
    app = App()

    @app.get("/r")
    async def get() -> str:
        return "get"

    @app.post("/r")
    async def post() -> str:
        return "post"

    @app.put("/r")
    async def put() -> str:
        return "put"

    @app.patch("/r")
    async def patch() -> str:
        return "patch"

    @app.delete("/r")
    async def delete() -> str:
        return "delete"

    @app.options("/r")
    async def options() -> str:
        return "options"

    client = TestClient(app)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert client.request(method, "/r").text == method.lower()


def test_route_decorator_with_methods_and_add_route() -> None:
    app = App()

    @app.route("/both", methods=["GET", "POST"])
    async def both(request: Request) -> str:
        return request.method

    async def plain() -> str:
        return "plain"

    app.add_route("/plain", plain)
    client = TestClient(app)
    assert client.post("/both").text == "POST"
    assert client.get("/plain").text == "plain"
    assert [getattr(route, "path", None) for route in app.routes] == ["/both", "/plain"]


def test_routes_argument_and_url_path_for() -> None:
    async def item(item_id: int) -> str:
        return str(item_id)

    app = App(routes=[Route("/items/{item_id:int}", item, name="item")])
    assert app.url_path_for("item", item_id=3) == "/items/3"
    assert TestClient(app).get("/items/3").text == "3"


def test_middleware_list_first_is_outermost_and_add_middleware_appends() -> None:
    async def home() -> str:
        return "ok"

    listed = App(
        routes=[Route("/", home)],
        middleware=[Middleware(HeaderMiddleware, "outer"), Middleware(HeaderMiddleware, "inner")],
    )
    added = App(routes=[Route("/", home)])
    added.add_middleware(HeaderMiddleware, "outer")
    added.add_middleware(HeaderMiddleware, label="inner")
    # The innermost middleware sees the start message first, so its header comes first.
    for app in (listed, added):
        assert TestClient(app).get("/").headers.get_list("x-order") == ["inner", "outer"]


def test_add_middleware_once_serving_is_a_runtime_error() -> None:
    app = App()

    @app.get("/")
    async def home() -> str:
        return "ok"

    TestClient(app).get("/")
    with pytest.raises(RuntimeError, match="after the app has started serving"):
        app.add_middleware(HeaderMiddleware, "late")


def test_unknown_scope_type_is_a_clear_error(run_app: RunApp) -> None:
    with pytest.raises(ValueError, match="Unsupported ASGI scope type 'telepathy'"):
        run_app(App(), {"type": "telepathy"})


def test_http_exception_becomes_its_status_and_detail() -> None:
    app = App()

    @app.get("/teapot")
    async def teapot() -> str:
        raise HTTPException(418, "short and stout", headers={"x-tea": "earl grey"})

    response = TestClient(app).get("/teapot")
    assert (response.status_code, response.text) == (418, "short and stout")
    assert response.headers["x-tea"] == "earl grey"


@pytest.mark.parametrize("status_code", [204, 304])
def test_http_exception_without_body_statuses(status_code: int) -> None:
    app = App()

    @app.get("/")
    async def home() -> str:
        raise HTTPException(status_code)

    response = TestClient(app).get("/")
    assert response.status_code == status_code
    assert response.content == b""
    assert "content-length" not in response.headers


def test_handler_by_status_code_also_catches_router_404() -> None:
    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"nothing at {request.url.path}", status_code=404)

    app = App(exception_handlers={404: not_found})
    response = TestClient(app).get("/missing")
    assert (response.status_code, response.text) == (404, "nothing at /missing")


def test_handler_by_class_uses_the_mro_and_sync_handlers_work() -> None:
    class AppError(Exception):
        pass

    class PaymentError(AppError):
        pass

    app = App()

    @app.exception_handler(AppError)
    def app_error(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"handled {type(exc).__name__}", status_code=402)

    @app.get("/pay")
    async def pay() -> str:
        raise PaymentError()

    response = TestClient(app).get("/pay")
    assert (response.status_code, response.text) == (402, "handled PaymentError")


def test_status_handler_wins_over_class_handler_for_http_exceptions() -> None:
    app = App()
    app.add_exception_handler(HTTPException, lambda request, exc: PlainTextResponse("class", 400))
    app.add_exception_handler(403, lambda request, exc: PlainTextResponse("status", 403))

    @app.get("/forbidden")
    async def forbidden() -> str:
        raise HTTPException(403)

    @app.get("/bad")
    async def bad() -> str:
        raise HTTPException(400)

    client = TestClient(app)
    assert client.get("/forbidden").text == "status"
    assert client.get("/bad").text == "class"


def test_unhandled_error_is_a_bare_500_then_reraised() -> None:
    app = App()

    @app.get("/boom")
    async def boom() -> str:
        raise ValueError("secret detail")

    with pytest.raises(ValueError, match="secret detail"):
        TestClient(app).get("/boom")
    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert "secret" not in response.text


def test_500_handler_runs_and_error_is_still_reraised() -> None:
    seen: list[str] = []

    async def on_500(request: Request, exc: Exception) -> Response:
        seen.append(str(exc))
        return PlainTextResponse("custom 500", status_code=500)

    app = App(exception_handlers={500: on_500})

    @app.get("/boom")
    async def boom() -> str:
        raise KeyError("lost")

    with pytest.raises(KeyError):
        TestClient(app).get("/boom")
    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert (response.status_code, response.text) == (500, "custom 500")
    assert seen == ["'lost'", "'lost'"]


def test_exception_class_handler_is_the_500_handler() -> None:
    app = App(exception_handlers={Exception: lambda request, exc: PlainTextResponse("any", 500)})

    @app.get("/boom")
    async def boom() -> str:
        raise ZeroDivisionError()

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert (response.status_code, response.text) == (500, "any")


def test_debug_shows_a_plain_traceback_or_an_html_page() -> None:
    app = App(debug=True)

    @app.get("/boom")
    async def boom() -> str:
        raise ValueError("<visible detail>")

    client = TestClient(app, raise_server_exceptions=False)
    plain = client.get("/boom")
    assert plain.status_code == 500
    assert plain.headers["content-type"].startswith("text/plain")
    assert "Traceback" in plain.text
    assert "<visible detail>" in plain.text
    page = client.get("/boom", headers={"accept": "text/html,*/*"})
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;visible detail&gt;" in page.text


def test_handled_errors_are_answered_inside_user_middleware_unhandled_outside() -> None:
    app = App(middleware=[Middleware(HeaderMiddleware, "cors-like")])

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("x")

    @app.get("/denied")
    async def denied() -> str:
        raise HTTPException(401)

    client = TestClient(app, raise_server_exceptions=False)
    # Unhandled: it propagated through the middleware; the outermost guard answered.
    assert "x-order" not in client.get("/boom").headers
    assert client.get("/denied").headers["x-order"] == "cors-like"
    assert client.get("/nowhere").headers["x-order"] == "cors-like"


def test_guard_answers_500_for_errors_raised_by_middleware() -> None:
    app = App(middleware=[Middleware(RaisingMiddleware)])
    with pytest.raises(RuntimeError, match="middleware broke"):
        TestClient(app).get("/")
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_error_after_response_started_sends_no_second_start(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    class LateFailure(Response):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise RuntimeError("failed mid-body")

    app = App()

    @app.get("/")
    async def home() -> Response:
        return LateFailure()

    sent: list[Message] = []
    with pytest.raises(RuntimeError, match="failed mid-body"):
        run_app(app, http_scope("/"), sent=sent)
    assert [message["type"] for message in sent] == ["http.response.start"]


def test_client_disconnect_while_reading_body_sends_nothing(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = App()

    @app.post("/upload")
    async def upload(request: Request) -> str:
        await request.body()
        return "never"

    messages: list[Message] = [{"type": "http.request", "body": b"a", "more_body": True}]
    sent = run_app(app, http_scope("/upload", method="POST"), messages)
    assert sent == []


def test_mounted_app_gets_its_own_app_and_handlers() -> None:
    inner = App(exception_handlers={404: lambda request, exc: PlainTextResponse("inner 404", 404)})

    @inner.get("/who")
    async def who(request: Request) -> str:
        return "inner" if request.app is inner else "outer"

    outer = App()
    outer.mount("/inner", inner, name="inner")
    client = TestClient(outer)
    assert client.get("/inner/who").text == "inner"
    assert client.get("/inner/missing").text == "inner 404"
    assert outer.url_path_for("inner:who") == "/inner/who"


def test_include_router_on_app() -> None:
    router = Router()

    @router.get("/ping")
    async def ping() -> str:
        return "pong"

    app = App()
    app.include_router(router, prefix="/api")
    assert TestClient(app).get("/api/ping").text == "pong"


def test_state_attribute_and_startup_decorators_register() -> None:
    app = App()
    calls: list[str] = []

    @app.on_startup
    def started() -> None:
        calls.append("start")

    @app.on_shutdown
    async def stopped() -> None:
        calls.append("stop")

    app.state.answer = 42
    with TestClient(app):
        assert calls == ["start"]
    assert calls == ["start", "stop"]
    assert app.state.answer == 42


def test_function_middleware_only_accepts_http() -> None:
    with pytest.raises(ValueError, match='Only "http"'):
        App().middleware("websocket")


def test_app_default_body_limit_and_route_override() -> None:
    app = App(max_body_size=4)

    @app.post("/small")
    async def small(request: Request) -> bytes:
        return await request.body()

    @app.post("/large", max_body_size=None)
    async def large(request: Request) -> bytes:
        return await request.body()

    client = TestClient(app)
    assert client.post("/small", content=b"12345").status_code == 413
    assert client.post("/large", content=b"12345").content == b"12345"


def test_routes_property_lists_router_routes() -> None:
    app = App()

    @app.get("/a")
    async def a() -> dict[str, Any]:
        return {}

    assert app.routes is app.router.routes
    assert len(app.routes) == 1


def test_failing_exception_handler_still_answers_500_and_its_error_is_raised() -> None:
    def broken_handler(request: Request, exc: Exception) -> Response:
        raise RuntimeError("handler broke")

    app = App(exception_handlers={LookupError: broken_handler})

    @app.get("/")
    async def home() -> str:
        raise KeyError("k")

    with pytest.raises(RuntimeError, match="handler broke") as raised:
        TestClient(app).get("/")
    assert isinstance(raised.value.__cause__, KeyError)  # chained: nothing is swallowed
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


class _RaisingMiddleware:
    """Pure ASGI middleware (not marking its errors) that fails before calling the app."""

    def __init__(self, app: ASGIApp, error: Exception) -> None:
        self.app = app
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise self.error


def test_the_built_stack_is_a_complete_asgi_app_on_its_own(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    # The guard is App.__call__ itself: the stack it builds lets errors propagate.
    app = App(middleware=[Middleware(_RaisingMiddleware, LookupError("early"))])
    sent: list[Message] = []
    with pytest.raises(LookupError, match="early"):
        run_app(app.build_middleware_stack(), http_scope("/"), sent=sent)
    assert sent == []


def test_client_gone_while_middleware_works_is_not_an_error(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = App(middleware=[Middleware(_RaisingMiddleware, ClientDisconnect())])
    assert run_app(app, http_scope("/")) == []


def test_only_a_router_or_its_dispatch_offers_the_shortcut() -> None:
    from microasgi.resolution import resolver_of

    async def foreign(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("not run")

    router = App().router
    assert resolver_of(foreign) is None
    assert resolver_of(router) is not None
    assert resolver_of(router.dispatch) is not None
    # Another method of the router is not the router.
    assert resolver_of(router.url_path_for) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("with_user_middleware", [False, True])
def test_a_subclass_wrapping_the_built_stack_serves_http_through_it(
    with_user_middleware: bool,
) -> None:
    class TaggedApp(App):
        def build_middleware_stack(self) -> ASGIApp:
            return HeaderMiddleware(super().build_middleware_stack(), "wrapped")

    app = TaggedApp()
    if with_user_middleware:
        app.add_middleware(HeaderMiddleware, "user")
    app.get("/")(lambda: "hi")
    response = TestClient(app).get("/")
    assert response.text == "hi"
    # The subclass's wrapper is outermost, so its header comes last.
    assert response.headers.get_list("x-order")[-1] == "wrapped"


def test_without_user_middleware_the_stack_is_just_the_router_dispatch() -> None:
    app = App()
    assert app.build_middleware_stack() == app.router.dispatch
    with_middleware = App(middleware=[Middleware(HeaderMiddleware, "x")])
    assert isinstance(with_middleware.build_middleware_stack(), HeaderMiddleware)


async def _raw_fails_before_start(scope: Scope, receive: Receive, send: Send) -> None:
    raise LookupError("foreign app failed early")


async def _raw_fails_after_start(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise LookupError("foreign app failed late")


def test_mounted_foreign_app_failing_before_start_gets_the_handlers() -> None:
    app = App(exception_handlers={LookupError: lambda request, exc: PlainTextResponse("x", 409)})
    app.mount("/raw", _raw_fails_before_start)
    assert TestClient(app).get("/raw/anything").status_code == 409


def test_mounted_foreign_app_failing_after_start_sends_no_second_start(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = App()
    app.mount("/raw", _raw_fails_after_start)
    sent: list[Message] = []
    with pytest.raises(LookupError, match="failed late"):
        run_app(app, http_scope("/raw/x"), sent=sent)
    assert [message["type"] for message in sent] == ["http.response.start"]


def test_route_middleware_failing_after_start_sends_no_second_start(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    class StartsThenFails:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await _raw_fails_after_start(scope, receive, send)

    app = App()

    @app.get("/", middleware=[Middleware(StartsThenFails)])
    async def home() -> str:
        return "never"

    sent: list[Message] = []
    with pytest.raises(LookupError):
        run_app(app, http_scope("/"), sent=sent)
    assert [message["type"] for message in sent] == ["http.response.start"]


def test_error_answered_by_a_mounted_app_is_not_answered_again(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    inner = App()

    @inner.get("/boom")
    async def boom() -> str:
        raise ValueError("inner")

    outer = App(middleware=[Middleware(HeaderMiddleware, "outer")])
    outer.mount("/inner", inner)
    sent: list[Message] = []
    with pytest.raises(ValueError, match="inner"):
        run_app(outer, http_scope("/inner/boom"), sent=sent)
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 500


def test_response_failing_before_its_start_gets_the_500_handler_outside_middleware() -> None:
    from microasgi import FileResponse

    app = App(
        middleware=[Middleware(HeaderMiddleware, "outer")],
        exception_handlers={500: lambda request, exc: PlainTextResponse("custom 500", 500)},
    )

    @app.get("/missing")
    async def missing() -> Response:
        return FileResponse("/nonexistent/file.txt")

    response = TestClient(app, raise_server_exceptions=False).get("/missing")
    assert (response.status_code, response.text) == (500, "custom 500")
    assert "x-order" not in response.headers  # unhandled: the guard answered


def test_exception_handler_reading_a_form_closes_it() -> None:
    files: list[Any] = []

    async def on_teapot(request: Request, exc: Exception) -> Response:
        form = await request.form()
        files.append(form["upload"])
        return PlainTextResponse("handled", status_code=418)

    app = App(exception_handlers={418: on_teapot})

    @app.post("/")
    async def home() -> str:
        raise HTTPException(418)

    response = TestClient(app).post("/", files={"upload": ("a.bin", b"x" * 2_000_000)})
    assert response.status_code == 418
    assert files[0].file.closed
