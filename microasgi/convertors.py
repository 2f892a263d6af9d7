"""Path parameter convertors: how ``{name:kind}`` matches, converts and prints.

A convertor has a regex for one path segment (``path`` may span segments), a
``convert`` from the matched text and a ``to_string`` for URL building.
Its ``rank`` orders parameters at the same position: typed ones are tried before
``str``, and ``str`` before ``path`` (the most specific wins).
"""

import math
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

RANK_TYPED = 2
RANK_STR = 1
RANK_PATH = 0


class Convertor:
    """Base class; subclass it and give ``regex``, ``convert`` and ``to_string``."""

    regex: ClassVar[str] = ""
    rank: ClassVar[int] = RANK_TYPED

    def __init__(self) -> None:
        self.pattern = re.compile(self.regex)

    def matches(self, text: str) -> bool:
        """Whether one path segment fits. The router calls the regex's own ``fullmatch``
        (C code, no Python frame) unless a subclass overrides this."""
        return self.pattern.fullmatch(text) is not None

    def converter(self) -> Callable[[str], Any]:
        """The fastest callable doing ``convert`` (a builtin for the built-in convertors)."""
        # Looked up by exact type: a subclass may override convert().
        return _BUILTIN_CONVERTERS.get(type(self), self.convert)

    def segment_test(self) -> Callable[[str], object]:
        """The fastest callable answering ``matches`` (truthy when the segment fits)."""
        if type(self).matches is Convertor.matches:
            return self.pattern.fullmatch
        return self.matches

    def convert(self, value: str) -> Any:
        raise NotImplementedError

    def to_string(self, value: Any) -> str:
        raise NotImplementedError


class StringConvertor(Convertor):
    regex = "[^/]+"
    rank = RANK_STR

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: Any) -> str:
        text = str(value)
        if not text or "/" in text:
            raise ValueError(f"A str path parameter must be non-empty and hold no '/': {text!r}")
        return text


class PathConvertor(Convertor):
    regex = ".*"
    rank = RANK_PATH

    def matches(self, text: str) -> bool:
        return True

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: Any) -> str:
        return str(value)


class IntegerConvertor(Convertor):
    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: Any) -> str:
        number = int(value)
        if number < 0:
            raise ValueError(f"An int path parameter must not be negative: {number}")
        return str(number)


class FloatConvertor(Convertor):
    regex = r"[0-9]+(\.[0-9]+)?"

    def convert(self, value: str) -> float:
        return _finite_float(value)

    def to_string(self, value: Any) -> str:
        number = float(value)
        if number < 0 or not math.isfinite(number):
            raise ValueError(f"A float path parameter must be finite and >= 0: {number}")
        # Decimal(repr(x)) prints the shortest exact text without exponent notation.
        return format(Decimal(repr(number)), "f")


class UUIDConvertor(Convertor):
    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def convert(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_string(self, value: Any) -> str:
        return str(uuid.UUID(str(value)))


def _finite_float(text: str) -> float:
    """``float(text)``, refusing what overflows to infinity (over 308 digits) with the
    ValueError that makes the router answer 404, as ``int()`` does past 4,300 digits."""
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:20]}... is too large for a float")
    return number


# The built-in convertors' convert() is a builtin call; the router calls it directly.
_BUILTIN_CONVERTERS: dict[type[Convertor], Callable[[str], Any]] = {
    StringConvertor: str,
    PathConvertor: str,
    IntegerConvertor: int,
    FloatConvertor: _finite_float,
    UUIDConvertor: uuid.UUID,
}

CONVERTOR_TYPES: dict[str, Convertor] = {
    "str": StringConvertor(),
    "path": PathConvertor(),
    "int": IntegerConvertor(),
    "float": FloatConvertor(),
    "uuid": UUIDConvertor(),
}


def register_convertor(name: str, convertor: Convertor) -> None:
    """Make ``{param:name}`` available in paths registered from now on.

    Raises:
        TypeError: ``convertor`` is not a ``Convertor`` instance.
        ValueError: ``name`` is not an identifier, or the regex is empty or can span segments.
    """
    if not isinstance(convertor, Convertor):
        raise TypeError(
            f"register_convertor({name!r}, ...) needs a Convertor instance, got {convertor!r}; "
            "subclass microasgi.Convertor and pass MyConvertor()."
        )
    if not name.isidentifier():
        raise ValueError(f"Convertor name must be an identifier, got {name!r}.")
    if not convertor.regex:
        raise ValueError(f"Convertor {name!r} needs a non-empty class attribute 'regex'.")
    if convertor.pattern.fullmatch("/"):
        raise ValueError(f"Convertor {name!r} must match within one path segment (no '/').")
    CONVERTOR_TYPES[name] = convertor
