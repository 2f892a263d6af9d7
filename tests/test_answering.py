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
from microasgi.middleware import Middleware
from microasgi.middleware.exceptions import ExceptionMiddleware
from microasgi.testclient import TestClient
from microasgi.types import Receive, Scope, Send
from tests.test_applications import HeaderMiddleware


def _teapot(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("handled", status_code=418)


def test_a_bare_router_lets_an_endpoint_error_propagate() -> None:
    async def broken() -> str:
        raise LookupError("no app in the scope, no handlers")

    client = TestClient(Router([Route("/", broken)]))
    with pytest.raises(LookupError):
        client.get("/")


def test_route_middleware_sees_the_handlers_answer() -> None:
    async def broken() -> str:
        raise LookupError("answered at the route")

    app = App(exception_handlers={LookupError: _teapot})
    app.add(Route("/", broken, middleware=[Middleware(HeaderMiddleware, "route")]))
    response = TestClient(app).get("/")
    assert (response.status_code, response.text) == (418, "handled")
    assert response.headers["x-order"] == "route"


def test_a_host_app_failing_before_its_start_gets_the_handlers_inside_the_middleware() -> None:
    async def foreign(scope: Scope, receive: Receive, send: Send) -> None:
        raise LookupError("failed before its start")

    app = App(
        routes=[Host("api.example.com", foreign)],
        exception_handlers={LookupError: _teapot},
        middleware=[Middleware(HeaderMiddleware, "user")],
    )
    response = TestClient(app, base_url="http://api.example.com").get("/")
    assert (response.status_code, response.text) == (418, "handled")
    assert response.headers["x-order"] == "user"


def test_a_404_under_user_middleware_is_answered_inside_it() -> None:
    app = App(
        exception_handlers={404: lambda request, exc: PlainTextResponse("none", 404)},
        middleware=[Middleware(HeaderMiddleware, "user")],
    )
    response = TestClient(app).get("/missing")
    assert (response.status_code, response.text) == (404, "none")
    assert response.headers["x-order"] == "user"


def test_exception_middleware_as_a_layer_answers_what_escapes_its_app() -> None:
    async def broken() -> str:
        raise HTTPException(409, "conflict")

    router = Router([Route("/", broken)])
    response = TestClient(ExceptionMiddleware(router, {})).get("/")
    assert (response.status_code, response.text) == (409, "conflict")


def test_exception_middleware_as_a_layer_passes_websockets_through() -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    router = Router([WebSocketRoute("/ws", echo)])
    with TestClient(ExceptionMiddleware(router, {})).websocket_connect("/ws") as websocket:
        websocket.send_text("ping")
        assert websocket.receive_text() == "ping"


def test_a_websocket_failing_before_accept_in_a_mount_gets_no_http_answer() -> None:
    async def refuse(websocket: WebSocket) -> None:
        raise LookupError("failed before accept")

    app = App(exception_handlers={LookupError: _teapot})
    app.add(Mount("/m", routes=[WebSocketRoute("/ws", refuse)]))
    # The error reaches the server as it is; no HTTP response goes out on the websocket.
    with pytest.raises(LookupError), TestClient(app).websocket_connect("/m/ws"):
        pass
