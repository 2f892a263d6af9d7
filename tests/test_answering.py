"""Errors answered where they are raised, with the handlers of the App in the scope."""

import pytest

from microasgi import (
    App,
    Host,
    HTTPException,
    Mount,
    PlainTextResponse,
    Request,
    Response,
    Route,
    Router,
    WebSocket,
    WebSocketRoute,
)
from microasgi.convertors import Convertor, register_convertor
from microasgi.exceptions import ClientDisconnect
from microasgi.middleware import Middleware
from microasgi.middleware.functional import CallNext, FunctionMiddleware
from microasgi.testclient import TestClient
from microasgi.types import ASGIApp, Receive, Scope, Send
from tests.conftest import HTTPScope, RunApp
from tests.test_applications import HeaderMiddleware


def _teapot(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("handled", status_code=418)


def test_a_bare_router_lets_an_endpoint_error_propagate() -> None:
    async def broken() -> str:
        raise LookupError("no app in the scope, no handlers")

    client = TestClient(Router([Route("/", broken)]))
    with pytest.raises(LookupError):
        client.get("/")


class _CatchValueError:
    """Route or mount middleware that answers a ValueError from inside by itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ValueError:
            await PlainTextResponse("caught", status_code=418)(scope, receive, send)


async def _raise_value_error() -> str:
    raise ValueError("for the middleware to catch")


def test_route_middleware_catching_the_endpoint_error_answers_alone(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = App()
    app.add(Route("/", _raise_value_error, middleware=[Middleware(_CatchValueError)]))
    sent = run_app(app, http_scope("/"))
    # One start: the error reached the middleware unanswered (no 500 went out first).
    assert [message.get("status") for message in sent] == [418, None]


def test_mount_middleware_catching_an_inner_error_answers_alone(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = App()
    app.add(
        Mount(
            "/m", routes=[Route("/", _raise_value_error)], middleware=[Middleware(_CatchValueError)]
        )
    )
    sent = run_app(app, http_scope("/m/"))
    assert [message.get("status") for message in sent] == [418, None]


def test_route_function_middleware_sees_a_client_disconnect_as_nothing_to_answer(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    async def pass_through(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    async def gone(request: Request) -> str:
        raise ClientDisconnect()

    app = App()
    middleware = [Middleware(FunctionMiddleware, dispatch=pass_through)]
    app.add(Route("/", gone, methods=["POST"], middleware=middleware))
    assert run_app(app, http_scope("/", method="POST")) == []


class _Picky(Convertor):
    regex = "[a-z]+"

    def convert(self, value: str) -> str:
        if value == "bad":
            raise HTTPException(422, "bad slug")
        if value == "boom":
            raise LookupError("the convertor failed")
        return value

    def to_string(self, value: str) -> str:
        return value


@pytest.mark.parametrize(("path", "status"), [("/s/bad", 422), ("/s/boom", 409)])
def test_an_error_raised_while_matching_gets_the_handlers_inside_user_middleware(
    path: str, status: int
) -> None:
    register_convertor("answering_picky", _Picky())
    app = App(
        exception_handlers={
            422: lambda request, exc: PlainTextResponse("handled", 422),
            LookupError: lambda request, exc: PlainTextResponse("handled", 409),
        },
        middleware=[Middleware(HeaderMiddleware, "user")],
    )
    app.get("/s/{slug:answering_picky}")(lambda slug: slug)
    response = TestClient(app).get(path)
    assert (response.status_code, response.text) == (status, "handled")
    assert response.headers["x-order"] == "user"


def test_call_next_takes_a_request_subclass_that_skips_its_init() -> None:
    class LazyRequest(Request):
        def __init__(self, scope: Scope, receive: Receive) -> None:
            self.scope = scope
            self._receive = receive

    async def swap(request: Request, call_next: CallNext) -> Response:
        return await call_next(LazyRequest(request.scope, request.receive))

    app = App()
    app.middleware("http")(swap)
    app.get("/")(lambda: "ok")
    assert TestClient(app).get("/").text == "ok"


def test_a_foreign_host_app_failing_before_its_start_gets_the_handlers_at_the_guard() -> None:
    async def foreign(scope: Scope, receive: Receive, send: Send) -> None:
        raise LookupError("failed before its start")

    app = App(
        routes=[Host("api.example.com", foreign)],
        exception_handlers={LookupError: _teapot},
        middleware=[Middleware(HeaderMiddleware, "user")],
    )
    response = TestClient(app, base_url="http://api.example.com").get("/")
    assert (response.status_code, response.text) == (418, "handled")
    # A foreign app's error propagates like a middleware's: the outermost App answers it.
    assert "x-order" not in response.headers


def test_a_404_under_user_middleware_is_answered_inside_it() -> None:
    app = App(
        exception_handlers={404: lambda request, exc: PlainTextResponse("none", 404)},
        middleware=[Middleware(HeaderMiddleware, "user")],
    )
    response = TestClient(app).get("/missing")
    assert (response.status_code, response.text) == (404, "none")
    assert response.headers["x-order"] == "user"


def test_a_websocket_failing_before_accept_in_a_mount_gets_no_http_answer() -> None:
    async def refuse(websocket: WebSocket) -> None:
        raise LookupError("failed before accept")

    app = App(exception_handlers={LookupError: _teapot})
    app.add(Mount("/m", routes=[WebSocketRoute("/ws", refuse)]))
    # The error reaches the server as it is; no HTTP response goes out on the websocket.
    with pytest.raises(LookupError), TestClient(app).websocket_connect("/m/ws"):
        pass


def test_an_error_through_an_inner_mount_reaches_the_outer_mount_middleware_unanswered(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = App()
    inner = Mount("/b", routes=[Route("/x", _raise_value_error)])
    app.add(Mount("/a", routes=[inner], middleware=[Middleware(_CatchValueError)]))
    sent = run_app(app, http_scope("/a/b/x"))
    assert [message.get("status") for message in sent] == [418, None]


def test_call_next_after_a_route_with_middleware_still_gets_the_handlers() -> None:
    def handled(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("handled", status_code=409)

    async def twice(request: Request, call_next: CallNext) -> Response:
        await call_next(request)  # a route with middleware, left paused at its start
        request.scope["path"], request.scope["raw_path"] = "/broken", b"/broken"
        return await call_next(request)

    app = App(exception_handlers={ValueError: handled})
    app.add(Route("/first", lambda: "first", middleware=[Middleware(HeaderMiddleware, "r")]))
    app.add(Route("/broken", _raise_value_error))
    app.middleware("http")(twice)
    response = TestClient(app).get("/first")
    assert (response.status_code, response.text) == (409, "handled")


def test_an_error_through_a_host_reaches_the_outer_mount_middleware_unanswered(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = App()
    host = Host("testserver", Router([Route("/x", _raise_value_error)]))
    app.add(Mount("/a", routes=[host], middleware=[Middleware(_CatchValueError)]))
    sent = run_app(app, http_scope("/a/x"))
    assert [message.get("status") for message in sent] == [418, None]
