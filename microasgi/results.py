"""What an endpoint's return annotation does to its result, and injected background tasks.

``-> None`` turns a returned ``None`` into a 204; a dataclass, ``TypedDict``, pydantic model
or msgspec Struct annotation serialises the result to JSON (checked against the annotation
when the app runs in debug). ``shaped_response`` also hands the tasks of an injected
``BackgroundTasks`` to the response. Decided once per endpoint (``result_shape``).
``to_response`` turns any endpoint's (or handler's) return value into a Response.
"""

import dataclasses
import inspect
from typing import Any, NamedTuple

from typing_extensions import is_typeddict

from microasgi.background import BackgroundTasks
from microasgi.responses import JSONResponse, PlainTextResponse, Response
from microasgi.scalars import Converter, Invalid, UnsupportedType
from microasgi.validation import (
    converter_for,
    is_model,
    is_msgspec_struct,
    is_pydantic_model,
    unwrap,
)


def endpoint_name(endpoint: Any) -> str:
    """A readable name for errors: ``module.qualname``."""
    module = getattr(endpoint, "__module__", None)
    qualname = getattr(endpoint, "__qualname__", None) or type(endpoint).__qualname__
    return f"{module}.{qualname}" if module else qualname


def to_response(result: Any, endpoint: Any) -> Response:
    """Convert an endpoint's return value to a Response.

    Raises:
        TypeError: the value is not a Response, dict, list, str or bytes.
    """
    if isinstance(result, Response):
        return result
    kind = type(result)  # exact types first: one identity check for the usual returns
    if kind is dict or kind is list or isinstance(result, dict | list):
        return JSONResponse(result)
    if kind is str or isinstance(result, str):
        return PlainTextResponse(result)
    if isinstance(result, bytes):
        return Response(result, media_type="application/octet-stream")
    hint = ""
    if inspect.iscoroutine(result):
        result.close()  # never awaited: close it so no "never awaited" warning follows
        hint = " (an `await` is probably missing: return await ...)"
    raise TypeError(
        f"Endpoint {endpoint_name(endpoint)} returned {type(result).__name__}{hint}; "
        "return a Response, dict, list, str or bytes."
    )


class ResultShape(NamedTuple):
    returns_none: bool  # `-> None`: None means 204
    model: Any  # the dataclass, TypedDict or model to serialise, or None
    check: Converter | None  # the JSON check of a TypedDict return, in debug


def shapes_result(returns: Any) -> bool:
    """Whether a return annotation changes how the result becomes a response."""
    return result_shape(returns) is not None


def result_shape(returns: Any) -> ResultShape | None:
    """What the return annotation ``returns`` asks of the result; None: nothing."""
    if returns is None or returns is type(None):
        return ResultShape(True, None, None)
    kind, _ = unwrap(returns)
    if not is_model(kind):
        return None
    check = None
    if is_typeddict(kind):
        try:
            check = converter_for(kind, text=False)
        except UnsupportedType:
            check = None
    return ResultShape(False, kind, check)


def shaped_response(
    result: Any,
    finish: ResultShape | None,
    tasks: BackgroundTasks | None,
    connection: Any,
    endpoint: Any,
) -> Response:
    """The response for ``result`` shaped by the return annotation, with injected tasks."""
    if isinstance(result, Response):
        response = result
    elif finish is not None and finish.returns_none and result is None:
        response = Response(status_code=204)
    elif finish is not None and finish.model is not None:
        response = _serialise(result, finish, connection, endpoint)
    else:
        response = to_response(result, endpoint)
    if tasks is not None and tasks.tasks:
        own = response.background
        response.background = tasks if own is None else BackgroundTasks([own, tasks])
    return response


def _serialise(result: Any, finish: ResultShape, connection: Any, endpoint: Any) -> Response:
    model = finish.model
    if getattr(getattr(connection, "app", None), "debug", False):
        _check_returned(result, finish, endpoint)
    if is_pydantic_model(model) and isinstance(result, model):
        return JSONResponse(result.model_dump(mode="json"))
    if is_msgspec_struct(model) and isinstance(result, model):
        import msgspec

        return JSONResponse(msgspec.to_builtins(result))
    if isinstance(result, dict) or dataclasses.is_dataclass(result):
        return JSONResponse(result)
    return to_response(result, endpoint)


def _check_returned(result: Any, finish: ResultShape, endpoint: Any) -> None:
    """In debug, refuse a result that is not what the return annotation promises."""
    model = finish.model
    if finish.check is not None:
        try:
            finish.check(result)
            return
        except Invalid as invalid:
            problems = "; ".join(f"{list(loc)}: {msg}" for loc, msg, _ in invalid.problems)
            raise TypeError(
                f"Endpoint {endpoint_name(endpoint)} returned a value that is not a "
                f"{model.__name__}: {problems}."
            ) from None
    if finish.check is None and not is_typeddict(model) and not isinstance(result, model):
        raise TypeError(
            f"Endpoint {endpoint_name(endpoint)} is annotated to return {model.__name__} "
            f"but returned {type(result).__name__}."
        )
