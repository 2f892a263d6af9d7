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


# annotations that disagree with the convertor


def test_int_annotation_on_a_str_path_param_names_the_fix() -> None:
    app = App()
    with pytest.raises(TypeError, match=r"\{user_id:int\}"):

        @app.get("/users/{user_id}")
        async def user(user_id: int) -> str:
            return str(user_id)


@pytest.mark.parametrize(
    ("path", "annotation", "fix"),
    [
        ("/{x}", float, "{x:float}"),
        ("/{x}", uuid.UUID, "{x:uuid}"),
        ("/{x:int}", str, "{x}"),
        ("/{x:path}", int, "{x:int}"),
        ("/{x:float}", int, "{x:int}"),
    ],
)
def test_annotation_convertor_mismatches(path: str, annotation: type, fix: str) -> None:
    async def endpoint(x: Any) -> str:
        return "x"

    endpoint.__annotations__["x"] = annotation
    with pytest.raises(TypeError, match=fix.replace("{", r"\{").replace("}", r"\}")):
        Route(path, endpoint)


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


def test_string_annotations_are_checked_too() -> None:
    async def endpoint(x: "int") -> str:
        return "x"

    with pytest.raises(TypeError, match=r"\{x:int\}"):
        Route("/{x}", endpoint)


def test_websocket_path_params_are_checked_too() -> None:
    async def chat(websocket: WebSocket, room: int) -> None:
        pass

    with pytest.raises(TypeError, match=r"\{room:int\}"):
        WebSocketRoute("/rooms/{room}", chat)


def test_class_endpoint_methods_are_checked_too() -> None:
    class Users:
        async def get(self, user_id: int) -> str:
            return "u"

    with pytest.raises(TypeError, match=r"\{user_id:int\}"):
        Route("/users/{user_id}", Users)


def test_a_defaulted_parameter_that_is_no_path_parameter_is_refused() -> None:
    async def search(request: Request, page: int = 1) -> str:
        return str(page)

    with pytest.raises(TypeError, match="query_params") as raised:
        Route("/search", search)
    assert "'page'" in str(raised.value)


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
