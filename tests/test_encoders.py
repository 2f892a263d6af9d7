"""JSON for real data: the built-in formats, the registry, per-class hooks, both backends."""

import dataclasses
import enum
import json
import math
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from microasgi import App, JSONResponse, WebSocket, encoders
from microasgi.encoders import (
    json_backend,
    json_default,
    json_dumps,
    register_json_type,
    set_json_backend,
)
from microasgi.testclient import TestClient


@pytest.fixture(params=["json", "orjson"], autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    set_json_backend(request.param)
    yield request.param
    set_json_backend("auto")


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders, "_registry", {})
    monkeypatch.setattr(encoders, "_found", {})


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Event:
    at: datetime
    where: Point
    tags: frozenset[str]


def encode(value: Any) -> Any:
    return json.loads(json_dumps(value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 5, 6, 7, 8, 9), "2024-05-06T07:08:09"),
        (datetime(2024, 5, 6, 7, 8, 9, 123456), "2024-05-06T07:08:09.123456"),
        (datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), "2024-05-06T07:08:09+00:00"),
        (
            datetime(2024, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-06T07:08:00+02:00",
        ),
        (date(2024, 5, 6), "2024-05-06"),
        (time(7, 8, 9), "07:08:09"),
        (
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "12345678-1234-5678-1234-567812345678",
        ),
        (Decimal("12.50"), "12.50"),
        (Decimal("1e400"), "1E+400"),
        (Color.RED, "red"),
        (Color.BLUE, 2),
        (Level.HIGH, 3),
        (Path("static/app.css"), "static/app.css"),
        (PurePosixPath("/a/b"), "/a/b"),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        (Point(1, 2), {"x": 1, "y": 2}),
    ],
)
def test_built_in_formats(value: Any, expected: Any) -> None:
    assert encode({"value": value}) == {"value": expected}


def test_a_set_of_mixed_types_is_a_list_in_its_own_order() -> None:
    assert sorted(encode({1, "a"}), key=str) == [1, "a"]


def test_nested_dataclasses_and_special_types_inside_them() -> None:
    event = Event(datetime(2024, 1, 2, 3, 4, 5), Point(1, 2), frozenset({"x"}))
    assert encode([event]) == [
        {"at": "2024-01-02T03:04:05", "where": {"x": 1, "y": 2}, "tags": ["x"]}
    ]


def test_plain_data_is_compact_utf8_and_keys_become_strings() -> None:
    body = json_dumps({"name": "Zoë", "n": [1, 2.5, None, True], 1: "one"}, None)
    assert body == '{"name":"Zoë","n":[1,2.5,null,true],"1":"one"}'.encode()


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_refused_by_both_backends(number: float) -> None:
    with pytest.raises(ValueError, match="Out of range float values"):
        json_dumps({"value": number})


def test_integers_past_64_bits_and_deep_nesting_are_encoded() -> None:
    assert encode(2**70) == 2**70
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    assert json_dumps(deep, None) == b"[" * 301 + b"]" * 301


def test_an_unknown_type_names_itself_and_the_registry() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match=r"Opaque is not JSON serializable.*register_json_type"):
        json_dumps({"value": Opaque()}, None)


@pytest.mark.usefixtures("clean_registry")
def test_registered_types_and_their_subclasses(backend: str) -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    class Euros(Money):
        pass

    register_json_type(Money, lambda money: {"cents": money.cents})
    assert encode([Money(5), Euros(7)]) == [{"cents": 5}, {"cents": 7}]


@pytest.mark.usefixtures("clean_registry")
def test_a_registered_format_wins_over_the_built_in_one() -> None:
    register_json_type(Decimal, float)
    register_json_type(datetime, lambda value: value.timestamp())
    register_json_type(Point, lambda point: [point.x, point.y])
    value = {"price": Decimal("1.5"), "at": datetime(2024, 1, 1, tzinfo=UTC), "p": Point(1, 2)}
    assert encode(value) == {"price": 1.5, "at": 1704067200.0, "p": [1, 2]}
    assert encode(date(2024, 1, 1)) == "2024-01-01"  # datetime's format is not date's


def test_register_json_type_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="needs a class"):
        register_json_type("Decimal", str)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a callable"):
        register_json_type(Decimal, "str")  # type: ignore[arg-type]


def test_json_default_is_usable_with_the_standard_json_module() -> None:
    assert json.dumps({"on": date(2024, 1, 1)}, default=json_default) == '{"on": "2024-01-01"}'


def test_a_json_response_subclass_adds_types_of_its_own() -> None:
    def seconds(value: Any) -> Any:
        if isinstance(value, timedelta):
            return value.total_seconds()
        raise TypeError(value)  # left to the built-in formats

    class MyJSONResponse(JSONResponse):
        json_default = seconds  # a plain function: not bound as a method

    response = MyJSONResponse({"wait": timedelta(minutes=1), "on": date(2024, 1, 1)})
    assert json.loads(response.body) == {"wait": 60.0, "on": "2024-01-01"}
    with pytest.raises(TypeError, match="timedelta is not JSON serializable"):
        JSONResponse({"wait": timedelta(minutes=1)})


def test_endpoints_returning_dicts_and_websockets_use_the_formats() -> None:
    app = App()

    @app.get("/event")
    async def event() -> dict[str, Any]:
        return {"id": uuid.UUID(int=1), "at": datetime(2024, 1, 1), "color": Color.RED}

    @app.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"price": Decimal("9.99")})
        await websocket.send_json({"on": date(2024, 1, 1)}, mode="binary")
        await websocket.close()

    client = TestClient(app)
    assert client.get("/event").json() == {
        "id": "00000000-0000-0000-0000-000000000001",
        "at": "2024-01-01T00:00:00",
        "color": "red",
    }
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == '{"price":"9.99"}'
        assert websocket.receive_bytes() == b'{"on":"2024-01-01"}'


def test_set_json_backend_choices(backend: str) -> None:
    assert json_backend() == backend
    set_json_backend("auto")
    assert json_backend() == "orjson"  # installed by the test extra
    with pytest.raises(ValueError, match="backend must be"):
        set_json_backend("simplejson")  # type: ignore[arg-type]


def test_orjson_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders, "_orjson_dumps", None)
    monkeypatch.setattr(encoders, "_orjson_dumps_factory", lambda: None)
    with pytest.raises(RuntimeError, match=r"pip install 'microasgi\[orjson\]'"):
        set_json_backend("orjson")
    set_json_backend("auto")
    assert json_backend() == "json"


def test_without_orjson_installed_there_is_no_orjson_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "orjson", None)  # makes `import orjson` fail
    assert encoders._orjson_dumps_factory() is None


def test_the_type_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    full: dict[type, Any] = {type(f"T{index}", (), {}): None for index in range(1024)}
    monkeypatch.setattr(encoders, "_found", full)
    assert encode(Decimal("1")) == "1"
    assert Decimal not in full


def test_the_backend_is_chosen_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders, "_backend", None)
    monkeypatch.setattr(encoders, "json_dumps", encoders._first_dumps)
    assert encoders.json_dumps([1], None) == b"[1]"
    assert json_backend() == "orjson"
    monkeypatch.setattr(encoders, "_backend", None)
    assert json_backend() == "orjson"
