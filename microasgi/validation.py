"""Typed values from request text and JSON: converters compiled once from annotations.

``converter_for(annotation, text=...)`` reads an annotation a single time and returns a
function that converts one value, raising ``Invalid`` with every problem it found. Text
mode converts strings (path, query, header, cookie and form values; a list annotation gets
the list of a key's repeats); JSON mode checks and converts parsed JSON (a body). Plain
types, ``Enum``, ``Literal``, unions, ``list``/``dict``, dataclasses and ``TypedDict`` need
nothing installed; pydantic models and msgspec Structs are handed to their own library,
which is imported only when such a type is met. An annotation no converter reads is a
``TypeError`` (``UnsupportedType``) when the converter is compiled, never per request.
"""

import dataclasses
import enum
import inspect
import re
import types
import typing
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
)

from typing_extensions import is_typeddict

from microasgi.params import Field
from microasgi.scalars import (
    JSON_SCALARS,
    TEXT_SCALARS,
    Converter,
    Invalid,
    Loc,
    Problem,
    UnsupportedType,
    constrained,
    fail,
)


def unwrap(annotation: Any) -> tuple[Any, list[Field]]:
    """The type inside ``Annotated`` (and ``Required``/``NotRequired``), with its markers."""
    markers: list[Field] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            markers.extend(arg for arg in annotation.__metadata__ if isinstance(arg, Field))
            annotation = annotation.__origin__
        elif origin is Required or origin is NotRequired:
            annotation = get_args(annotation)[0]
        else:
            return annotation, markers


def is_pydantic_model(kind: Any) -> bool:
    return isinstance(kind, type) and any(
        base.__name__ == "BaseModel" and base.__module__.startswith("pydantic")
        for base in kind.__mro__
    )


def is_msgspec_struct(kind: Any) -> bool:
    return isinstance(kind, type) and any(
        base.__name__ == "Struct" and base.__module__.startswith("msgspec") for base in kind.__mro__
    )


def is_model(kind: Any) -> bool:
    """A type whose value is an object of fields: a dataclass, TypedDict, pydantic model
    or msgspec Struct (what a parameter's annotation makes the JSON body)."""
    return (
        (isinstance(kind, type) and dataclasses.is_dataclass(kind))
        or is_typeddict(kind)
        or is_pydantic_model(kind)
        or is_msgspec_struct(kind)
    )


def is_list(annotation: Any) -> bool:
    """Whether the annotation (Optional and Annotated aside) is a ``list[...]``."""
    kind, _ = unwrap(annotation)
    if _is_union(kind):
        members = [arg for arg in get_args(kind) if arg is not type(None)]
        kind = members[0] if len(members) == 1 else kind
    return kind is list or get_origin(kind) is list


def _is_union(kind: Any) -> bool:
    origin = get_origin(kind)
    return origin is Union or origin is types.UnionType


def type_name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or repr(kind)


# Compiling ---------------------------------------------------------------------------------

_building: dict[tuple[Any, bool], Converter | None] = {}


def converter_for(annotation: Any, *, text: bool) -> Converter:
    """Compile the converter of ``annotation`` in text or JSON mode.

    Raises:
        UnsupportedType: the annotation (or a part of it) cannot be converted this way.
    """
    kind, markers = unwrap(annotation)
    convert = _converter_for_type(kind, text)
    for marker in markers:
        convert = constrained(convert, marker, kind)
    return convert


def _converter_for_type(kind: Any, text: bool) -> Converter:
    if kind is None:  # `None` in an annotation means its type
        kind = type(None)
    if kind is Any or kind is object or kind is inspect.Parameter.empty:
        return _identity
    scalar = (TEXT_SCALARS if text else JSON_SCALARS).get(kind)
    if scalar is not None:
        return scalar
    origin = get_origin(kind)
    if _is_union(kind):
        return _union(kind, text)
    if origin is Literal:
        return _choices(get_args(kind), text, "literal_error")
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _choices(tuple(kind), text, "enum", enum_type=kind)
    if kind is list or origin is list:
        args = get_args(kind)
        return _list(converter_for(args[0] if args else Any, text=text))
    if (kind is dict or origin is dict) and not text:
        args = get_args(kind) or (str, Any)
        return _dict(converter_for(args[0], text=True), converter_for(args[1], text=False))
    if is_model(kind):
        return _model(kind, text)
    if kind is type(None) and not text:
        return _none
    where = "request text (path, query, header, cookie, form)" if text else "JSON"
    raise UnsupportedType(f"{type_name(kind)} cannot be read from {where}")


def _identity(value: Any) -> Any:
    return value


def _none(value: Any) -> None:
    if value is not None:
        fail("Input should be None", "none_required")


# Choices, unions, containers ---------------------------------------------------------------


def _choices(
    values: tuple[Any, ...], text: bool, error: str, enum_type: type[enum.Enum] | None = None
) -> Converter:
    """``Literal`` values or ``Enum`` members, matched by their text or JSON value."""
    by_key: dict[Any, Any]
    if text:
        by_key = {_text_key(_raw(value)): value for value in values}
    else:
        by_key = {(type(_raw(value)), _raw(value)): value for value in values}
    expected = ", ".join(repr(_raw(value)) for value in values)

    def convert(value: Any) -> Any:
        if enum_type is not None and isinstance(value, enum_type):
            return value
        try:
            key: Any = value if text else (type(value), value)
            return by_key[key]
        except (KeyError, TypeError):
            fail(f"Input should be {expected}", error)

    return convert


def _raw(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _text_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _union(kind: Any, text: bool) -> Converter:
    members = get_args(kind)
    allows_none = type(None) in members
    converters = [converter_for(arg, text=text) for arg in members if arg is not type(None)]
    if len(converters) == 1:
        only = converters[0]
        if not allows_none or text:
            return only

        def optional(value: Any) -> Any:
            return None if value is None else only(value)

        return optional

    def convert(value: Any) -> Any:
        if value is None and allows_none:
            return None
        first: Invalid | None = None
        for candidate in converters:
            try:
                return candidate(value)
            except Invalid as problem:
                first = first or problem
        raise first  # type: ignore[misc]

    return convert


def _list(item: Converter) -> Converter:
    def convert(value: Any) -> list[Any]:
        if type(value) is not list:
            fail("Input should be a valid list", "list_type")
        result: list[Any] = []
        problems: list[Problem] = []
        for index, element in enumerate(value):
            try:
                result.append(item(element))
            except Invalid as invalid:
                problems.extend(((index, *loc), msg, kind) for loc, msg, kind in invalid.problems)
        if problems:
            raise Invalid(problems)
        return result

    return convert


def _dict(key: Converter, item: Converter) -> Converter:
    def convert(value: Any) -> dict[Any, Any]:
        if type(value) is not dict:
            fail("Input should be a valid dictionary", "dict_type")
        result: dict[Any, Any] = {}
        problems: list[Problem] = []
        for name, element in value.items():
            try:
                result[key(name)] = item(element)
            except Invalid as invalid:
                problems.extend(((name, *loc), msg, kind) for loc, msg, kind in invalid.problems)
        if problems:
            raise Invalid(problems)
        return result

    return convert


# Objects of fields -------------------------------------------------------------------------


def model_fields(kind: Any) -> list[tuple[str, str, Any, bool]]:
    """``(attribute, key in the input, annotation, required)`` for each field of a
    dataclass, TypedDict, pydantic model or msgspec Struct."""
    if is_pydantic_model(kind):
        return [
            (name, field.alias or name, field.annotation, field.is_required())
            for name, field in kind.model_fields.items()
        ]
    if is_msgspec_struct(kind):
        import msgspec

        return [
            (field.name, field.encode_name, field.type, field.required)
            for field in msgspec.structs.fields(kind)
        ]
    hints = typing.get_type_hints(kind, include_extras=True)
    fields: list[tuple[str, str, Any, bool]] = []
    if is_typeddict(kind):
        required_keys = kind.__required_keys__
        for name, annotation in hints.items():
            fields.append((name, _alias(annotation, name), annotation, name in required_keys))
        return fields
    for field in dataclasses.fields(kind):
        if not field.init:
            continue
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        annotation = hints[field.name]
        fields.append((field.name, _alias(annotation, field.name), annotation, required))
    return fields


def _alias(annotation: Any, name: str) -> str:
    _, markers = unwrap(annotation)
    aliases = [marker.alias for marker in markers if marker.alias is not None]
    return aliases[-1] if aliases else name


def _model(kind: Any, text: bool) -> Converter:
    if is_pydantic_model(kind):
        return _pydantic(kind, text)
    if is_msgspec_struct(kind):
        return _msgspec(kind, text)
    key = (kind, text)
    if key in _built:
        return _built[key]
    if key in _building:  # a recursive type: the converter being built, looked up later
        return lambda value: _built[key](value)
    _building[key] = None
    try:
        plan = [
            (name, alias, converter_for(annotation, text=text), required)
            for name, alias, annotation, required in model_fields(kind)
        ]
    except UnsupportedType as exc:
        raise UnsupportedType(f"{exc} (in {type_name(kind)})") from None
    finally:
        del _building[key]
    convert = _fields_converter(kind, plan, build_dict=is_typeddict(kind))
    _built[key] = convert
    return convert


_built: dict[tuple[Any, bool], Converter] = {}


def _fields_converter(
    kind: Any, plan: list[tuple[str, str, Converter, bool]], build_dict: bool
) -> Converter:
    def convert(value: Any) -> Any:
        if build_dict is False and isinstance(value, kind):
            return value
        if not isinstance(value, dict):
            fail("Input should be a valid dictionary or object", "model_type")
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for name, alias, field_converter, required in plan:
            if alias not in value:
                if required:
                    problems.append(((alias,), "Field required", "missing"))
                continue
            try:
                values[name] = field_converter(value[alias])
            except Invalid as invalid:
                problems.extend(((alias, *loc), msg, kind) for loc, msg, kind in invalid.problems)
        if problems:
            raise Invalid(problems)
        if build_dict:
            return values
        try:
            return kind(**values)
        except (ValueError, TypeError) as exc:  # a __post_init__ refusing the values
            fail(f"Value error, {exc}", "value_error")

    return convert


def _pydantic(kind: Any, text: bool) -> Converter:
    from pydantic import ValidationError

    validate = kind.model_validate

    def convert(value: Any) -> Any:
        try:
            return validate(value, strict=False)
        except ValidationError as exc:
            raise Invalid(
                [(tuple(error["loc"]), error["msg"], error["type"]) for error in exc.errors()]
            ) from None

    return convert


_MSGSPEC_PATH = re.compile(r"`\$((?:\.[^.`\[]+|\[\d+\])*)`")


def _msgspec(kind: Any, text: bool) -> Converter:
    import msgspec

    def convert(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        try:
            return msgspec.convert(value, kind, strict=not text)
        except msgspec.ValidationError as exc:
            message = str(exc)
            found = _MSGSPEC_PATH.search(message)
            loc: Loc = ()
            if found is not None:
                parts = re.findall(r"\.([^.\[]+)|\[(\d+)\]", found.group(1))
                loc = tuple(name if name else int(index) for name, index in parts)
                message = message[: found.start()].removesuffix(" - at ").strip()
            raise Invalid([(loc, message, "msgspec")]) from None

    return convert
