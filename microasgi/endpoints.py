"""Endpoint binding: how a user's function is called, decided once at registration.

``bind_endpoint`` reads the signature a single time (``plan_endpoint``) and returns a small
caller that maps the connection and path params onto the parameters, so the hot path does
no introspection. An endpoint without typed parameters gets one of the plain callers of
before; one with typed parameters (``microasgi.sources``) gets ``typed_caller``, which
reads and validates them per request. ``to_response`` (from ``microasgi.results``) turns an
endpoint's return value into a Response.
"""

import functools
import inspect
import typing
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Annotated, Any, NamedTuple

from microasgi._concurrency import run_in_threadpool
from microasgi.background import BackgroundTasks
from microasgi.convertors import (
    Convertor,
    FloatConvertor,
    IntegerConvertor,
    PathConvertor,
    StringConvertor,
    UUIDConvertor,
)
from microasgi.exceptions import RequestValidationError
from microasgi.requests import HTTPConnection
from microasgi.results import endpoint_name as endpoint_name
from microasgi.results import result_shape, shaped_response, shapes_result
from microasgi.results import to_response as to_response
from microasgi.scalars import UnsupportedType
from microasgi.sources import (
    HEAD_SOURCES,
    TypedParam,
    plan_parameter,
    read_body,
    read_form,
    read_head,
)
from microasgi.validation import unwrap

# Called with the connection (Request or WebSocket; None when the endpoint takes none)
# and the route's converted path params; returns the endpoint's awaitable result.
EndpointCaller = Callable[[Any, dict[str, Any]], Awaitable[Any]]

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")


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


class Plan(NamedTuple):
    """What a signature asks for, decided at registration."""

    connection_arg: str | None
    param_args: tuple[str, ...]  # path params passed as the route converted them
    typed: tuple[TypedParam, ...]  # parameters read and converted per request
    background_arg: str | None  # the parameter injected with a BackgroundTasks
    returns: Any  # the return annotation (inspect.Parameter.empty when none)

    @property
    def is_plain(self) -> bool:
        """Nothing beyond the connection and path params: the untyped fast shapes apply."""
        return not self.typed and self.background_arg is None and not shapes_result(self.returns)


def bind_endpoint(
    endpoint: Callable[..., Any], param_names: Collection[str], *, websocket: bool = False
) -> Binding:
    """Build the caller for ``endpoint`` given the route's path parameter names.

    A parameter called ``request``/``websocket`` or annotated with a connection class
    gets the connection, one annotated ``BackgroundTasks`` a fresh task list run after the
    response; one named like a path parameter gets its value (converted by its annotation
    when the path gives a string); ``**kwargs`` takes the remaining path params; any other
    parameter is typed (``microasgi.sources``: query, header, cookie, body, form, file),
    read and validated per request, every problem reported at once as a 422
    ``RequestValidationError``. A return annotation of ``None`` or of a dataclass,
    TypedDict or model shapes the response (``_finish``). An endpoint with no typed
    parameter gets a plain function returning its awaitable (a worker-thread call for
    sync endpoints): no extra coroutine frame per request. ``websocket``: the endpoint
    of a WebSocketRoute, whose return annotation shapes nothing.

    Raises:
        TypeError: a parameter no source can fill (a positional-only one, a type no
            converter reads), or an annotation that disagrees with a non-string
            convertor; the message names the endpoint, the parameter and the fix.
    """
    plan = plan_endpoint(endpoint, _parameters(endpoint), param_names)
    if websocket:  # a websocket endpoint's return is no response: nothing to shape
        plan = plan._replace(returns=_EMPTY)
        _refuse_bodies(endpoint, plan)
    connection_arg, param_args = plan.connection_arg, plan.param_args
    target: Callable[..., Any] = endpoint
    if not is_async_callable(endpoint):
        target = functools.partial(run_in_threadpool, endpoint)
    if not plan.is_plain:
        return Binding(typed_caller(plan, endpoint, target, websocket=websocket), True)
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


def typed_caller(
    plan: Plan,
    endpoint: Any,
    target: Callable[..., Any] | None = None,
    make_target: Callable[[], Callable[..., Any]] | None = None,
    websocket: bool = False,
) -> EndpointCaller:
    """The caller of an endpoint with typed parameters: read and validate them, call
    ``target`` (or what ``make_target()`` gives, per request) with them, and shape the
    result by the return annotation.

    An HTTP endpoint that reads only the path, query, headers and cookies, returns what
    needs no shaping and takes no tasks gets a plain function (raising before any await):
    one frame for reading, none for a coroutine of its own.

    Raises (per request):
        RequestValidationError: every problem with the typed parameters, at once.
    """
    head = tuple(param for param in plan.typed if param.source in HEAD_SOURCES)
    body = tuple(param for param in plan.typed if param.source == "body")
    form = tuple(param for param in plan.typed if param.source in ("form", "file"))
    param_args, connection_arg = plan.param_args, plan.connection_arg
    background_arg = plan.background_arg
    finish = result_shape(plan.returns)
    if target is not None and not (body or form or websocket or finish or background_arg):

        def call_reading_head(connection: Any, params: dict[str, Any]) -> Awaitable[Any]:
            kwargs = {name: params[name] for name in param_args} if param_args else {}
            errors = read_head(head, connection, params, kwargs)
            if errors:
                raise RequestValidationError(errors)
            if connection_arg is not None:
                kwargs[connection_arg] = connection
            return target(**kwargs)  # type: ignore[no-any-return]

        return call_reading_head

    async def call(connection: Any, params: dict[str, Any]) -> Any:
        kwargs = {name: params[name] for name in param_args}
        errors = read_head(head, connection, params, kwargs) or []
        if body:
            await read_body(body, connection, kwargs, errors)
        if form:
            await read_form(form, connection, kwargs, errors)
        if errors:
            raise RequestValidationError(errors)
        if connection_arg is not None:
            kwargs[connection_arg] = connection
        tasks = None
        if background_arg is not None:
            tasks = kwargs[background_arg] = BackgroundTasks()
        bound = target if target is not None else make_target()  # type: ignore[misc]
        result = await bound(**kwargs)
        if finish is None and tasks is None:
            return result
        return shaped_response(result, finish, tasks, connection, endpoint)

    return call


_POSITIONAL_OR_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD
_EMPTY = inspect.Parameter.empty


def _parameters(endpoint: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(endpoint).parameters.values())
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Cannot read the signature of endpoint {endpoint_name(endpoint)}: {exc}"
        ) from None


def _hints(endpoint: Any) -> dict[str, Any]:
    """The endpoint's annotations with strings resolved (``Annotated`` kept); {} when they
    cannot be resolved, so the raw annotations are read instead."""
    function = endpoint
    while isinstance(function, functools.partial):
        function = function.func
    if not inspect.isfunction(function) and not inspect.ismethod(function):
        function = getattr(function, "__call__", function)  # noqa: B004
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:  # a name the module cannot resolve (any error): read them raw
        return {}


def plan_endpoint(
    endpoint: Any, parameters: list[inspect.Parameter], param_names: Collection[str]
) -> Plan:
    """Decide, for each parameter, what fills it (see ``bind_endpoint``).

    Raises:
        TypeError: as ``bind_endpoint``.
    """
    hints = _hints(endpoint)
    connection_arg: str | None = None
    background_arg: str | None = None
    param_args: list[str] = []
    typed: list[TypedParam] = []
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            param_args.extend(name for name in param_names if name not in param_args)
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(
                f"Endpoint {endpoint_name(endpoint)} has positional-only parameter "
                f"{parameter.name!r}; endpoint parameters are passed by name."
            )
        annotation = hints.get(parameter.name, parameter.annotation)
        if isinstance(annotation, str):  # unresolved: only the simple names are understood
            annotation = _TYPES_BY_NAME.get(annotation.rsplit(".", 1)[-1], annotation)
        kind, markers = unwrap(annotation)
        if _is_background(kind):
            background_arg = parameter.name
            continue
        if parameter.name in param_names and not any(
            m.source not in (None, "path") for m in markers
        ):
            path_param = _plan_path(endpoint, parameter, annotation, param_names)
            if path_param is None:
                param_args.append(parameter.name)
            else:
                typed.append(path_param)
            continue
        if _is_connection_parameter(parameter) or _is_connection_type(kind):
            connection_arg = parameter.name
            continue
        typed.append(_plan_typed(endpoint, parameter, annotation, param_names))
    _check_sources(endpoint, typed)
    returns = hints.get(
        "return", inspect.signature(endpoint).return_annotation if callable(endpoint) else _EMPTY
    )
    return Plan(connection_arg, tuple(param_args), tuple(typed), background_arg, returns)


def _plan_typed(
    endpoint: Any, parameter: inspect.Parameter, annotation: Any, param_names: Collection[str]
) -> TypedParam:
    if isinstance(annotation, str):
        raise TypeError(
            f"Endpoint {endpoint_name(endpoint)} has parameter {parameter.name!r} whose "
            f"annotation {annotation!r} cannot be resolved; import the type where the "
            "endpoint is defined."
        )
    if annotation is _EMPTY:
        annotation = str  # an unannotated parameter reads a query string as it is
    try:
        return plan_parameter(parameter, annotation, param_names)
    except UnsupportedType as exc:
        raise TypeError(
            f"Endpoint {endpoint_name(endpoint)} has parameter {parameter.name!r} that no "
            f"source can fill: {exc}."
        ) from None


def _plan_path(
    endpoint: Any, parameter: inspect.Parameter, annotation: Any, param_names: Collection[str]
) -> TypedParam | None:
    """A path parameter's plan: None when the route's value is passed as it is; a typed
    parameter when the annotation converts the path's string or adds constraints."""
    convertor = param_names[parameter.name] if isinstance(param_names, Mapping) else None
    produced = _PRODUCES.get(type(convertor)) if convertor is not None else None
    kind, markers = unwrap(annotation)
    untyped = kind is _EMPTY or kind is Any or kind is object or isinstance(kind, str)
    if produced is str and not untyped and kind is not str:
        return _plan_typed(endpoint, parameter, annotation, param_names)
    if produced is not None and produced is not str and not untyped:
        _check_annotation(endpoint, parameter.name, kind, produced)
    if not any(_constrains(marker) for marker in markers):
        return None
    # The route converted it already: only the constraints are left to check.
    checked: Any = Annotated[(Any, *markers)]
    return _plan_typed(endpoint, parameter, checked, param_names)


def _refuse_bodies(endpoint: Any, plan: Plan) -> None:
    """A websocket has messages, not a body: no parameter of its endpoint may read one."""
    for param in plan.typed:
        if param.source not in HEAD_SOURCES:
            raise TypeError(
                f"Websocket endpoint {endpoint_name(endpoint)} has parameter {param.name!r} "
                f"read from a {param.source}, but a websocket has no body: receive its "
                "messages from the socket."
            )


def _constrains(marker: Any) -> bool:
    names = ("ge", "le", "gt", "lt", "min_length", "max_length", "pattern")
    return any(getattr(marker, name) is not None for name in names)


def _check_sources(endpoint: Any, typed: list[TypedParam]) -> None:
    sources = {param.source for param in typed}
    if "body" in sources and sources & {"form", "file"}:
        names = ", ".join(repr(param.name) for param in typed if param.source != "body")
        raise TypeError(
            f"Endpoint {endpoint_name(endpoint)} reads both a JSON body and a form "
            f"(parameter {names}): a request has one body; use Form() for every field."
        )


def _is_background(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BackgroundTasks)


def _is_connection_type(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, HTTPConnection)


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


def _check_annotation(endpoint: Any, name: str, annotation: Any, produced: type) -> None:
    """Refuse ``x: str`` bound to ``{x:int}``: the route gives an int, not what is asked."""
    if not isinstance(annotation, type):
        return  # a union or a generic: nothing simple to compare
    if issubclass(produced, annotation) or (annotation is float and produced is int):
        return
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
    plan = plan_endpoint(function, parameters, param_names)
    connection_arg, param_args = plan.connection_arg, plan.param_args
    run_async = is_async_callable(function)

    def bound_method() -> Callable[..., Any]:
        method = getattr(cls(), attribute)
        return method if run_async else functools.partial(run_in_threadpool, method)

    if not plan.is_plain:
        return typed_caller(plan, function, make_target=bound_method)

    async def call(connection: HTTPConnection, params: dict[str, Any]) -> Any:
        kwargs = {name: params[name] for name in param_args}
        if connection_arg is not None:
            kwargs[connection_arg] = connection
        return await bound_method()(**kwargs)

    return call
