"""Endpoints: binding decided at registration, return-value conversion, class endpoints, threads."""

import functools
import threading
from typing import Any

import pytest

from microasgi import (
    App,
    HTMLResponse,
    Request,
    Response,
    Route,
    WebSocket,
    WebSocketRoute,
)
from microasgi.endpoints import endpoint_name, is_async_callable, to_response
from microasgi.testclient import TestClient

# Binding --------------------------------------------------------------------------------


def test_endpoint_without_parameters() -> None:
    app = App()

    @app.get("/")
    async def home() -> str:
        return "home"

    assert TestClient(app).get("/").text == "home"


def test_request_by_name() -> None:
    app = App()

    @app.get("/")
    async def home(request):  # type: ignore[no-untyped-def]
        return request.method

    assert TestClient(app).get("/").text == "GET"


def test_request_by_annotation_under_any_name() -> None:
    app = App()

    @app.get("/")
    async def home(incoming: Request) -> str:
        return incoming.url.path

    assert TestClient(app).get("/").text == "/"


def test_request_by_string_annotation() -> None:
    app = App()

    @app.get("/")
    async def home(incoming: "Request") -> str:
        return type(incoming).__name__

    assert TestClient(app).get("/").text == "Request"


def test_path_params_by_name_with_converted_values() -> None:
    app = App()

    @app.get("/users/{user_id:int}/{tab}")
    async def user(tab: str, user_id: int) -> dict[str, Any]:
        return {"user_id": user_id, "tab": tab}

    assert TestClient(app).get("/users/3/posts").json() == {"user_id": 3, "tab": "posts"}


def test_request_and_path_params_together() -> None:
    app = App()

    @app.get("/users/{user_id:int}")
    async def user(request: Request, user_id: int) -> str:
        return f"{request.method} {user_id}"

    assert TestClient(app).get("/users/3").text == "GET 3"


def test_parameters_with_defaults_outside_the_path_are_query_parameters() -> None:
    app = App()

    async def home(greeting: str = "hello", *, punctuation: str = "!") -> str:
        return greeting + punctuation

    app.add_route("/", home)
    client = TestClient(app)
    assert client.get("/").text == "hello!"
    assert client.get("/?greeting=hi&punctuation=?").text == "hi?"


def test_a_path_param_fills_a_parameter_with_a_default() -> None:
    app = App()

    @app.get("/greet/{greeting}")
    async def greet(greeting: str = "hello") -> str:
        return greeting

    assert TestClient(app).get("/greet/hi").text == "hi"


def test_var_keyword_takes_every_path_param() -> None:
    app = App()

    @app.get("/{a}/{b:int}")
    async def both(request: Request, **params: Any) -> dict[str, Any]:
        return params

    assert TestClient(app).get("/x/2").json() == {"a": "x", "b": 2}


def test_var_positional_is_ignored() -> None:
    app = App()

    @app.get("/{a}")
    async def take(a: str, *args: Any) -> str:
        return a

    assert TestClient(app).get("/x").text == "x"


def test_unbindable_parameter_is_an_error_at_registration() -> None:
    app = App()

    async def show(item_id: int, user: set[int]) -> str:
        return ""

    with pytest.raises(TypeError, match=r"test_endpoints\..*show has parameter 'user'.*set"):
        app.add_route("/items/{item_id:int}", show)


def test_an_unresolvable_annotation_is_an_error_at_registration() -> None:
    async def show(user: "Missing") -> str:  # type: ignore[name-defined]  # noqa: F821
        return ""

    with pytest.raises(TypeError, match=r"parameter 'user' whose annotation 'Missing'"):
        Route("/", show)


def test_positional_only_parameter_is_an_error_at_registration() -> None:
    async def show(item_id: int, /) -> str:
        return ""

    with pytest.raises(TypeError, match=r"show has positional-only parameter 'item_id'"):
        Route("/items/{item_id:int}", show)


def test_unreadable_signature_is_an_error_at_registration() -> None:
    with pytest.raises(TypeError, match="Cannot read the signature of endpoint"):
        Route("/", max)


def test_partial_of_an_async_function_is_awaited() -> None:
    async def greet(greeting: str, name: str) -> str:
        return f"{greeting}, {name}"

    app = App(routes=[Route("/{name}", functools.partial(greet, "hello"))])
    assert TestClient(app).get("/ada").text == "hello, ada"


def test_instance_with_an_async_call_is_awaited() -> None:
    class Greeter:
        async def __call__(self, name: str) -> str:
            return f"hi {name}"

    app = App(routes=[Route("/{name}", Greeter())])
    assert TestClient(app).get("/ada").text == "hi ada"


def test_is_async_callable_sees_through_partials() -> None:
    async def coroutine_function() -> None:
        return None

    def plain() -> None:
        return None

    assert is_async_callable(functools.partial(functools.partial(coroutine_function)))
    assert not is_async_callable(functools.partial(plain))


def test_endpoint_name_is_module_and_qualname() -> None:
    def local() -> None:
        return None

    assert endpoint_name(local) == (
        "tests.test_endpoints.test_endpoint_name_is_module_and_qualname.<locals>.local"
    )
    assert endpoint_name(functools.partial(local)) == "functools.partial"


# Sync endpoints -------------------------------------------------------------------------


def test_sync_endpoint_runs_in_a_worker_thread() -> None:
    threads: dict[str, threading.Thread] = {}
    app = App()

    @app.get("/async")
    async def on_loop() -> str:
        threads["loop"] = threading.current_thread()
        return "loop"

    @app.get("/sync")
    def in_thread() -> str:
        threads["sync"] = threading.current_thread()
        return "thread"

    client = TestClient(app)
    assert client.get("/async").text == "loop"
    assert client.get("/sync").text == "thread"
    assert threads["sync"] is not threads["loop"]


def test_sync_endpoint_gets_request_and_params() -> None:
    app = App()

    @app.get("/users/{user_id:int}")
    def user(request: Request, user_id: int) -> dict[str, Any]:
        return {"path": request.url.path, "user_id": user_id}

    assert TestClient(app).get("/users/8").json() == {"path": "/users/8", "user_id": 8}


# Return values --------------------------------------------------------------------------


def test_response_is_returned_as_is() -> None:
    app = App()

    @app.get("/")
    async def home() -> Response:
        return HTMLResponse("<b>hi</b>", status_code=201)

    response = TestClient(app).get("/")
    assert response.status_code == 201
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "<b>hi</b>"


def test_dict_becomes_json() -> None:
    app = App()

    @app.get("/")
    async def home() -> dict[str, Any]:
        return {"a": [1, 2], "b": None}

    response = TestClient(app).get("/")
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"a":[1,2],"b":null}'


def test_list_becomes_json() -> None:
    app = App()

    @app.get("/")
    async def home() -> list[int]:
        return [1, 2, 3]

    response = TestClient(app).get("/")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [1, 2, 3]


def test_str_becomes_plain_text() -> None:
    app = App()

    @app.get("/")
    async def home() -> str:
        return "h\u00e9llo"

    response = TestClient(app).get("/")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == "h\u00e9llo".encode()


def test_bytes_become_octet_stream() -> None:
    app = App()

    @app.get("/")
    async def home() -> bytes:
        return b"\x00\x01"

    response = TestClient(app).get("/")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01"


@pytest.mark.parametrize("value", [None, 42, ("a", "b"), {"a"}])
def test_other_return_values_are_a_type_error_naming_the_endpoint(value: Any) -> None:
    app = App()

    @app.get("/")
    async def home() -> Any:
        return value

    with pytest.raises(TypeError, match=r"Endpoint tests\.test_endpoints\..*home returned"):
        TestClient(app).get("/")


def test_bad_return_value_is_a_500_for_the_client() -> None:
    app = App()

    @app.get("/")
    def home() -> Any:
        return None

    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 500


def test_to_response_message_lists_what_is_accepted() -> None:
    with pytest.raises(TypeError, match="returned NoneType; return a Response, dict, list"):
        to_response(None, test_to_response_message_lists_what_is_accepted)


# Class endpoints ------------------------------------------------------------------------


def test_class_endpoint_dispatches_by_method() -> None:
    app = App()

    @app.route("/items")
    class Items:
        async def get(self) -> str:
            return "list"

        async def post(self, request: Request) -> str:
            return "created " + (await request.body()).decode()

    client = TestClient(app)
    assert client.get("/items").text == "list"
    assert client.post("/items", content=b"x").text == "created x"


def test_class_endpoint_answers_405_for_the_rest() -> None:
    class Items:
        async def get(self) -> str:
            return "list"

        async def post(self) -> str:
            return "created"

    app = App(routes=[Route("/items", Items)])
    response = TestClient(app).delete("/items")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_class_endpoint_answers_head_from_get() -> None:
    class Page:
        async def get(self) -> str:
            return "page body"

    app = App(routes=[Route("/page", Page)])
    response = TestClient(app).head("/page")
    assert response.status_code == 200
    assert response.headers["content-length"] == "9"
    assert response.content == b""


def test_class_endpoint_explicit_head_wins() -> None:
    class Page:
        async def get(self) -> str:
            return "page body"

        async def head(self) -> Response:
            return Response(headers={"x-head": "own"})

    app = App(routes=[Route("/page", Page)])
    assert TestClient(app).head("/page").headers["x-head"] == "own"


def test_class_endpoint_methods_get_path_params() -> None:
    class Item:
        async def get(self, item_id: int) -> dict[str, int]:
            return {"item_id": item_id}

        def put(self, request: Request, item_id: int) -> str:
            return f"{request.method} {item_id} in {threading.current_thread().name}"

    app = App(routes=[Route("/items/{item_id:int}", Item)])
    client = TestClient(app)
    assert client.get("/items/5").json() == {"item_id": 5}
    assert client.put("/items/6").text.startswith("PUT 6 in ")


def test_class_endpoint_serves_each_request_with_a_fresh_instance() -> None:
    instances: list[int] = []

    class Counter:
        def __init__(self) -> None:
            self.hits = 0

        async def get(self) -> str:
            self.hits += 1
            instances.append(id(self))
            return str(self.hits)

    app = App(routes=[Route("/", Counter)])
    client = TestClient(app)
    assert [client.get("/").text, client.get("/").text] == ["1", "1"]


def test_class_endpoint_static_and_class_methods_bind_without_self() -> None:
    class Tools:
        @staticmethod
        async def get(name: str) -> str:
            return f"static {name}"

        @classmethod
        async def post(cls, name: str) -> str:
            return f"{cls.__name__} {name}"

    app = App(routes=[Route("/{name}", Tools)])
    client = TestClient(app)
    assert client.get("/x").text == "static x"
    assert client.post("/x").text == "Tools x"


def test_class_endpoint_with_methods_argument_is_an_error() -> None:
    class Items:
        async def get(self) -> str:
            return ""

    with pytest.raises(TypeError, match=r"Items takes its methods from its get/post"):
        Route("/items", Items, methods=["POST"])


def test_class_endpoint_without_http_methods_is_an_error() -> None:
    class Nothing:
        async def fetch(self) -> str:
            return ""

    with pytest.raises(TypeError, match=r"Nothing defines no HTTP method"):
        Route("/nothing", Nothing)


def test_class_endpoint_needing_constructor_arguments_is_an_error() -> None:
    class Needy:
        def __init__(self, database: object) -> None:
            self.database = database

        async def get(self) -> str:
            return ""

    with pytest.raises(TypeError, match=r"Needy must be constructible without arguments"):
        Route("/needy", Needy)


def test_class_endpoint_with_a_builtin_base_is_accepted() -> None:
    class Buffer(bytearray):
        async def get(self) -> str:
            return f"empty={len(self) == 0}"

    app = App(routes=[Route("/buffer", Buffer)])
    assert TestClient(app).get("/buffer").text == "empty=True"


def test_class_endpoint_method_with_unbindable_parameter_is_an_error() -> None:
    class Items:
        async def get(self, user: set[int]) -> str:
            return ""

    with pytest.raises(TypeError, match=r"Items\.get has parameter 'user'"):
        Route("/items", Items)


def test_class_endpoint_bad_return_names_the_class() -> None:
    class Items:
        async def get(self) -> Any:
            return None

    app = App(routes=[Route("/items", Items)])
    with pytest.raises(TypeError, match=r"Endpoint .*Items returned NoneType"):
        TestClient(app).get("/items")


# Websocket binding ----------------------------------------------------------------------


def test_websocket_endpoint_gets_the_socket_and_path_params() -> None:
    async def room(websocket: WebSocket, room_id: int) -> None:
        await websocket.accept()
        await websocket.send_json({"room": room_id})
        await websocket.close()

    app = App(routes=[WebSocketRoute("/rooms/{room_id:int}", room)])
    with TestClient(app).websocket_connect("/rooms/7") as session:
        assert session.receive_json() == {"room": 7}


def test_websocket_endpoint_by_annotation() -> None:
    async def room(connection: WebSocket) -> None:
        await connection.accept()
        await connection.send_text(connection.url.path)
        await connection.close()

    app = App(routes=[WebSocketRoute("/room", room)])
    with TestClient(app).websocket_connect("/room") as session:
        assert session.receive_text() == "/room"


def test_websocket_endpoint_unbindable_parameter_is_an_error() -> None:
    async def room(websocket: WebSocket, user: set[int]) -> None:
        await websocket.close()

    with pytest.raises(TypeError, match="room has parameter 'user'"):
        WebSocketRoute("/room", room)
