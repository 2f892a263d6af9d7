"""Typed bodies: JSON into dataclasses and TypedDicts (nested), forms and files, return
annotations serialised, and the pydantic and msgspec paths (validated by those libraries)."""

import dataclasses
import datetime as dt
import uuid
from typing import Annotated, Any, NotRequired, TypedDict

import msgspec
import pydantic
import pytest

from microasgi import App, Body, Field, File, Form, Route, UploadFile
from microasgi.testclient import TestClient


@dataclasses.dataclass
class Address:
    city: str
    zip_code: Annotated[str, Field(alias="zip", pattern=r"\d{5}")]


@dataclasses.dataclass
class Person:
    name: Annotated[str, Field(min_length=1)]
    age: Annotated[int, Field(ge=0)]
    address: Address
    tags: list[str] = dataclasses.field(default_factory=list)
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    nickname: str | None = None
    friends: list["Person"] = dataclasses.field(default_factory=list)


class Movie(TypedDict):
    title: str
    year: int
    released: NotRequired[dt.date]


def client_for(endpoint: Any, path: str = "/", debug: bool = False) -> TestClient:
    return TestClient(App(routes=[Route(path, endpoint, methods=["POST"])], debug=debug))


PERSON = {
    "name": "Ann",
    "age": 30,
    "address": {"city": "Oslo", "zip": "01234"},
    "tags": ["a"],
    "scores": {"x": 1},
    "friends": [{"name": "Bo", "age": 2, "address": {"city": "Rome", "zip": "00100"}}],
}


async def create_person(person: Person) -> Person:
    return person


def test_a_dataclass_parameter_is_the_json_body_nested_and_serialised_back() -> None:
    response = client_for(create_person).post("/", json=PERSON)
    assert response.status_code == 200, response.text
    assert response.json() == {**PERSON, "scores": {"x": 1.0}, "nickname": None} | {
        "address": {"city": "Oslo", "zip_code": "01234"},
        "friends": [
            {
                "name": "Bo",
                "age": 2,
                "address": {"city": "Rome", "zip_code": "00100"},
                "tags": [],
                "scores": {},
                "nickname": None,
                "friends": [],
            }
        ],
    }


def test_every_problem_of_a_dataclass_body_is_located() -> None:
    bad = {
        "name": "",
        "age": -1,
        "address": {"zip": "12"},
        "tags": ["ok", 3],
        "scores": {"x": "high"},
        "friends": [{"name": "Bo"}],
    }
    response = client_for(create_person).post("/", json=bad)
    assert response.status_code == 422
    problems = {tuple(problem["loc"]): problem["type"] for problem in response.json()["detail"]}
    assert problems == {
        ("body", "name"): "too_short",
        ("body", "age"): "greater_than_equal",
        ("body", "address", "city"): "missing",
        ("body", "address", "zip"): "string_pattern_mismatch",
        ("body", "tags", 1): "string_type",
        ("body", "scores", "x"): "float_type",
        ("body", "friends", 0, "age"): "missing",
        ("body", "friends", 0, "address"): "missing",
    }


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"", 422, "missing"),
        (b"[1, 2]", 422, "model_type"),
        (b'"text"', 422, "model_type"),
        (b"{not json", 400, None),
    ],
)
def test_an_empty_wrong_or_malformed_body(content: bytes, status: int, error: str | None) -> None:
    response = client_for(create_person).post("/", content=content)
    assert response.status_code == status
    if error is not None:
        assert response.json()["detail"][0] == {
            "loc": ["body"],
            "msg": response.json()["detail"][0]["msg"],
            "type": error,
        }


def test_json_types_are_strict_but_an_integral_float_is_an_int() -> None:
    @dataclasses.dataclass
    class Numbers:
        count: int
        ratio: float
        flag: bool
        when: dt.datetime
        key: uuid.UUID

    async def endpoint(numbers: Numbers) -> dict[str, Any]:
        return {"count": numbers.count, "types": [type(v).__name__ for v in vars(numbers).values()]}

    client = client_for(endpoint)
    good = {
        "count": 2.0,
        "ratio": 1,
        "flag": True,
        "when": "2026-12-08T00:00:00",
        "key": str(uuid.UUID(int=1)),
    }
    assert client.post("/", json=good).json() == {
        "count": 2,
        "types": ["int", "float", "bool", "datetime", "UUID"],
    }
    bad = {"count": "2", "ratio": True, "flag": 1, "when": 5, "key": "x"}
    types = [problem["type"] for problem in client.post("/", json=bad).json()["detail"]]
    assert types == ["int_type", "float_type", "bool_type", "datetime_type", "uuid_parsing"]


def test_a_post_init_refusal_is_a_value_error() -> None:
    @dataclasses.dataclass
    class Range:
        low: int
        high: int

        def __post_init__(self) -> None:
            if self.low > self.high:
                raise ValueError("low is above high")

    async def endpoint(span: Range) -> str:
        return "ok"

    response = client_for(endpoint).post("/", json={"low": 2, "high": 1})
    assert response.json()["detail"] == [
        {"loc": ["body"], "msg": "Value error, low is above high", "type": "value_error"}
    ]


def test_a_typed_dict_body_and_return() -> None:
    async def endpoint(movie: Movie) -> Movie:
        return movie

    client = client_for(endpoint)
    assert client.post("/", json={"title": "Up", "year": 2009}).json() == {
        "title": "Up",
        "year": 2009,
    }
    response = client.post("/", json={"title": "Up", "released": "2009-05-29"})
    assert response.json()["detail"] == [
        {"loc": ["body", "year"], "msg": "Field required", "type": "missing"}
    ]
    dated = client.post("/", json={"title": "Up", "year": 2009, "released": "2009-05-29"})
    assert dated.json()["released"] == "2009-05-29"


def test_several_body_parameters_are_keys_of_the_body() -> None:
    async def endpoint(
        movie: Movie, note: Annotated[str, Body()], stars: Annotated[int, Body(le=5)] = 3
    ) -> dict[str, Any]:
        return {"title": movie["title"], "note": note, "stars": stars}

    client = client_for(endpoint)
    body = {"movie": {"title": "Up", "year": 2009}, "note": "fine"}
    assert client.post("/", json=body).json() == {"title": "Up", "note": "fine", "stars": 3}
    refused = client.post("/", json={"movie": {"title": "Up"}, "stars": 9})
    assert [p["loc"] for p in refused.json()["detail"]] == [
        ["body", "movie", "year"],
        ["body", "note"],
        ["body", "stars"],
    ]
    assert client.post("/", json=[1]).json()["detail"][0]["type"] == "dict_type"


def test_a_single_scalar_body_is_the_whole_body() -> None:
    async def endpoint(numbers: Annotated[list[int], Body()]) -> str:
        return str(sum(numbers))

    assert client_for(endpoint).post("/", json=[1, 2, 3]).text == "6"


def test_a_return_annotation_is_checked_in_debug() -> None:
    async def wrong() -> Person:
        return {"name": "dict"}  # type: ignore[return-value]

    async def wrong_movie() -> Movie:
        return {"title": 3}  # type: ignore[typeddict-item]

    app = App(routes=[Route("/p", wrong), Route("/m", wrong_movie)], debug=True)
    client = TestClient(app)
    with pytest.raises(TypeError, match="annotated to return Person but returned dict"):
        client.get("/p")
    with pytest.raises(TypeError, match=r"not a Movie: \['title'\]"):
        client.get("/m")
    relaxed = TestClient(App(routes=[Route("/p", wrong)]))
    assert relaxed.get("/p").json() == {"name": "dict"}


# Forms and files ---------------------------------------------------------------------------


def test_form_fields_and_a_file() -> None:
    async def endpoint(
        name: Annotated[str, Form(max_length=5)],
        count: Annotated[int, Form()],
        upload: Annotated[UploadFile, File()],
        labels: Annotated[list[str], Form()] = [],  # noqa: B006 - never mutated
    ) -> dict[str, Any]:
        data = await upload.read()
        return {"name": name, "count": count, "file": data.decode(), "labels": labels}

    client = client_for(endpoint)
    response = client.post(
        "/",
        data={"name": "ann", "count": "2", "labels": ["a", "b"]},
        files={"upload": ("a.txt", b"hello", "text/plain")},
    )
    assert response.json() == {"name": "ann", "count": 2, "file": "hello", "labels": ["a", "b"]}
    refused = client.post("/", data={"name": "too long", "count": "x", "upload": "text"})
    assert [(p["loc"], p["type"]) for p in refused.json()["detail"]] == [
        (["body", "name"], "too_long"),
        (["body", "count"], "int_parsing"),
        (["body", "upload"], "file_type"),
    ]


def test_an_upload_file_annotation_alone_is_a_file_and_a_file_is_no_field() -> None:
    async def endpoint(
        document: UploadFile,
        title: Annotated[str, Form()],
        extra: list[UploadFile] = [],  # noqa: B006
    ) -> str:
        return f"{title}:{document.filename}:{len(extra)}"

    client = client_for(endpoint)
    sent = client.post(
        "/", data={"title": "t"}, files=[("document", ("d.txt", b"x")), ("extra", ("e", b"y"))]
    )
    assert sent.text == "t:d.txt:1"
    swapped = client.post("/", files=[("document", ("d.txt", b"x")), ("title", ("t.txt", b"y"))])
    assert swapped.json()["detail"][0]["msg"] == "Expected a form field, got a file"


def test_a_whole_form_into_a_dataclass() -> None:
    @dataclasses.dataclass
    class Signup:
        email: str
        age: int
        newsletter: bool = False
        interests: list[str] = dataclasses.field(default_factory=list)

    async def endpoint(signup: Annotated[Signup, Form()]) -> Signup:
        return signup

    client = client_for(endpoint)
    form = {"email": "a@b.c", "age": "30", "newsletter": "on", "interests": ["x", "y"]}
    assert client.post("/", data=form).json() == {
        "email": "a@b.c",
        "age": 30,
        "newsletter": True,
        "interests": ["x", "y"],
    }
    assert client.post("/", data={"age": "old"}).json()["detail"] == [
        {"loc": ["body", "email"], "msg": "Field required", "type": "missing"},
        {
            "loc": ["body", "age"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        },
    ]


def test_a_json_body_and_a_form_together_are_refused() -> None:
    async def endpoint(movie: Movie, name: Annotated[str, Form()]) -> str:
        return name

    with pytest.raises(TypeError, match="both a JSON body and a form"):
        Route("/", endpoint)


def test_file_must_annotate_an_upload() -> None:
    async def endpoint(data: Annotated[bytes, File()]) -> str:
        return "never"

    with pytest.raises(TypeError, match="File\\(\\) parameter is an UploadFile"):
        Route("/", endpoint)


def test_a_model_cannot_come_from_the_query() -> None:
    from microasgi import Query

    async def endpoint(movie: Annotated[Movie, Query()]) -> str:
        return "never"

    with pytest.raises(TypeError, match="can be the body"):
        Route("/", endpoint)


# pydantic and msgspec ----------------------------------------------------------------------


class Book(pydantic.BaseModel):
    title: str = pydantic.Field(min_length=1)
    pages: int = pydantic.Field(gt=0)
    published: dt.date | None = None


class Song(msgspec.Struct):
    title: str
    seconds: Annotated[int, msgspec.Meta(gt=0)]
    artists: list[str] = []


def test_a_pydantic_model_is_validated_by_pydantic() -> None:
    async def endpoint(book: Book) -> Book:
        return book

    client = client_for(endpoint, debug=True)
    sent = {"title": "Dune", "pages": 412, "published": "1965-08-01"}
    assert client.post("/", json=sent).json() == sent
    refused = client.post("/", json={"title": "", "pages": 0})
    assert [(p["loc"], p["type"]) for p in refused.json()["detail"]] == [
        (["body", "title"], "string_too_short"),
        (["body", "pages"], "greater_than"),
    ]


def test_a_pydantic_form_is_validated_in_lax_mode() -> None:
    async def endpoint(book: Annotated[Book, Form()]) -> Book:
        return book

    response = client_for(endpoint).post("/", data={"title": "Dune", "pages": "412"})
    assert response.json() == {"title": "Dune", "pages": 412, "published": None}


def test_a_msgspec_struct_is_validated_by_msgspec() -> None:
    async def endpoint(song: Song) -> Song:
        return song

    client = client_for(endpoint, debug=True)
    sent = {"title": "Hey", "seconds": 200, "artists": ["a"]}
    assert client.post("/", json=sent).json() == sent
    refused = client.post("/", json={"title": "Hey", "seconds": -1})
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "seconds"]
    assert "Expected `int` >= 1" in problem["msg"]
    nested = client.post("/", json={"title": "Hey", "seconds": 1, "artists": [1]})
    assert nested.json()["detail"][0]["loc"] == ["body", "artists", 0]
    whole = client.post("/", json=[1])
    assert whole.json()["detail"][0]["loc"] == ["body"]
