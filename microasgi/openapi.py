"""The OpenAPI 3.1 document of an app, built from its routes, and the pages that serve it.

``openapi_document`` walks the routes (mounted routers included) and reads each endpoint's
plan, the same decisions the binder made at registration (``microasgi.endpoints``): path,
query, header and cookie parameters with their schemas, the request body, the response
from the return annotation, and a 422 where typed parameters may fail. A docstring's first
line is the summary, the rest the description, and a ``Tags: a, b`` line its tags (a named
mount adds its name). ``App(openapi_url=..., docs_url=...)`` serves the document and a
self-contained documentation page.
"""

import dataclasses
import datetime as dt
import decimal
import enum
import html
import inspect
import json
import re
import typing
import uuid
from collections.abc import Iterator
from typing import Any, Literal, get_args, get_origin

from typing_extensions import is_typeddict

from microasgi.datastructures import UploadFile
from microasgi.endpoints import class_endpoint_methods, plan_endpoint
from microasgi.routing import BaseRoute, Host, Mount, Route
from microasgi.sources import HEAD_SOURCES, TypedParam
from microasgi.validation import (
    is_msgspec_struct,
    is_pydantic_model,
    model_fields,
    type_name,
    unwrap,
)

Schema = dict[str, Any]
_REF = "#/components/schemas/"
_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_VALIDATION_ERROR: Schema = {
    "type": "object",
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "type": {"type": "string"},
    },
    "required": ["loc", "msg", "type"],
}


def openapi_document(routes: list[BaseRoute], title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (a dict ready for JSON)."""
    schemas: dict[str, Schema] = {}
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for path, route, tags in _http_routes(routes, "", ()):
        for method, function, parameters in _operations(route):
            operation = _operation(function, parameters, route, tags, schemas)
            operation_id = _unique(f"{route.name or 'endpoint'}_{method}", operation_ids)
            operation["operationId"] = operation_id
            paths.setdefault(path, {})[method] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
    }
    if schemas:
        document["components"] = {"schemas": dict(sorted(schemas.items()))}
    return document


def _unique(wanted: str, taken: set[str]) -> str:
    candidate, number = wanted, 2
    while candidate in taken:
        candidate, number = f"{wanted}_{number}", number + 1
    taken.add(candidate)
    return candidate


def _http_routes(
    routes: list[BaseRoute], prefix: str, tags: tuple[str, ...]
) -> Iterator[tuple[str, Route, tuple[str, ...]]]:
    for route in routes:
        if isinstance(route, Route):
            if not getattr(route.endpoint, "hidden_from_openapi", False):
                yield _PARAMETER.sub(r"{\1}", prefix + route.path), route, tags
        elif isinstance(route, Mount):
            inner_tags = (*tags, route.name) if route.name else tags
            yield from _http_routes(route.routes, prefix + route.path, inner_tags)
        elif isinstance(route, Host):
            yield from _http_routes(route.routes, prefix, tags)


def _operations(route: Route) -> Iterator[tuple[str, Any, list[inspect.Parameter]]]:
    """``(method, function, parameters)`` per documented method (HEAD rides on GET)."""
    endpoint = route.endpoint
    if isinstance(endpoint, type):
        for method, attribute in sorted(class_endpoint_methods(endpoint).items()):
            if method == "HEAD" and attribute == "get":
                continue
            function = getattr(endpoint, attribute)
            parameters = list(inspect.signature(function).parameters.values())
            static = inspect.getattr_static(endpoint, attribute)
            if not isinstance(static, staticmethod | classmethod):
                parameters = parameters[1:]
            yield method.lower(), function, parameters
        return
    parameters = list(inspect.signature(endpoint).parameters.values())
    for method in sorted(route.methods):
        if method == "HEAD" and "GET" in route.methods:
            continue
        yield method.lower(), endpoint, parameters


def _operation(
    function: Any,
    parameters: list[inspect.Parameter],
    route: Route,
    tags: tuple[str, ...],
    schemas: dict[str, Schema],
) -> dict[str, Any]:
    convertors = route.compiled.param_convertors
    plan = plan_endpoint(function, parameters, convertors)
    operation: dict[str, Any] = {}
    summary, description, doc_tags = _docstring(function)
    if summary:
        operation["summary"] = summary
    if description:
        operation["description"] = description
    if tags or doc_tags:
        operation["tags"] = list(dict.fromkeys([*tags, *doc_tags]))
    documented = [_path_parameter(name, convertors[name]) for name in plan.param_args]
    typed_names = {param.name for param in plan.typed}
    documented = [param for param in documented if param["name"] not in typed_names]
    documented += [
        _parameter(param, schemas) for param in plan.typed if param.source in HEAD_SOURCES
    ]
    for name in convertors:  # a path parameter the endpoint does not take is still there
        if name not in plan.param_args and name not in typed_names:
            documented.append(_path_parameter(name, convertors[name]))
    if documented:
        operation["parameters"] = documented
    body = _request_body(plan.typed, schemas)
    if body is not None:
        operation["requestBody"] = body
    operation["responses"] = _responses(plan.returns, bool(plan.typed), schemas)
    return operation


def _docstring(function: Any) -> tuple[str, str, list[str]]:
    text = inspect.getdoc(function) or ""
    tags: list[str] = []
    kept: list[str] = []
    for line in text.splitlines():
        if line.lower().startswith("tags:"):
            tags.extend(tag.strip() for tag in line[5:].split(",") if tag.strip())
        else:
            kept.append(line)
    summary, _, rest = "\n".join(kept).strip().partition("\n")
    return summary.strip(), rest.strip(), tags


_CONVERTOR_SCHEMAS: dict[str, Schema] = {
    "IntegerConvertor": {"type": "integer"},
    "FloatConvertor": {"type": "number"},
    "UUIDConvertor": {"type": "string", "format": "uuid"},
}


def _path_parameter(name: str, convertor: Any) -> dict[str, Any]:
    schema = _CONVERTOR_SCHEMAS.get(type(convertor).__name__, {"type": "string"})
    return {"name": name, "in": "path", "required": True, "schema": dict(schema)}


def _parameter(param: TypedParam, schemas: dict[str, Schema]) -> dict[str, Any]:
    schema = schema_for(param.annotation, schemas)
    if not param.required and param.default is not None:
        schema = {**schema, "default": _jsonable(param.default)}
    entry: dict[str, Any] = {
        "name": param.key,
        "in": param.source,
        "required": param.required or param.source == "path",
        "schema": schema,
    }
    if param.marker is not None and param.marker.description:
        entry["description"] = param.marker.description
    return entry


def _request_body(typed: tuple[TypedParam, ...], schemas: dict[str, Schema]) -> Any:
    body = [param for param in typed if param.source == "body"]
    form = [param for param in typed if param.source in ("form", "file")]
    if body:
        if len(body) == 1:
            schema = schema_for(body[0].annotation, schemas)
        else:
            schema = _object_schema(body, schemas)
        required = any(param.required for param in body)
        return {"required": required, "content": {"application/json": {"schema": schema}}}
    if form:
        media = "multipart/form-data" if any(p.source == "file" for p in form) else None
        media = media or "application/x-www-form-urlencoded"
        models = [param for param in form if _is_object(unwrap(param.annotation)[0])]
        if len(form) == 1 and models:
            schema = schema_for(form[0].annotation, schemas)
        else:
            schema = _object_schema(form, schemas)
        return {"required": True, "content": {media: {"schema": schema}}}
    return None


def _object_schema(params: list[TypedParam], schemas: dict[str, Schema]) -> Schema:
    schema: Schema = {
        "type": "object",
        "properties": {param.key: schema_for(param.annotation, schemas) for param in params},
    }
    required = [param.key for param in params if param.required]
    if required:
        schema["required"] = required
    return schema


def _responses(returns: Any, validated: bool, schemas: dict[str, Schema]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    kind, _ = unwrap(returns)
    if returns is None or returns is type(None):
        responses["204"] = {"description": "No Content"}
    elif _is_object(kind) or _is_object_list(kind):
        responses["200"] = {
            "description": "Successful Response",
            "content": {"application/json": {"schema": schema_for(returns, schemas)}},
        }
    else:
        responses["200"] = {"description": "Successful Response"}
    if validated:
        schemas["ValidationError"] = _VALIDATION_ERROR
        schemas["HTTPValidationError"] = {
            "type": "object",
            "properties": {
                "detail": {"type": "array", "items": {"$ref": _REF + "ValidationError"}}
            },
        }
        responses["422"] = {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": _REF + "HTTPValidationError"}}},
        }
    return responses


# JSON Schema of annotations ----------------------------------------------------------------

_SCALARS: dict[Any, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    bytes: {"type": "string"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
    decimal.Decimal: {"anyOf": [{"type": "number"}, {"type": "string"}]},
    type(None): {"type": "null"},
}


def _is_object_list(kind: Any) -> bool:
    args = get_args(kind)
    return get_origin(kind) is list and len(args) == 1 and _is_object(unwrap(args[0])[0])


def _is_object(kind: Any) -> bool:
    return (
        (isinstance(kind, type) and dataclasses.is_dataclass(kind))
        or is_typeddict(kind)
        or is_pydantic_model(kind)
        or is_msgspec_struct(kind)
    )


def schema_for(annotation: Any, schemas: dict[str, Schema]) -> Schema:
    """The JSON Schema of ``annotation``; object types land in ``schemas`` and are referenced."""
    kind, markers = unwrap(annotation)
    schema = dict(_schema_of_type(kind, schemas))
    for marker in markers:
        for attribute, keyword in _CONSTRAINTS:
            value = getattr(marker, attribute)
            if value is not None:
                if attribute in ("min_length", "max_length") and schema.get("type") == "array":
                    keyword = "minItems" if attribute == "min_length" else "maxItems"
                schema[keyword] = [_jsonable(value)] if keyword == "examples" else _jsonable(value)
    return schema


_CONSTRAINTS = (
    ("ge", "minimum"),
    ("le", "maximum"),
    ("gt", "exclusiveMinimum"),
    ("lt", "exclusiveMaximum"),
    ("min_length", "minLength"),
    ("max_length", "maxLength"),
    ("pattern", "pattern"),
    ("description", "description"),
    ("example", "examples"),
)


def _schema_of_type(kind: Any, schemas: dict[str, Schema]) -> Schema:
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        return scalar
    origin = get_origin(kind)
    if origin is typing.Union or type(kind).__name__ == "UnionType":
        return {"anyOf": [schema_for(arg, schemas) for arg in get_args(kind)]}
    if origin is Literal:
        return {"enum": [_jsonable(value) for value in get_args(kind)]}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"enum": [_jsonable(member.value) for member in kind]}
    if kind is list or origin is list:
        args = get_args(kind)
        return {"type": "array", "items": schema_for(args[0], schemas) if args else {}}
    if kind is dict or origin is dict:
        args = get_args(kind)
        return {
            "type": "object",
            "additionalProperties": schema_for(args[1], schemas) if args else {},
        }
    if isinstance(kind, type) and issubclass(kind, UploadFile):
        return {"type": "string", "format": "binary"}
    if _is_object(kind):
        return _component(kind, schemas)
    return {}


def _component(kind: Any, schemas: dict[str, Schema]) -> Schema:
    name = type_name(kind)
    if name not in schemas:
        if is_pydantic_model(kind):
            found = kind.model_json_schema(ref_template=_REF + "{model}")
            schemas.update(found.pop("$defs", {}))
            schemas[name] = found
        elif is_msgspec_struct(kind):
            import msgspec

            (_,), found = msgspec.json.schema_components([kind], ref_template=_REF + "{name}")
            schemas.update(found)
        else:
            schemas[name] = {}  # a placeholder, for recursive types
            schemas[name] = _fields_schema(kind, schemas)
    return {"$ref": _REF + name}


def _fields_schema(kind: Any, schemas: dict[str, Schema]) -> Schema:
    properties: dict[str, Schema] = {}
    required: list[str] = []
    defaults = {}
    if dataclasses.is_dataclass(kind):
        defaults = {
            field.name: field.default
            for field in dataclasses.fields(kind)
            if field.default is not dataclasses.MISSING
        }
    for name, key, annotation, is_required in model_fields(kind):
        properties[key] = schema_for(annotation, schemas)
        if name in defaults and defaults[name] is not None:
            properties[key]["default"] = _jsonable(defaults[name])
        if is_required:
            required.append(key)
    schema: Schema = {"title": type_name(kind), "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return str(value)


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; }}
details {{ border: 1px solid #ccc; border-radius: 4px; margin: .5rem 0; padding: .5rem; }}
summary {{ cursor: pointer; }} code {{ font-weight: bold; }}
.method {{ display: inline-block; min-width: 4.5rem; text-transform: uppercase; }}
pre {{ background: #f6f6f6; padding: .5rem; overflow: auto; }}
</style></head>
<body><h1>{title}</h1><p>The OpenAPI document: <a href="{openapi_url}">{openapi_url}</a></p>
<div id="operations">Loading...</div>
<script>
fetch({openapi_url_json}).then((response) => response.json()).then((doc) => {{
  const root = document.getElementById("operations");
  root.textContent = "";
  for (const [path, methods] of Object.entries(doc.paths)) {{
    for (const [method, operation] of Object.entries(methods)) {{
      const box = document.createElement("details");
      const head = document.createElement("summary");
      head.innerHTML = '<span class="method"></span> <code></code> <span></span>';
      head.children[0].textContent = method;
      head.children[1].textContent = path;
      head.children[2].textContent = operation.summary || "";
      const body = document.createElement("pre");
      body.textContent = JSON.stringify(operation, null, 2);
      box.append(head, body);
      root.append(box);
    }}
  }}
}});
</script></body></html>
"""


def docs_page(title: str, openapi_url: str) -> str:
    """The documentation page: no CDN, it fetches ``openapi_url`` and lists the operations."""
    return DOCS_PAGE.format(
        title=html.escape(title),
        openapi_url=html.escape(openapi_url),
        openapi_url_json=json.dumps(openapi_url).replace("<", "\\u003c"),
    )
