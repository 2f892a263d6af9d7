"""Endpoint binding: how a user's function is called, decided once at registration.

``bind_endpoint`` reads the signature a single time and returns a small caller that
maps the connection and path params onto the parameters, so the hot path does no
introspection. ``to_response`` turns an endpoint's return value into a Response.
"""

import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, NamedTuple

from microasgi._concurrency import run_in_threadpool
from microasgi.convertors import (
    Convertor,
    FloatConvertor,
    IntegerConvertor,
    PathConvertor,
    StringConvertor,
    UUIDConvertor,
)
from microasgi.requests import HTTPConnection
from microasgi.responses import JSONResponse, PlainTextResponse, Response

# Called with the connection (Request or WebSocket; None when the endpoint takes none)
# and the route's converted path params; returns the endpoint's awaitable result.
EndpointCaller = Callable[[Any, dict[str, Any]], Awaitable[Any]]

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")


def endpoint_name(endpoint: Any) -> str:
    """A readable name for errors: ``module.qualname``."""
    module = getattr(endpoint, "__module__", None)
    qualname = getattr(endpoint, "__qualname__", None) or type(endpoint).__qualname__
    return f"{module}.{qualname}" if module else qualname


def is_async_callable(func: Any) -> bool:
    while hasattr(func, "func") and hasattr(func, "args"):  # functools.partial
        func = func.func
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an instance with an async __call__
    )


_CONNECTION_ANNOTATIONS = ("Request", "WebSocket", "HTTPConnection")


def _is_connection_parameter(parameter: inspect.Parameter) -> bool:
    if parameter.name in ("request", "websocket"):
        return True
    annotation = parameter.annotation
    if isinstance(annotation, str):  # `from __future__ import annotations`
        return annotation.rsplit(".", 1)[-1] in _CONNECTION_ANNOTATIONS
    return isinstance(annotation, type) and issubclass(annotation, HTTPConnection)


class Binding(NamedTuple):
    """How to call an endpoint: ``call(connection, params)`` returns the awaitable result.

    ``takes_connection`` is False when the endpoint has no connection parameter, so the
    route can skip building a Request for it. ``direct`` is ``(target, with_connection)``
    when the endpoint's shape lets a route skip ``call`` on its hot path: ``target()`` or
    ``target(connection)`` (positional) is then the same call, one Python frame cheaper.
    """

    call: EndpointCaller
    takes_connection: bool
    direct: tuple[Callable[..., Awaitable[Any]], bool] | None = None


def bind_endpoint(endpoint: Callable[..., Any], param_names: Collection[str]) -> Binding:
    """Build the caller for ``endpoint`` given the route's path parameter names.

    A parameter called ``request``/``websocket`` or annotated with a connection class
    gets the connection; one named like a path parameter gets its converted value;
    ``**kwargs`` takes the remaining path params. When ``param_names`` maps the names to
    their convertors, a path parameter's annotation must agree with its convertor. The
    caller is a plain function returning the endpoint's awaitable (a worker-thread call
    for sync endpoints): no extra coroutine frame per request.

    Raises:
        TypeError: a parameter can be bound to nothing (with a default or not: nothing
            would ever fill it), or its annotation disagrees with its convertor; the
            message names the parameter and the fix.
    """
    connection_arg, param_args = _plan_arguments(endpoint, _parameters(endpoint), param_names)
    target: Callable[..., Any] = endpoint
    if not is_async_callable(endpoint):
        target = functools.partial(run_in_threadpool, endpoint)
    takes_all_params = set(param_args) == set(param_names)
    # The common shapes get a direct call; the general one picks the params it needs.
    if connection_arg is None and not param_args:

        def call_without_args(connection: Any, params: dict[str, Any]) -> Awaitable[Any]:
            return target()  # type: ignore[no-any-return]

        return Binding(call_without_args, False, (target, False))
    if connection_arg is None and takes_all_params:

        def call_with_params(connection: Any, params: dict[str, Any]) -> Awaitable[Any]:
            return target(**params)  # type: ignore[no-any-return]

        return Binding(call_with_params, False)
    if connection_arg is not None and not param_args:

        def call_with_connection(connection: Any, params: dict[str, Any]) -> Awaitable[Any]:
            return target(**{connection_arg: connection})  # type: ignore[no-any-return]

        first = _parameters(endpoint)[0]
        positional = first.name == connection_arg and first.kind is _POSITIONAL_OR_KEYWORD
        return Binding(call_with_connection, True, (target, True) if positional else None)

    def call_with_kwargs(connection: Any, params: dict[str, Any]) -> Awaitable[Any]:
        kwargs = {name: params[name] for name in param_args}
        if connection_arg is not None:
            kwargs[connection_arg] = connection
        return target(**kwargs)  # type: ignore[no-any-return]

    return Binding(call_with_kwargs, connection_arg is not None)


_POSITIONAL_OR_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD


def _parameters(endpoint: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(endpoint).parameters.values())
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Cannot read the signature of endpoint {endpoint_name(endpoint)}: {exc}"
        ) from None


def _plan_arguments(
    endpoint: Any, parameters: list[inspect.Parameter], param_names: Collection[str]
) -> tuple[str | None, tuple[str, ...]]:
    """Which parameter gets the connection, and which get path params."""
    connection_arg: str | None = None
    param_args: list[str] = []
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return connection_arg, tuple(param_names)
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(
                f"Endpoint {endpoint_name(endpoint)} has positional-only parameter "
                f"{parameter.name!r}; endpoint parameters are passed by name."
            )
        if parameter.name in param_names:
            if isinstance(param_names, Mapping):
                _check_annotation(endpoint, parameter, param_names[parameter.name])
            param_args.append(parameter.name)
        elif _is_connection_parameter(parameter):
            connection_arg = parameter.name
        elif parameter.default is inspect.Parameter.empty:
            raise TypeError(
                f"Endpoint {endpoint_name(endpoint)} has parameter {parameter.name!r} that is "
                "neither the connection (name it 'request' or annotate it) nor a path "
                f"parameter of the route ({', '.join(sorted(param_names)) or 'none'})."
            )
        else:
            # A default would hide that nothing ever fills it (no query or body binding).
            raise TypeError(
                f"Endpoint {endpoint_name(endpoint)} has parameter {parameter.name!r} with a "
                "default, but it is not a path parameter of the route "
                f"({', '.join(sorted(param_names)) or 'none'}), so nothing would ever fill "
                "it. Only the connection and path parameters are bound: read a query "
                f"parameter from request.query_params.get({parameter.name!r}), or put "
                f"{{{parameter.name}}} in the path."
            )
    return connection_arg, tuple(param_args)


# What the built-in convertors produce, and the convertor to write for an annotated type.
_PRODUCES: dict[type[Convertor], type] = {
    StringConvertor: str,
    PathConvertor: str,
    IntegerConvertor: int,
    FloatConvertor: float,
    UUIDConvertor: uuid.UUID,
}
_CONVERTOR_FOR: dict[type, str] = {str: "", int: ":int", float: ":float", uuid.UUID: ":uuid"}
_TYPES_BY_NAME: dict[str, type] = {"str": str, "int": int, "float": float, "UUID": uuid.UUID}


def _check_annotation(endpoint: Any, parameter: inspect.Parameter, convertor: Convertor) -> None:
    """Refuse ``user_id: int`` bound to ``{user_id}``: the endpoint would get the string."""
    produced = _PRODUCES.get(type(convertor))
    annotation = parameter.annotation
    if isinstance(annotation, str):  # `from __future__ import annotations`
        annotation = _TYPES_BY_NAME.get(annotation.rsplit(".", 1)[-1])
    if (
        produced is None
        or annotation is inspect.Parameter.empty
        or not isinstance(annotation, type)
    ):
        return  # a custom convertor, no annotation, or a union: nothing to compare
    if issubclass(produced, annotation) or (annotation is float and produced is int):
        return
    name = parameter.name
    kind = _CONVERTOR_FOR.get(annotation)
    fix = (
        f"write {{{name}{kind}}} in the path"
        if kind is not None
        else f"register a convertor giving {annotation.__name__} (register_convertor)"
    )
    raise TypeError(
        f"Endpoint {endpoint_name(endpoint)} annotates parameter {name!r} as "
        f"{annotation.__name__}, but the path gives it a {produced.__name__}: {fix}."
    )


def check_exception_handler(handler: Any) -> None:
    """Refuse, at registration, an exception handler that cannot be called as
    ``handler(request, exc)``.

    Raises:
        TypeError: ``handler`` is not callable or its signature does not take two
            positional arguments; the message shows the signature.
    """
    if not callable(handler):
        raise TypeError(
            f"An exception handler must be a function taking (request, exc), got {handler!r}."
        )
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return  # no readable signature (some builtins): the first error will tell
    try:
        signature.bind(None, None)
    except TypeError:
        raise TypeError(
            f"Exception handler {endpoint_name(handler)}{signature} must take (request, exc): "
            "two positional parameters."
        ) from None


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


def class_endpoint_methods(cls: type) -> dict[str, str]:
    """The HTTP methods a class endpoint defines, to the attribute serving each.

    ``get`` serves GET, and HEAD too unless the class defines ``head``.

    Raises:
        TypeError: the class defines none.
    """
    methods = {
        method: method.lower()
        for method in HTTP_METHODS
        if callable(getattr(cls, method.lower(), None))
    }
    if "GET" in methods and "HEAD" not in methods:
        methods["HEAD"] = "get"
    if not methods:
        raise TypeError(
            f"Class endpoint {endpoint_name(cls)} defines no HTTP method "
            "(get, post, put, patch, delete, ...)."
        )
    return methods


def bind_class_endpoint(cls: type, param_names: Collection[str]) -> dict[str, EndpointCaller]:
    """Bind each method of a class endpoint; a fresh ``cls()`` serves each request.

    Raises:
        TypeError: ``cls()`` needs arguments, or a method has an unbindable parameter.
    """
    try:
        inspect.signature(cls).bind()
    except TypeError:
        raise TypeError(
            f"Class endpoint {endpoint_name(cls)} must be constructible without arguments: "
            "a fresh instance serves each request."
        ) from None
    except ValueError:
        pass  # no signature to read (a builtin base's __init__): the first request will tell
    return {
        method: _bind_method(cls, attribute, param_names)
        for method, attribute in class_endpoint_methods(cls).items()
    }


def _bind_method(cls: type, attribute: str, param_names: Collection[str]) -> EndpointCaller:
    function = getattr(cls, attribute)
    parameters = _parameters(function)
    # On the class, a plain method is a function whose first parameter is `self`; static
    # and class methods come back without it.
    if not isinstance(inspect.getattr_static(cls, attribute), staticmethod | classmethod):
        parameters = parameters[1:]
    connection_arg, param_args = _plan_arguments(function, parameters, param_names)
    run_async = is_async_callable(function)

    async def call(connection: HTTPConnection, params: dict[str, Any]) -> Any:
        method = getattr(cls(), attribute)
        kwargs = {name: params[name] for name in param_args}
        if connection_arg is not None:
            kwargs[connection_arg] = connection
        if run_async:
            return await method(**kwargs)
        return await run_in_threadpool(method, **kwargs)

    return call
