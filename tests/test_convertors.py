"""Convertors: what each kind matches, converts and prints; registering a custom one."""

import uuid
from typing import Any

import pytest

from microasgi import App, Convertor, URLPath, register_convertor
from microasgi.convertors import (
    CONVERTOR_TYPES,
    FloatConvertor,
    IntegerConvertor,
    PathConvertor,
    StringConvertor,
    UUIDConvertor,
)
from microasgi.testclient import TestClient

UUID_TEXT = "5f3c7e8a-1b2d-4c3e-8f9a-0b1c2d3e4f5a"


@pytest.mark.parametrize(
    ("convertor", "text", "matches"),
    [
        (StringConvertor(), "hello", True),
        (StringConvertor(), "", False),
        (StringConvertor(), "a/b", False),
        (IntegerConvertor(), "0042", True),
        (IntegerConvertor(), "-1", False),
        (IntegerConvertor(), "1.5", False),
        (IntegerConvertor(), "", False),
        (IntegerConvertor(), "\u0663", False),  # ARABIC-INDIC DIGIT THREE: isdigit() but not ASCII
        (IntegerConvertor(), "\u00b2", False),  # SUPERSCRIPT TWO
        (FloatConvertor(), "3.25", True),
        (FloatConvertor(), "3", True),
        (FloatConvertor(), "3.", False),
        (FloatConvertor(), "nan", False),
        (FloatConvertor(), "1e5", False),
        (UUIDConvertor(), UUID_TEXT, True),
        (UUIDConvertor(), UUID_TEXT.upper(), True),
        (UUIDConvertor(), UUID_TEXT[:-1], False),
        (PathConvertor(), "", True),
        (PathConvertor(), "a/b/c", True),
    ],
)
def test_what_each_convertor_matches(convertor: Convertor, text: str, matches: bool) -> None:
    assert convertor.matches(text) is matches


def test_int_converts_to_int() -> None:
    assert IntegerConvertor().convert("0042") == 42


def test_float_converts_to_float() -> None:
    assert FloatConvertor().convert("3.25") == 3.25


def test_path_converts_to_itself() -> None:
    assert PathConvertor().convert("a/b") == "a/b"


def test_uuid_converts_to_uuid() -> None:
    assert UUIDConvertor().convert(UUID_TEXT.upper()) == uuid.UUID(UUID_TEXT)


@pytest.mark.parametrize(
    ("convertor", "value", "text"),
    [
        (StringConvertor(), "hello", "hello"),
        (StringConvertor(), 5, "5"),
        (IntegerConvertor(), 42, "42"),
        (IntegerConvertor(), "7", "7"),
        (FloatConvertor(), 3.25, "3.25"),
        (FloatConvertor(), 1.0, "1.0"),
        (FloatConvertor(), 1e20, "100000000000000000000"),
        (FloatConvertor(), 1e-7, "0.0000001"),
        (UUIDConvertor(), uuid.UUID(UUID_TEXT), UUID_TEXT),
        (UUIDConvertor(), UUID_TEXT.upper(), UUID_TEXT),
        (PathConvertor(), "a/b", "a/b"),
    ],
)
def test_to_string_prints_what_the_convertor_matches(
    convertor: Convertor, value: Any, text: str
) -> None:
    assert convertor.to_string(value) == text
    assert convertor.matches(text)


@pytest.mark.parametrize(
    ("convertor", "value", "message"),
    [
        (StringConvertor(), "", "non-empty"),
        (StringConvertor(), "a/b", "no '/'"),
        (IntegerConvertor(), -1, "must not be negative"),
        (FloatConvertor(), -0.5, "finite and >= 0"),
        (FloatConvertor(), float("inf"), "finite and >= 0"),
        (FloatConvertor(), float("nan"), "finite and >= 0"),
        (UUIDConvertor(), "not-a-uuid", "badly formed"),
    ],
)
def test_to_string_refuses_values_that_would_not_round_trip(
    convertor: Convertor, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        convertor.to_string(value)


def test_base_convertor_must_be_subclassed() -> None:
    convertor = Convertor()
    with pytest.raises(NotImplementedError):
        convertor.convert("x")
    with pytest.raises(NotImplementedError):
        convertor.to_string("x")


class HexConvertor(Convertor):
    """Matches lowercase hex, converts to int."""

    regex = "[0-9a-f]+"

    def convert(self, value: str) -> int:
        return int(value, 16)

    def to_string(self, value: Any) -> str:
        return format(int(value), "x")


@pytest.fixture
def hex_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register ``hex`` for one test; the registry is restored afterwards."""
    monkeypatch.delitem(CONVERTOR_TYPES, "hex", raising=False)
    register_convertor("hex", HexConvertor())
    return "hex"


def test_registered_convertor_matches_and_converts_in_routes(hex_kind: str) -> None:
    app = App()

    @app.get("/colors/{value:hex}")
    async def color(value: int) -> dict[str, int]:
        return {"value": value}

    client = TestClient(app)
    assert client.get("/colors/ff").json() == {"value": 255}
    assert client.get("/colors/zz").status_code == 404


def test_registered_convertor_builds_urls(hex_kind: str) -> None:
    app = App()

    @app.get("/colors/{value:hex}")
    async def color(value: int) -> str:
        return ""

    assert app.url_path_for("color", value=255) == URLPath("/colors/ff")


def test_registered_convertor_ranks_as_typed(hex_kind: str) -> None:
    app = App()

    @app.get("/ids/{name}")
    async def by_name(name: str) -> str:
        return "name"

    @app.get("/ids/{value:hex}")
    async def by_hex(value: int) -> str:
        return "hex"

    client = TestClient(app)
    assert client.get("/ids/abc").text == "hex"
    assert client.get("/ids/xyz").text == "name"


def test_a_convertor_refusing_the_text_falls_through(monkeypatch: pytest.MonkeyPatch) -> None:
    class EvenConvertor(Convertor):
        regex = "[0-9]+"

        def convert(self, value: str) -> int:
            if int(value) % 2:
                raise ValueError("odd")
            return int(value)

        def to_string(self, value: Any) -> str:
            return str(value)

    monkeypatch.delitem(CONVERTOR_TYPES, "even", raising=False)
    register_convertor("even", EvenConvertor())
    app = App()

    @app.get("/n/{number:even}")
    async def even(number: int) -> str:
        return "even"

    @app.get("/n/{number}")
    async def other(number: str) -> str:
        return "other"

    client = TestClient(app)
    assert client.get("/n/4").text == "even"
    assert client.get("/n/5").text == "other"


def test_register_convertor_needs_an_instance() -> None:
    with pytest.raises(TypeError, match=r"needs a Convertor instance.*MyConvertor\(\)"):
        register_convertor("hex", HexConvertor)  # type: ignore[arg-type]


def test_register_convertor_needs_an_identifier_name() -> None:
    with pytest.raises(ValueError, match="must be an identifier"):
        register_convertor("two words", HexConvertor())


def test_register_convertor_needs_a_regex() -> None:
    class NoRegex(Convertor):
        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: Any) -> str:
            return str(value)

    with pytest.raises(ValueError, match="non-empty class attribute 'regex'"):
        register_convertor("noregex", NoRegex())


def test_register_convertor_refuses_a_regex_spanning_segments() -> None:
    class Anything(Convertor):
        regex = ".+"

        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: Any) -> str:
            return str(value)

    with pytest.raises(ValueError, match="within one path segment"):
        register_convertor("anything", Anything())
    assert "anything" not in CONVERTOR_TYPES
