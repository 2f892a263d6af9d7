"""Converters of single values, and the constraint checks a marker asks for.

A converter takes one value and returns it converted, or raises ``Invalid`` with every
problem found. ``TEXT_SCALARS`` convert request text (path, query, header, cookie, form);
``JSON_SCALARS`` check and convert parsed JSON, strictly (a string is no number, ``1`` is no
boolean). ``constrained`` wraps a converter with the checks of a ``Field`` (bounds,
lengths, pattern). ``microasgi.validation`` composes these into converters of whole types.
"""

import datetime as dt
import decimal
import math
import re
import uuid
from collections.abc import Callable
from typing import Any, NoReturn

from microasgi.params import Field

Loc = tuple[str | int, ...]
# One problem: where inside the value (empty for the value itself), message, error type.
Problem = tuple[Loc, str, str]
Converter = Callable[[Any], Any]


class Invalid(Exception):
    """A value that does not convert; ``problems`` lists every reason, located inside it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


class UnsupportedType(TypeError):
    """An annotation no converter can read (raised when the converter is compiled)."""


def fail(message: str, kind: str) -> NoReturn:
    raise Invalid([((), message, kind)])


# Scalars -----------------------------------------------------------------------------------


def _text_str(value: str) -> str:
    return value


def _json_str(value: Any) -> str:
    if type(value) is not str:
        fail("Input should be a valid string", "string_type")
    return value


def _text_int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        fail("Input should be a valid integer, unable to parse string as an integer", "int_parsing")


def _json_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    fail("Input should be a valid integer", "int_type")


def _finite(number: float) -> float:
    if not math.isfinite(number):
        fail("Input should be a finite number", "finite_number")
    return number


def _text_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        fail("Input should be a valid number, unable to parse string as a number", "float_parsing")
    return _finite(number)


def _json_float(value: Any) -> float:
    if type(value) is float or type(value) is int:
        return _finite(float(value))
    fail("Input should be a valid number", "float_type")


_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


def _text_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    fail("Input should be a valid boolean, unable to interpret input", "bool_parsing")


def _json_bool(value: Any) -> bool:
    if type(value) is not bool:
        fail("Input should be a valid boolean", "bool_type")
    return value


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if type(value) is not str:
        fail("Input should be a valid string", "bytes_type")
    return value.encode()


def _parsed(kind: type, parse: Callable[[str], Any], what: str, error: str) -> Converter:
    """A converter of text to ``kind`` (an instance of ``kind`` passes as it is)."""

    def convert(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        if type(value) is not str:
            fail(f"Input should be a valid {what}", f"{error}_type")
        try:
            return parse(value)
        except (ValueError, ArithmeticError):
            fail(f"Input should be a valid {what}", f"{error}_parsing")

    return convert


def _parse_decimal(value: str) -> decimal.Decimal:
    number = decimal.Decimal(value)
    if not number.is_finite():
        raise ValueError(value)
    return number


def _json_decimal(value: Any) -> decimal.Decimal:
    if type(value) is int or type(value) is float:
        return _TEXT_DECIMAL(str(value))  # type: ignore[no-any-return]
    return _TEXT_DECIMAL(value)  # type: ignore[no-any-return]


def _parse_datetime(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _parse_date(value: str) -> dt.date:
    if "T" in value or " " in value:
        raise ValueError(value)
    return dt.date.fromisoformat(value)


_TEXT_DECIMAL = _parsed(decimal.Decimal, _parse_decimal, "decimal", "decimal")
_SHARED: dict[Any, Converter] = {
    bytes: _bytes,
    uuid.UUID: _parsed(uuid.UUID, uuid.UUID, "UUID", "uuid"),
    dt.datetime: _parsed(dt.datetime, _parse_datetime, "datetime", "datetime"),
    dt.date: _parsed(dt.date, _parse_date, "date", "date"),
}
TEXT_SCALARS: dict[Any, Converter] = {
    str: _text_str,
    int: _text_int,
    float: _text_float,
    bool: _text_bool,
    decimal.Decimal: _TEXT_DECIMAL,
    **_SHARED,
}
JSON_SCALARS: dict[Any, Converter] = {
    str: _json_str,
    int: _json_int,
    float: _json_float,
    bool: _json_bool,
    decimal.Decimal: _json_decimal,
    **_SHARED,
}


def constrained(convert: Converter, marker: Field, kind: Any) -> Converter:
    """Wrap ``convert`` with the checks ``marker`` asks for (bounds, lengths, pattern)."""
    checks: list[Callable[[Any], None]] = []
    for attribute, holds, words, error in _BOUNDS:
        limit = getattr(marker, attribute)
        if limit is not None:
            checks.append(_bound_check(limit, holds, words, error))
    if marker.min_length is not None or marker.max_length is not None:
        checks.append(_length_check(marker.min_length, marker.max_length))
    if marker.pattern is not None:
        try:
            compiled = re.compile(marker.pattern)
        except re.error as exc:
            raise UnsupportedType(
                f"pattern {marker.pattern!r} is no regular expression: {exc}"
            ) from None
        checks.append(_pattern_check(compiled))
    if not checks:
        return convert

    def checked(value: Any) -> Any:
        result = convert(value)
        if result is not None:
            for check in checks:
                check(result)
        return result

    return checked


_BOUNDS: tuple[tuple[str, Callable[[Any, Any], bool], str, str], ...] = (
    ("ge", lambda value, limit: value >= limit, "greater than or equal to", "greater_than_equal"),
    ("gt", lambda value, limit: value > limit, "greater than", "greater_than"),
    ("le", lambda value, limit: value <= limit, "less than or equal to", "less_than_equal"),
    ("lt", lambda value, limit: value < limit, "less than", "less_than"),
)


def _bound_check(
    limit: Any, holds: Callable[[Any, Any], bool], words: str, error: str
) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        try:
            if holds(value, limit):
                return
        except TypeError:
            pass
        fail(f"Input should be {words} {limit}", error)

    return check


def _length_check(shortest: int | None, longest: int | None) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        what = "String" if isinstance(value, str) else "Value"
        unit = " characters" if isinstance(value, str) else " items"
        if shortest is not None and len(value) < shortest:
            fail(f"{what} should have at least {shortest}{unit}", "too_short")
        if longest is not None and len(value) > longest:
            fail(f"{what} should have at most {longest}{unit}", "too_long")

    return check


def _pattern_check(pattern: re.Pattern[str]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            fail(f"String should match pattern '{pattern.pattern}'", "string_pattern_mismatch")

    return check
