"""Mistakes a new user makes, refused loudly when the route, handler or middleware is
registered instead of failing (or silently doing nothing) per request."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from microasgi import App, Request, Route, WebSocket, WebSocketRoute, endpoints
from microasgi.middleware import Middleware
from microasgi.middleware.functional import FunctionMiddleware
from microasgi.responses import Response
from microasgi.testclient import TestClient


async def ok() -> str:
    return "ok"


# methods given as a string


def test_methods_as_a_string_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"methods=\['POST'\]"):
        Route("/m", ok, methods="POST")


def test_method_names_must_be_strings() -> None:
    with pytest.raises(TypeError, match="method names"):
        Route("/m", ok, methods=[b"POST"])  # type: ignore[list-item]


def test_methods_as_a_list_still_work() -> None:
    assert Route("/m", ok, methods=["post"]).methods == {"POST"}


# a bare decorator


def test_bare_get_decorator_is_a_type_error() -> None:
    app = App()
    with pytest.raises(TypeError, match=r"app\.get\('/path'\)"):
        app.get(ok)  # type: ignore[arg-type]


def test_bare_route_decorator_is_a_type_error() -> None:
    app = App()
    with pytest.raises(TypeError, match="path"):
        app.route(ok)  # type: ignore[arg-type]


# sync websocket endpoints, sync function middleware, handler signatures


def test_sync_websocket_endpoint_is_refused_at_registration() -> None:
    def chat(websocket: WebSocket) -> None:
        pass

    with pytest.raises(TypeError, match="async def"):
        WebSocketRoute("/ws", chat)


def test_async_websocket_endpoint_is_accepted() -> None:
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    app = App(routes=[WebSocketRoute("/ws", chat)])
    with TestClient(app).websocket_connect("/ws"):
        pass


def test_sync_function_middleware_is_refused_when_built() -> None:
    def timing(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        return call_next(request)

    with pytest.raises(TypeError, match="async def"):
        FunctionMiddleware(App(), timing)


def test_sync_function_middleware_fails_when_it_is_registered() -> None:
    app = App()

    def timing(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        return call_next(request)

    with pytest.raises(TypeError, match="async def"):
        app.middleware("http")(timing)
    with pytest.raises(TypeError, match="async def"):
        TestClient(App(middleware=[Middleware(FunctionMiddleware, dispatch=timing)])).get("/")


@pytest.mark.parametrize(
    "handler",
    [
        lambda: None,
        lambda request: None,
        lambda request, exc, extra: None,
        "not callable",
    ],
)
def test_exception_handler_with_a_wrong_signature_is_refused(handler: Any) -> None:
    with pytest.raises(TypeError, match=r"\(request, exc\)"):
        endpoints.check_exception_handler(handler)


@pytest.mark.parametrize(
    "handler",
    [
        lambda request, exc: None,
        lambda request, exc, extra=1: None,
        lambda *args: None,
        min,  # a builtin without a readable signature is trusted
    ],
)
def test_exception_handler_with_a_fitting_signature_is_accepted(handler: Any) -> None:
    endpoints.check_exception_handler(handler)


# annotations on path parameters: a string from the path is converted, a converted value
# must agree with its annotation


def test_int_annotation_on_a_str_path_param_converts_it() -> None:
    app = App()

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> str:
        return repr(user_id)

    client = TestClient(app)
    assert client.get("/users/7").text == "7"
    refused = client.get("/users/seven")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["path", "user_id"]


@pytest.mark.parametrize(
    ("path", "annotation", "fix"),
    [
        ("/{x:int}", str, "{x}"),
        ("/{x:float}", int, "{x:int}"),
        ("/{x:uuid}", int, "{x:int}"),
    ],
)
def test_annotation_convertor_mismatches(path: str, annotation: type, fix: str) -> None:
    async def endpoint(x: Any) -> str:
        return "x"

    endpoint.__annotations__["x"] = annotation
    with pytest.raises(TypeError, match=fix.replace("{", r"\{").replace("}", r"\}")):
        Route(path, endpoint)


@pytest.mark.parametrize(
    ("path", "annotation", "url", "expected"),
    [
        ("/{x}", float, "/1.5", 1.5),
        ("/{x}", uuid.UUID, f"/{uuid.UUID(int=1)}", uuid.UUID(int=1)),
        ("/{x:path}", int, "/12", 12),
    ],
)
def test_a_string_path_param_is_converted_by_its_annotation(
    path: str, annotation: type, url: str, expected: Any
) -> None:
    async def endpoint(x: Any) -> str:
        return repr(x)

    endpoint.__annotations__["x"] = annotation
    assert TestClient(App(routes=[Route(path, endpoint)])).get(url).text == repr(expected)


@pytest.mark.parametrize(
    ("path", "annotation"),
    [
        ("/{x:int}", int),
        ("/{x:int}", float),
        ("/{x}", str),
        ("/{x:uuid}", uuid.UUID),
        ("/{x}", object),
    ],
)
def test_matching_annotations_are_accepted(path: str, annotation: type) -> None:
    async def endpoint(x: Any) -> str:
        return "x"

    endpoint.__annotations__["x"] = annotation
    Route(path, endpoint)


def test_string_annotations_are_resolved_too() -> None:
    async def endpoint(x: "int") -> str:
        return repr(x)

    assert TestClient(App(routes=[Route("/{x}", endpoint)])).get("/4").text == "4"
    with pytest.raises(TypeError, match=r"\{x\}"):
        Route("/{x:int}", _str_annotated)


async def _str_annotated(x: "str") -> str:
    return x


def test_websocket_path_params_are_converted_too() -> None:
    async def chat(websocket: WebSocket, room: int) -> None:
        await websocket.accept()
        await websocket.send_json({"room": room})
        await websocket.close()

    app = App(routes=[WebSocketRoute("/rooms/{room}", chat)])
    with TestClient(app).websocket_connect("/rooms/3") as session:
        assert session.receive_json() == {"room": 3}


def test_class_endpoint_methods_are_converted_too() -> None:
    class Users:
        async def get(self, user_id: int) -> str:
            return repr(user_id)

    assert TestClient(App(routes=[Route("/users/{user_id}", Users)])).get("/users/5").text == "5"


def test_a_defaulted_parameter_outside_the_path_is_a_query_parameter() -> None:
    async def search(request: Request, page: int = 1) -> str:
        return repr(page)

    client = TestClient(App(routes=[Route("/search", search)]))
    assert client.get("/search").text == "1"
    assert client.get("/search?page=3").text == "3"
    assert client.get("/search?page=x").status_code == 422


def test_a_parameter_no_source_can_fill_is_refused_naming_it() -> None:
    async def search(filters: dict[str, int]) -> str:
        return ""

    with pytest.raises(TypeError, match=r"search has parameter 'filters'"):
        Route("/search", search)


# an endpoint that forgot an await


def test_a_returned_coroutine_hints_at_a_missing_await() -> None:
    app = App()

    async def load() -> str:
        return "data"

    @app.get("/")
    async def home() -> Any:
        return load()

    with pytest.raises(TypeError, match="an `await` is probably missing"):
        TestClient(app).get("/")
