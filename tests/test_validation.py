"""The converters of microasgi.validation on their own: JSON and text modes, the edges."""

import dataclasses
import datetime as dt
import decimal
import uuid
from typing import Annotated, Any

import pytest

from microasgi import Field
from microasgi.scalars import Invalid, UnsupportedType
from microasgi.validation import converter_for, is_list


def problems(annotation: Any, value: Any, *, text: bool = False) -> list[tuple[Any, str]]:
    with pytest.raises(Invalid) as raised:
        converter_for(annotation, text=text)(value)
    return [(loc, kind) for loc, _, kind in raised.value.problems]


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (bytes, "hi", b"hi"),
        (bytes, b"raw", b"raw"),
        (decimal.Decimal, 2, decimal.Decimal("2")),
        (decimal.Decimal, 1.5, decimal.Decimal("1.5")),
        (decimal.Decimal, "3.25", decimal.Decimal("3.25")),
        (int | None, None, None),
        (int | None, 4, 4),
        (int | str, "x", "x"),
        (None, None, None),
        (dt.date, dt.date(2026, 1, 2), dt.date(2026, 1, 2)),
        (uuid.UUID, uuid.UUID(int=3), uuid.UUID(int=3)),
        (dict[int, str], {"1": "a"}, {1: "a"}),
        (dict, {"a": [1]}, {"a": [1]}),
        (list, [1, "a"], [1, "a"]),
        (Annotated[str | None, Field(min_length=2)], None, None),
    ],
)
def test_json_values(annotation: Any, value: Any, expected: Any) -> None:
    assert converter_for(annotation, text=False)(value) == expected


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (bytes, 5, [((), "bytes_type")]),
        (None, 1, [((), "none_required")]),
        (int | bool, "x", [((), "int_type")]),
        (list[int], {"a": 1}, [((), "list_type")]),
        (dict[str, int], [1], [((), "dict_type")]),
        (dict[int, int], {"a": 1}, [(("a",), "int_parsing")]),
        (uuid.UUID, 5, [((), "uuid_type")]),
        (Annotated[int, Field(ge=1)], True, [((), "int_type")]),
        (Annotated[Any, Field(ge=1)], "text", [((), "greater_than_equal")]),
        (Annotated[Any, Field(pattern="a+")], 5, [((), "string_pattern_mismatch")]),
        (Annotated[list[int], Field(min_length=2)], [1], [((), "too_short")]),
    ],
)
def test_json_problems(annotation: Any, value: Any, expected: list[Any]) -> None:
    assert problems(annotation, value) == expected


def test_a_dataclass_instance_passes_as_it_is() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    point = Point(1)
    assert converter_for(Point, text=False)(point) is point


@pytest.mark.parametrize(
    ("annotation", "text", "words"),
    [
        (dict[str, int], True, "request text"),
        (complex, False, "JSON"),
        (Annotated[str, Field(pattern="[")], True, "no regular expression"),
    ],
)
def test_unsupported_annotations(annotation: Any, text: bool, words: str) -> None:
    with pytest.raises(UnsupportedType, match=words):
        converter_for(annotation, text=text)


def test_an_unsupported_field_names_its_dataclass() -> None:
    @dataclasses.dataclass
    class Shape:
        sides: complex

    with pytest.raises(UnsupportedType, match=r"complex cannot be read from JSON \(in Shape\)"):
        converter_for(Shape, text=False)


def test_is_list_sees_through_optional_and_annotated() -> None:
    assert is_list(Annotated[list[int] | None, Field()])
    assert not is_list(int | None)
    assert not is_list(int | str)
