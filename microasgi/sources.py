"""Typed endpoint parameters: where each comes from, decided once, and reading them per request.

``plan_parameter`` turns one parameter of a signature into a ``TypedParam`` (its source,
its key in the request, its converter, whether it is required); ``read_arguments`` reads
and converts every typed parameter of a request, and raises one
``RequestValidationError`` listing every problem. The rules (docs/typed-parameters.md):
a name in the path is a path parameter; ``Annotated[T, Query()/Header()/...]`` names the
source; a dataclass, ``TypedDict`` or model is the JSON body; ``UploadFile`` is a file;
anything else of a simple type is a query parameter.
"""

import inspect
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from microasgi.datastructures import UploadFile
from microasgi.params import Field, Source
from microasgi.scalars import Converter, Invalid, UnsupportedType
from microasgi.validation import (
    converter_for,
    is_list,
    is_model,
    model_fields,
    type_name,
    unwrap,
)

_EMPTY = inspect.Parameter.empty
# The sources read from the request's head, without awaiting the body.
HEAD_SOURCES = ("path", "query", "header", "cookie")


class TypedParam(NamedTuple):
    """One typed parameter: ``name`` in the signature, ``key`` in its ``source``."""

    name: str
    source: Source
    key: str
    annotation: Any
    convert: Converter
    required: bool
    default: Any
    many: bool  # a list read from every repeat of a query key, header or form field
    marker: Field | None


def plan_parameter(
    parameter: inspect.Parameter, annotation: Any, path_names: Collection[str]
) -> TypedParam:
    """Decide the source and converter of ``parameter`` (not the connection or an injection).

    Raises:
        UnsupportedType: the annotation cannot be read from its source; the message says why.
    """
    kind, markers = unwrap(annotation)
    explicit = [marker for marker in markers if marker.source is not None]
    marker = explicit[-1] if explicit else (markers[-1] if markers else None)
    source: Source
    if explicit:
        source = explicit[-1].source  # type: ignore[assignment]
    elif parameter.name in path_names:
        source = "path"
    elif is_model(kind):
        source = "body"
    elif _is_upload(kind):
        source = "file"
    else:
        source = "query"
    if source == "path" and parameter.name not in path_names:
        raise UnsupportedType(
            f"it is marked Path() but the route's path has no {{{parameter.name}}}"
        )
    alias = marker.alias if marker is not None else None
    key = alias or parameter.name
    if source == "header" and alias is None:
        key = parameter.name.replace("_", "-")
    required = parameter.default is _EMPTY
    return TypedParam(
        name=parameter.name,
        source=source,
        key=key.lower() if source == "header" else key,
        annotation=annotation,
        convert=_converter(source, annotation, kind),
        required=required,
        default=None if required else parameter.default,
        many=is_list(annotation) and source in ("query", "header", "form", "file"),
        marker=marker,
    )


def _is_upload(kind: Any) -> bool:
    if is_list(kind):
        kind, _ = unwrap(kind)
        args = getattr(kind, "__args__", ())
        kind = args[0] if args else None
    return isinstance(kind, type) and issubclass(kind, UploadFile)


def _converter(source: Source, annotation: Any, kind: Any) -> Converter:
    if source == "file":
        if not _is_upload(kind):
            raise UnsupportedType(f"a File() parameter is an UploadFile, not {type_name(kind)}")
        return _upload_list if is_list(kind) else _upload
    if source in ("query", "header", "cookie", "path") and is_model(kind):
        raise UnsupportedType(
            f"{type_name(kind)} is an object of fields: it can be the body (Body() or Form()), "
            f"not a {source} parameter"
        )
    if source == "cookie" and is_list(kind):
        raise UnsupportedType("a cookie has one value, not a list")
    return converter_for(annotation, text=source != "body")


def _upload(value: Any) -> UploadFile:
    if not isinstance(value, UploadFile):
        raise Invalid([((), "Expected a file upload", "file_type")])
    return value


def _upload_list(values: list[Any]) -> list[UploadFile]:
    return [_upload(value) for value in values]


# Reading a request -------------------------------------------------------------------------

_MISSING: Any = object()


def read_head(
    typed: tuple[TypedParam, ...],
    connection: Any,
    params: Mapping[str, Any],
    kwargs: dict[str, Any],
) -> list[dict[str, Any]] | None:
    """Read the path, query, header and cookie parameters of ``typed`` into ``kwargs``;
    return their problems (None when there are none). Per request: kept to one frame
    besides the converters."""
    errors: list[dict[str, Any]] | None = None
    for param in typed:
        source = param.source
        if source == "query":
            values = connection.query_params
        elif source == "header":
            values = connection.headers
        elif source == "cookie":
            values = connection.cookies
        else:
            values = params
        raw = (
            (values.getlist(param.key) or _MISSING)
            if param.many
            else values.get(param.key, _MISSING)
        )
        if raw is not _MISSING:
            try:
                kwargs[param.name] = param.convert(raw)
                continue
            except Invalid:
                pass
        # Missing or invalid: the slow path, which says what is wrong.
        if errors is None:
            errors = []
        _store(param, raw, kwargs, errors)
    return errors


def _store(
    param: TypedParam,
    raw: Any,
    kwargs: dict[str, Any],
    errors: list[dict[str, Any]],
    loc: tuple[str | int, ...] | None = None,
) -> None:
    where = loc or (param.source if param.source not in ("form", "file") else "body", param.key)
    if raw is _MISSING:
        if param.required:
            errors.append({"loc": list(where), "msg": "Field required", "type": "missing"})
        else:
            kwargs[param.name] = param.default
        return
    try:
        kwargs[param.name] = param.convert(raw)
    except Invalid as invalid:
        errors.extend(
            {"loc": [*where, *inner], "msg": msg, "type": kind}
            for inner, msg, kind in invalid.problems
        )


async def read_body(
    typed: tuple[TypedParam, ...],
    request: Any,
    kwargs: dict[str, Any],
    errors: list[dict[str, Any]],
) -> None:
    """Read the JSON body parameters of ``typed``: the whole body when there is one."""
    body = await request.body()
    data = await request.json() if body.strip() else _MISSING
    if len(typed) == 1:
        _store(typed[0], data, kwargs, errors, ("body",))
        return
    if data is not _MISSING and not isinstance(data, dict):
        errors.append(
            {"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}
        )
        return
    for param in typed:
        raw = _MISSING if data is _MISSING else data.get(param.key, _MISSING)
        _store(param, raw, kwargs, errors, ("body", param.key))


async def read_form(
    typed: tuple[TypedParam, ...],
    request: Any,
    kwargs: dict[str, Any],
    errors: list[dict[str, Any]],
) -> None:
    """Read the form fields and files of ``typed`` (a dataclass or TypedDict takes them all)."""
    form = await request.form()
    for param in typed:
        kind, _ = unwrap(param.annotation)
        if is_model(kind):
            raw: Any = _form_object(kind, form)
            _store(param, raw, kwargs, errors, ("body",))
            continue
        raw = _form_value(form, param)
        if param.source == "form" and _holds_file(raw):
            errors.append(
                {
                    "loc": ["body", param.key],
                    "msg": "Expected a form field, got a file",
                    "type": "string_type",
                }
            )
            continue
        _store(param, raw, kwargs, errors)


def _form_value(form: Any, param: TypedParam) -> Any:
    if param.many:
        return form.getlist(param.key) or _MISSING
    return form.get(param.key, _MISSING)


def _holds_file(raw: Any) -> bool:
    if isinstance(raw, list):
        return any(isinstance(item, UploadFile) for item in raw)
    return isinstance(raw, UploadFile)


def _form_object(kind: Any, form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for _, key, annotation, _ in model_fields(kind):
        if is_list(annotation):
            found = form.getlist(key)
            if found:
                values[key] = found
        elif key in form:
            values[key] = form.get(key)
    return values
