"""Typed parameters from the path, query, headers and cookies: each source, each type, each
constraint, the 422 shape, and the registration errors (microasgi.sources, .validation)."""

import datetime as dt
import decimal
import enum
import uuid
from typing import Annotated, Any, Literal

import pytest

from microasgi import (
    App,
    BackgroundTasks,
    Body,
    Cookie,
    Header,
    JSONResponse,
    Path,
    PlainTextResponse,
    Query,
    Request,
    RequestValidationError,
    Route,
    WebSocket,
    WebSocketRoute,
)
from microasgi.exceptions import HTTPException
from microasgi.testclient import TestClient, WebSocketDenialResponse


def client_for(endpoint: Any, path: str = "/", **route: Any) -> TestClient:
    return TestClient(App(routes=[Route(path, endpoint, **route)]))


def echo(value: Any) -> JSONResponse:
    return JSONResponse({"value": value, "type": type(value).__name__})


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


# Types -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "text", "expected"),
    [
        (str, "abc", "abc"),
        (int, "42", 42),
        (int, "-7", -7),
        (float, "1.25", 1.25),
        (bool, "true", True),
        (bool, "Yes", True),
        (bool, "0", False),
        (bool, "off", False),
        (bytes, "hi", b"hi"),
        (uuid.UUID, str(uuid.UUID(int=5)), uuid.UUID(int=5)),
        (dt.date, "2026-12-08", dt.date(2026, 12, 8)),
        (dt.datetime, "2026-12-08T07:45:00+00:00", dt.datetime(2026, 12, 8, 7, 45, tzinfo=dt.UTC)),
        (decimal.Decimal, "1.10", decimal.Decimal("1.10")),
        (Color, "blue", Color.BLUE),
        (Level, "2", Level.HIGH),
        (Literal["a", "b"], "b", "b"),
        (Literal[1, 2], "2", 2),
        (Literal[True], "true", True),
        (int | None, "3", 3),
        (int | str, "x", "x"),
        (Any, "raw", "raw"),
    ],
)
def test_each_type_converts_from_the_query(annotation: Any, text: str, expected: Any) -> None:
    seen: list[Any] = []

    async def endpoint(value: Any) -> str:
        seen.append(value)
        return "ok"

    endpoint.__annotations__["value"] = annotation
    response = client_for(endpoint).get("/", params={"value": text})
    assert response.status_code == 200, response.text
    assert seen == [expected]
    assert type(seen[0]) is type(expected)


@pytest.mark.parametrize(
    ("annotation", "text", "error"),
    [
        (int, "4.5", "int_parsing"),
        (int, "", "int_parsing"),
        (float, "abc", "float_parsing"),
        (float, "nan", "finite_number"),
        (bool, "maybe", "bool_parsing"),
        (uuid.UUID, "not-a-uuid", "uuid_parsing"),
        (dt.date, "2026-13-01", "date_parsing"),
        (dt.date, "2026-12-08T10:00", "date_parsing"),
        (dt.datetime, "yesterday", "datetime_parsing"),
        (decimal.Decimal, "1.2.3", "decimal_parsing"),
        (decimal.Decimal, "Infinity", "decimal_parsing"),
        (Color, "green", "enum"),
        (Literal["a", "b"], "c", "literal_error"),
    ],
)
def test_each_type_refuses_bad_text_with_a_422(annotation: Any, text: str, error: str) -> None:
    async def endpoint(value: Any) -> str:
        return "never"

    endpoint.__annotations__["value"] = annotation
    response = client_for(endpoint).get("/", params={"value": text})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "value"]
    assert problem["type"] == error
    assert problem["msg"]


def test_a_list_reads_every_repeat_of_a_query_key() -> None:
    async def endpoint(tag: list[int] = []) -> JSONResponse:  # noqa: B006 - never mutated
        return JSONResponse(tag)

    client = client_for(endpoint)
    assert client.get("/?tag=1&tag=2").json() == [1, 2]
    assert client.get("/").json() == []
    refused = client.get("/?tag=1&tag=x")
    assert refused.json()["detail"][0]["loc"] == ["query", "tag", 1]


def test_an_optional_parameter_defaults_and_a_required_one_is_missing() -> None:
    async def endpoint(needed: int, maybe: int | None = None) -> JSONResponse:
        return JSONResponse([needed, maybe])

    client = client_for(endpoint)
    assert client.get("/?needed=1").json() == [1, None]
    assert client.get("/?needed=1&maybe=2").json() == [1, 2]
    assert client.get("/").json() == {
        "detail": [{"loc": ["query", "needed"], "msg": "Field required", "type": "missing"}]
    }


def test_an_unannotated_parameter_is_a_query_string() -> None:
    async def endpoint(name="world"):  # type: ignore[no-untyped-def]
        return f"hello {name}"

    client = client_for(endpoint)
    assert client.get("/").text == "hello world"
    assert client.get("/?name=you").text == "hello you"


# Sources -----------------------------------------------------------------------------------


def test_headers_read_the_dashed_name_unless_an_alias_says() -> None:
    async def endpoint(
        x_token: Annotated[str, Header()],
        agent: Annotated[str, Header(alias="User-Agent")] = "",
        via: Annotated[list[str], Header()] = [],  # noqa: B006 - never mutated
    ) -> JSONResponse:
        return JSONResponse([x_token, agent, via])

    client = client_for(endpoint)
    response = client.get(
        "/", headers=[("x-token", "t"), ("user-agent", "ua"), ("via", "a"), ("via", "b")]
    )
    assert response.json() == ["t", "ua", ["a", "b"]]
    assert client.get("/").json()["detail"][0]["loc"] == ["header", "x-token"]


def test_cookies_and_query_aliases() -> None:
    async def endpoint(
        session: Annotated[str, Cookie()],
        page_number: Annotated[int, Query(alias="page")] = 1,
    ) -> JSONResponse:
        return JSONResponse([session, page_number])

    client = client_for(endpoint)
    assert client.get("/?page=3", headers={"cookie": "session=abc"}).json() == ["abc", 3]
    assert client.get("/").json()["detail"][0]["loc"] == ["cookie", "session"]


def test_every_problem_of_a_request_is_reported_at_once() -> None:
    async def endpoint(
        item_id: int,
        page: Annotated[int, Query(ge=1)],
        x_token: Annotated[str, Header()],
        session: Annotated[str, Cookie()],
    ) -> str:
        return "never"

    response = client_for(endpoint, "/items/{item_id}").get("/items/x?page=0")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    locs = [problem["loc"] for problem in response.json()["detail"]]
    assert locs == [
        ["path", "item_id"],
        ["query", "page"],
        ["header", "x-token"],
        ["cookie", "session"],
    ]


def test_a_path_marker_adds_constraints_to_a_converted_path_param() -> None:
    async def endpoint(item_id: Annotated[int, Path(ge=1)]) -> str:
        return repr(item_id)

    client = client_for(endpoint, "/items/{item_id:int}")
    assert client.get("/items/3").text == "3"
    assert client.get("/items/0").json()["detail"][0]["type"] == "greater_than_equal"


def test_an_untyped_path_param_keeps_the_fast_shape() -> None:
    async def endpoint(name: str) -> str:
        return name

    route = Route("/{name}", endpoint)
    assert route._takes_request is False
    assert TestClient(App(routes=[route])).get("/x").text == "x"


def test_the_connection_and_typed_params_together() -> None:
    async def endpoint(request: Request, page: int = 1) -> str:
        return f"{request.url.path} {page}"

    assert client_for(endpoint, "/p").get("/p?page=2").text == "/p 2"


def test_class_endpoints_read_typed_params() -> None:
    class Items:
        async def get(self, page: int = 1) -> str:
            return repr(page)

        def post(self, count: Annotated[int, Query(le=3)]) -> str:
            return repr(count)

    client = client_for(Items, "/items")
    assert client.get("/items?page=4").text == "4"
    assert client.post("/items?count=2").text == "2"
    assert client.post("/items?count=9").status_code == 422


def test_sync_endpoints_read_typed_params() -> None:
    def endpoint(page: int) -> str:
        return repr(page)

    assert client_for(endpoint).get("/?page=5").text == "5"


def test_a_websocket_reads_query_params_and_is_denied_on_bad_ones() -> None:
    async def room(websocket: WebSocket, name: str, seat: int = 0) -> None:
        await websocket.accept()
        await websocket.send_json([name, seat])
        await websocket.close()

    client = TestClient(App(routes=[WebSocketRoute("/ws", room)]))
    with client.websocket_connect("/ws?name=ann&seat=2") as session:
        assert session.receive_json() == ["ann", 2]
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws?seat=x"):
        pass
    assert denied.value.status_code == 422


# Constraints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "annotation", "good", "bad", "error"),
    [
        (Query(ge=2), int, "2", "1", "greater_than_equal"),
        (Query(gt=2), int, "3", "2", "greater_than"),
        (Query(le=2), float, "2", "2.5", "less_than_equal"),
        (Query(lt=2), int, "1", "2", "less_than"),
        (Query(min_length=2), str, "ab", "a", "too_short"),
        (Query(max_length=2), str, "ab", "abc", "too_long"),
        (Query(pattern=r"[a-z]+"), str, "abc", "ab1", "string_pattern_mismatch"),
        (Query(max_length=1), list[int], "1", None, "too_long"),
        (Query(ge=dt.date(2026, 1, 1)), dt.date, "2026-06-01", "2025-06-01", "greater_than_equal"),
    ],
)
def test_each_constraint(
    marker: Query, annotation: Any, good: str, bad: str | None, error: str
) -> None:
    async def endpoint(value: Any) -> str:
        return "ok"

    endpoint.__annotations__["value"] = Annotated[annotation, marker]
    client = client_for(endpoint)
    assert client.get("/", params={"value": good}).status_code == 200
    query: list[tuple[str, str | int | float | bool | None]] = (
        [("value", bad)] if bad is not None else [("value", "1"), ("value", "2")]
    )
    response = client.get("/", params=query)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == error


def test_a_bad_pattern_is_refused_at_registration() -> None:
    async def endpoint(value: Annotated[str, Query(pattern="(")]) -> str:
        return value

    with pytest.raises(TypeError, match=r"endpoint has parameter 'value'.*regular expression"):
        Route("/", endpoint)


# Registration errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "words"),
    [
        (dict[str, int], "dict"),
        (set[int], "set"),
        (Annotated[list[str], Cookie()], "cookie has one value"),
        (Annotated[int, Path()], "no {value}"),
    ],
)
def test_a_signature_the_binder_cannot_serve_is_a_type_error(annotation: Any, words: str) -> None:
    async def endpoint(value: Any) -> str:
        return "never"

    endpoint.__annotations__["value"] = annotation
    with pytest.raises(
        TypeError, match=r"test_typed_params\..*endpoint has parameter 'value'"
    ) as raised:
        Route("/", endpoint)
    assert words in str(raised.value)


# The 422 and its handler -------------------------------------------------------------------


def test_a_handler_for_the_validation_error_replaces_the_422() -> None:
    async def endpoint(page: int) -> str:
        return "never"

    async def handler(request: Request, exc: Exception) -> PlainTextResponse:
        assert isinstance(exc, RequestValidationError)
        return PlainTextResponse(f"bad: {exc.errors[0]['loc']}", status_code=400)

    app = App(routes=[Route("/", endpoint)], exception_handlers={RequestValidationError: handler})
    response = TestClient(app).get("/?page=x")
    assert (response.status_code, response.text) == (400, "bad: ['query', 'page']")


def test_the_validation_error_is_an_http_exception_with_its_problems() -> None:
    error = RequestValidationError(
        [{"loc": ["query", "a"], "msg": "Field required", "type": "missing"}]
    )
    assert isinstance(error, HTTPException)
    assert error.status_code == 422
    assert str(error) == "422: query.a: Field required"
    assert "errors=" in repr(error)


# Return annotations and injections ---------------------------------------------------------


def test_none_return_annotation_means_204() -> None:
    async def endpoint() -> None:
        return None

    async def answered() -> None:
        return PlainTextResponse("own", status_code=202)  # type: ignore[return-value]

    app = App(routes=[Route("/", endpoint, methods=["DELETE"]), Route("/own", answered)])
    client = TestClient(app)
    response = client.delete("/")
    assert (response.status_code, response.content) == (204, b"")
    assert client.get("/own").status_code == 202


def test_background_tasks_are_injected_and_run_after_the_response() -> None:
    ran: list[str] = []

    async def endpoint(tasks: BackgroundTasks, name: str = "x") -> str:
        tasks.add_task(ran.append, name)
        return "queued"

    async def with_own(tasks: BackgroundTasks) -> PlainTextResponse:
        tasks.add_task(ran.append, "injected")
        from microasgi import BackgroundTask

        return PlainTextResponse("own", background=BackgroundTask(ran.append, "own"))

    app = App(routes=[Route("/", endpoint), Route("/own", with_own)])
    client = TestClient(app)
    assert client.get("/?name=y").text == "queued"
    assert client.get("/own").text == "own"
    assert ran == ["y", "own", "injected"]


def test_a_websocket_endpoint_cannot_read_a_body() -> None:
    async def room(websocket: WebSocket, note: Annotated[str, Body()]) -> None:
        await websocket.close()

    with pytest.raises(TypeError, match=r"room has parameter 'note' read from a body"):
        WebSocketRoute("/ws", room)
