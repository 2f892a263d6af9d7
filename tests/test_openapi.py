"""The OpenAPI document: every source and schema, bodies, responses, mounted routers, class
endpoints, pydantic and msgspec components; validated against the OpenAPI 3.1 schema."""

import dataclasses
import datetime as dt
import decimal
import uuid
from typing import Annotated, Any, Literal, TypedDict

import msgspec
import pydantic
import pytest
from openapi_spec_validator import validate

from microasgi import (
    App,
    Body,
    Cookie,
    Field,
    File,
    Form,
    Header,
    Mount,
    Query,
    Request,
    Route,
    Router,
    UploadFile,
    WebSocket,
    WebSocketRoute,
)
from microasgi.openapi import docs_page, openapi_document
from microasgi.testclient import TestClient


@dataclasses.dataclass
class Node:
    name: str
    children: list["Node"] = dataclasses.field(default_factory=list)
    weight: Annotated[float, Field(gt=0, description="How heavy")] = 1.0


class Point(TypedDict):
    x: int
    y: int


class Book(pydantic.BaseModel):
    title: str
    author: "Author"


class Author(pydantic.BaseModel):
    name: str


Book.model_rebuild()


class Song(msgspec.Struct):
    title: str
    seconds: int


async def search(
    q: Annotated[str, Query(min_length=2, description="Words to find", example="tea")],
    when: dt.date | None = None,
    at: dt.datetime | None = None,
    key: uuid.UUID | None = None,
    price: decimal.Decimal | None = None,
    raw: bytes = b"",
    mode: Literal["fast", "exact"] = "fast",
    ids: Annotated[list[int], Query(max_length=3)] = [],  # noqa: B006
    x_trace: Annotated[str | None, Header()] = None,
    session: Annotated[str | None, Cookie()] = None,
) -> dict[str, Any]:
    """Search everything.

    Looks in every collection.
    """
    return {}


async def plant(tree: Node, note: Annotated[str, Body()], point: Point) -> Node:
    return tree


async def upload(title: Annotated[str, Form()], document: Annotated[UploadFile, File()]) -> str:
    return title


async def login(user: Annotated[Point, Form()]) -> str:
    return "ok"


async def named(item_id: int, request: Request) -> str:
    return "x"


async def book(value: Book) -> Book:
    return value


async def song(value: Song) -> Song:
    return value


async def chat(websocket: WebSocket) -> None:
    await websocket.close()


class Items:
    """Items of the shop."""

    async def get(self, page: int = 1) -> list[Point]:
        """List items.

        Tags: shop, items
        """
        return []

    async def delete(self) -> None:
        """Delete every item."""


def example_app() -> App:
    inner = Router(
        routes=[Route("/items", Items), Route("/items/{item_id:int}", named, name="named")]
    )
    return App(
        routes=[
            Route("/search", search),
            Route("/plant", plant, methods=["POST"]),
            Route("/upload", upload, methods=["POST"]),
            Route("/login", login, methods=["POST"]),
            Route("/books", book, methods=["POST", "PUT"]),
            Route("/songs", song, methods=["POST"]),
            WebSocketRoute("/ws", chat),
            Mount("/shop", inner, name="shop"),
            Mount("/again", inner),
        ],
        openapi_url="/openapi.json",
        title="Example",
        version="2.0",
    )


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    built = example_app().openapi()
    validate(built)
    return built


def test_the_document_validates_and_lists_every_http_route(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Example", "version": "2.0"}
    assert sorted(document["paths"]) == [
        "/again/items",
        "/again/items/{item_id}",
        "/books",
        "/login",
        "/plant",
        "/search",
        "/shop/items",
        "/shop/items/{item_id}",
        "/songs",
        "/upload",
    ]
    operation_ids = [
        operation["operationId"]
        for methods in document["paths"].values()
        for operation in methods.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))


def test_parameters_carry_their_source_and_schema(document: dict[str, Any]) -> None:
    operation = document["paths"]["/search"]["get"]
    assert operation["summary"] == "Search everything."
    assert operation["description"] == "Looks in every collection."
    by_name = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert by_name["q"] == {
        "name": "q",
        "in": "query",
        "required": True,
        "description": "Words to find",
        "schema": {
            "type": "string",
            "minLength": 2,
            "description": "Words to find",
            "examples": ["tea"],
        },
    }
    assert by_name["when"]["schema"] == {
        "anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]
    }
    assert by_name["at"]["schema"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert by_name["key"]["schema"]["anyOf"][0] == {"type": "string", "format": "uuid"}
    assert by_name["price"]["schema"]["anyOf"][0] == {
        "anyOf": [{"type": "number"}, {"type": "string"}]
    }
    assert by_name["raw"]["schema"] == {"type": "string", "default": "b''"}
    assert by_name["mode"]["schema"] == {"enum": ["fast", "exact"], "default": "fast"}
    assert by_name["ids"]["schema"] == {
        "type": "array",
        "items": {"type": "integer"},
        "maxItems": 3,
        "default": [],
    }
    assert by_name["x-trace"]["in"] == "header"
    assert by_name["session"]["in"] == "cookie"
    assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }


def test_json_bodies_and_their_components(document: dict[str, Any]) -> None:
    operation = document["paths"]["/plant"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {
        "type": "object",
        "properties": {
            "tree": {"$ref": "#/components/schemas/Node"},
            "note": {"type": "string"},
            "point": {"$ref": "#/components/schemas/Point"},
        },
        "required": ["tree", "note", "point"],
    }
    node = document["components"]["schemas"]["Node"]
    assert node["properties"]["children"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Node"},
    }
    assert node["properties"]["weight"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "How heavy",
        "default": 1.0,
    }
    assert document["components"]["schemas"]["Point"]["required"] == ["x", "y"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Node"
    }


def test_form_bodies(document: dict[str, Any]) -> None:
    upload_body = document["paths"]["/upload"]["post"]["requestBody"]["content"]
    assert upload_body["multipart/form-data"]["schema"]["properties"] == {
        "title": {"type": "string"},
        "document": {"type": "string", "format": "binary"},
    }
    login_body = document["paths"]["/login"]["post"]["requestBody"]["content"]
    assert login_body["application/x-www-form-urlencoded"]["schema"] == {
        "$ref": "#/components/schemas/Point"
    }


def test_pydantic_and_msgspec_components(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["Book"]["properties"]["author"] == {"$ref": "#/components/schemas/Author"}
    assert schemas["Author"]["properties"]["name"]["type"] == "string"
    assert schemas["Song"]["required"] == ["title", "seconds"]
    books = document["paths"]["/books"]
    assert sorted(books) == ["post", "put"]


def test_class_endpoints_mounts_and_tags(document: dict[str, Any]) -> None:
    items = document["paths"]["/shop/items"]
    assert sorted(items) == ["delete", "get"]
    assert items["get"]["tags"] == ["shop", "items"]
    assert items["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Point"},
    }
    assert items["delete"]["responses"] == {"204": {"description": "No Content"}}
    assert "tags" not in document["paths"]["/again/items"]["delete"]
    named_op = document["paths"]["/shop/items/{item_id}"]["get"]
    assert named_op["parameters"] == [
        {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    ]
    assert "422" not in named_op["responses"]


def test_a_path_parameter_the_endpoint_does_not_take_is_documented() -> None:
    async def anything() -> str:
        return ""

    document = openapi_document([Route("/{slug}/{rest:path}", anything)], "t", "1")
    validate(document)
    parameters = document["paths"]["/{slug}/{rest}"]["get"]["parameters"]
    assert [parameter["name"] for parameter in parameters] == ["slug", "rest"]


def test_the_app_serves_the_document_and_rebuilds_it_for_new_routes() -> None:
    app = App(openapi_url="/openapi.json", docs_url="/docs")
    client = TestClient(app)
    assert client.get("/openapi.json").json()["paths"] == {}

    @app.get("/late")
    async def late() -> str:
        return "late"

    assert list(client.get("/openapi.json").json()["paths"]) == ["/late"]
    assert client.get("/docs").status_code == 200


def test_both_are_off_unless_set_and_docs_needs_the_document() -> None:
    client = TestClient(App())
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404
    with pytest.raises(ValueError, match="docs_url needs openapi_url"):
        App(docs_url="/docs")


def test_the_docs_page_escapes_what_it_shows() -> None:
    page = docs_page("<b>API</b>", "/open</script>api.json")
    assert "<b>API</b>" not in page
    assert "</script>api" not in page.split("<script>")[1].split("</script>")[0]
