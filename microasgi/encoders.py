"""JSON encoding for responses: real data types, a per-type registry, and orjson when installed.

Values JSON already knows (str, int, float, bool, None, dict, list, tuple) are encoded by a C
encoder with no Python call. Only a value of another type reaches ``json_default``, which maps
it through the registry (``register_json_type``) and then the built-in formats:

=================================  ==========================================
``datetime``, ``date``, ``time``   ISO 8601 text (``isoformat()``)
``UUID``                           the canonical hex text
``Decimal``                        its exact text (``"12.50"``), never a float
``Enum``                           its ``value``
``PurePath``                       ``str(path)``
``set``, ``frozenset``             a list, sorted when the items can be
dataclass instances                an object of their fields
=================================  ==========================================

The encoder is orjson when it is importable (``pip install microasgi[orjson]``), else the
standard library's; ``set_json_backend`` picks one explicitly.
"""

import dataclasses
import enum
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from pathlib import PurePath
from typing import Any, Literal, Protocol

__all__ = [
    "json_backend",
    "json_default",
    "json_dumps",
    "register_json_type",
    "set_json_backend",
]

Encode = Callable[[Any], Any]
Backend = Literal["json", "orjson"]


class Dumps(Protocol):
    """``dumps(content, default=None) -> bytes``: the signature of every backend."""

    def __call__(self, content: Any, default: Encode | None = None) -> bytes: ...


def _isoformat(value: date | time) -> str:
    return value.isoformat()


def _sorted_if_possible(items: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:  # mixed types: keep the set's own order
        return list(items)


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _dataclass_fields(instance: Any) -> dict[str, Any]:
    # Shallow: nested values are encoded by the encoder itself, without dataclasses.asdict's copies.
    return {field.name: getattr(instance, field.name) for field in dataclasses.fields(instance)}


_BUILTIN: dict[type, Encode] = {
    datetime: _isoformat,
    date: _isoformat,
    time: _isoformat,
    uuid.UUID: str,
    Decimal: str,
    enum.Enum: _enum_value,
    PurePath: str,
    set: _sorted_if_possible,
    frozenset: _sorted_if_possible,
}
_registry: dict[type, Encode] = {}


def register_json_type(kind: type, encode: Encode) -> None:
    """Encode instances of ``kind`` (and its subclasses) as ``encode(value)`` returns.

    ``encode`` returns something JSON can hold (its items may be special types again). A
    registered type wins over the built-in formats: ``register_json_type(Decimal, float)``
    sends decimals as numbers. Types JSON already knows (``str``, ``int``, ``float``, ``bool``,
    ``dict``, ``list``, ``tuple`` and their subclasses, ``IntEnum`` and ``StrEnum`` included)
    are encoded as such and never reach the registry. Registration is process-wide.
    """
    if not isinstance(kind, type):
        raise TypeError(f"register_json_type needs a class, got {kind!r}.")
    if not callable(encode):
        raise TypeError(f"register_json_type needs a callable encoder, got {encode!r}.")
    _registry[kind] = encode
    _found.clear()


# Each type's encoder, looked up once (cleared when the registry changes).
_found: dict[type, Encode | None] = {}


def _encoder_for(kind: type) -> Encode | None:
    """The encoder for ``kind``: the registry first, then the built-ins, nearest base first."""
    try:
        return _found[kind]
    except KeyError:
        pass
    encode: Encode | None = None
    for table in (_registry, _BUILTIN):
        encode = next((table[base] for base in kind.__mro__ if base in table), None)
        if encode is not None:
            break
    if encode is None and dataclasses.is_dataclass(kind):
        encode = _dataclass_fields
    if len(_found) < 1024:  # bounded: types made on the fly must not grow it forever
        _found[kind] = encode
    return encode


def json_default(value: Any) -> Any:
    """A JSON-ready form of ``value`` (the ``default`` hook of ``json.dumps`` and orjson).

    Raises:
        TypeError: no format is known for the value's type.
    """
    encode = _encoder_for(type(value))
    if encode is None:
        raise TypeError(
            f"Object of type {type(value).__name__} is not JSON serializable: convert it, or "
            "register a format with microasgi.encoders.register_json_type()."
        )
    return encode(value)


@lru_cache(maxsize=32)
def _chained(extra: Encode) -> Encode:
    """``extra`` first, then the registry and built-ins when it raises TypeError."""

    def default(value: Any) -> Any:
        try:
            return extra(value)
        except TypeError:
            return json_default(value)

    return default


@lru_cache(maxsize=32)
def _stdlib_encoder(default: Encode) -> Callable[[Any, int], list[str]]:
    """A C encoder built once per ``default``: compact, UTF-8, NaN refused, no cycle check
    (a cyclic structure ends in RecursionError). ``JSONEncoder.encode`` would build a fresh
    one on each call."""
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:  # pragma: no cover - CPython always ships the accelerator
        encoder = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=default
        )
        return lambda content, _level: [encoder.encode(content)]
    encode: Callable[[Any, int], list[str]] = make_encoder(
        None, default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return encode


_plain_chunks = _stdlib_encoder(json_default)


def _stdlib_dumps(content: Any, default: Encode | None = None) -> bytes:
    chunks = _plain_chunks if default is None else _stdlib_encoder(_chained(default))
    return "".join(chunks(content, 0)).encode("utf-8")


def _orjson_dumps_factory() -> Dumps | None:
    try:
        import orjson
    except ImportError:
        return None
    dumps = orjson.dumps
    failure = orjson.JSONEncodeError
    # Datetimes and dataclasses go through json_default too, so both backends give the same text
    # and the registry can override them.
    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
    options |= orjson.OPT_PASSTHROUGH_DATETIME

    def orjson_dumps(content: Any, default: Encode | None = None) -> bytes:
        hook = json_default if default is None else _chained(default)
        try:
            encoded = dumps(content, default=hook, option=options)
        except failure:
            # Integers past 64 bits, nesting past 254 levels, or an unknown type: the standard
            # encoder does the first two, and raises the usual errors for the rest.
            return _stdlib_dumps(content, default)
        if b"null" in encoded:
            # orjson writes NaN and infinities as null, where JSON has no such numbers: let
            # the standard encoder refuse them (or encode a real null the same way).
            return _stdlib_dumps(content, default)
        return encoded

    return orjson_dumps


def _first_dumps(content: Any, default: Encode | None = None) -> bytes:
    """The first call picks the backend (importing orjson only now), then rebinds json_dumps."""
    set_json_backend("auto")
    return json_dumps(content, default)


_backend: Backend | None = None  # chosen on first use
_orjson_dumps: Dumps | None = None

# ``json_dumps(content, default=None) -> bytes``: ``content`` as compact UTF-8 JSON bytes, with
# the formats above. ``default``, when given, is tried first for a value of an unknown type
# (raise TypeError to leave it to the registry and built-ins). Rebound to the backend's own
# function, so a call costs no extra frame. Raises TypeError for a value with no known format,
# and ValueError for NaN or an infinity (refused with either backend).
json_dumps: Dumps = _first_dumps


def set_json_backend(backend: Literal["json", "orjson", "auto"]) -> None:
    """Use the standard library's encoder, orjson, or (``"auto"``) orjson when installed.

    Raises:
        RuntimeError: ``"orjson"`` when it is not installed (the message names the extra).
        ValueError: an unknown backend name.
    """
    global _backend, _orjson_dumps, json_dumps
    if backend not in ("json", "orjson", "auto"):
        raise ValueError(f"backend must be 'json', 'orjson' or 'auto', got {backend!r}.")
    if backend != "json" and _orjson_dumps is None:
        _orjson_dumps = _orjson_dumps_factory()
    if backend == "json" or (backend == "auto" and _orjson_dumps is None):
        _backend, json_dumps = "json", _stdlib_dumps
    elif _orjson_dumps is None:
        raise RuntimeError("orjson is not installed: pip install 'microasgi[orjson]'.")
    else:
        _backend, json_dumps = "orjson", _orjson_dumps


def json_backend() -> Backend:
    """The encoder in use: ``"json"`` or ``"orjson"`` (choosing it now if nothing has yet)."""
    if _backend is None:
        set_json_backend("auto")
    backend: Backend | None = _backend
    if backend is None:  # pragma: no cover - set_json_backend always sets it
        raise RuntimeError("No JSON backend could be chosen.")
    return backend
