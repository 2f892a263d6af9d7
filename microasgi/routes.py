"""Route types: Route, WebSocketRoute and Host, and what every route shares.

A route knows its compiled path, how to turn matched text into parameters, how to
serve a match, and how to build its URL. The Router (routing.py) picks the route;
Mount, a Router of routes under a prefix, lives in mount.py.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from microasgi._routetable import (
    CompiledPath,
    ParamConverter,
    compile_host,
    compile_path,
    param_converter,
)
from microasgi.answering import handled_response
from microasgi.datastructures import URLPath
from microasgi.endpoints import (
    EndpointCaller,
    bind_class_endpoint,
    bind_endpoint,
    endpoint_name,
    to_response,
)
from microasgi.exceptions import NoMatchFound
from microasgi.middleware import Middleware, build_stack
from microasgi.requests import MAX_BODY_SIZE_KEY, MAX_MESSAGE_SIZE_KEY, Request
from microasgi.resolution import Resolution
from microasgi.responses import Response
from microasgi.responsestate import RESPONSE_STATE_KEY, hand_over, records_own_start
from microasgi.types import ASGIApp, Receive, Scope, Send
from microasgi.websockets import (
    WebSocket,
    WebSocketEndpoint,
    check_websocket_endpoint,
    serve_websocket,
)


class _Inherit:
    """Marks a limit that is not set here, so the enclosing route, mount or app's applies."""

    def __repr__(self) -> str:
        return "INHERIT"


INHERIT: Any = _Inherit()


Params = dict[str, Any]


class BaseRoute:
    """What the Router needs from an entry: its compiled path and how to handle a match."""

    compiled: CompiledPath
    name: str | None
    is_mount = False
    # HTTP methods served; empty for websocket routes, mounts and hosts.
    methods: frozenset[str] = frozenset()
    # Whether Router.resolve may run it (microasgi.resolution): plain HTTP routes only.
    resolvable = False

    # Convert the matched raw values; None when a convertor refuses one. Built from
    # ``compiled`` by ``param_converter``, specialised for the route's shape.
    path_params: ParamConverter

    # Serve a match: (scope, receive, send, converted params, the rest of the path for
    # mounts). An attribute, so routes can point it straight at their fastest handler.
    handle: Callable[[Scope, Receive, Send, dict[str, Any], str | None], Awaitable[None]]

    def resolve(self, scope: Scope, receive: Receive, params: Params) -> Awaitable[Resolution]:
        """Run a ``resolvable`` route's endpoint; its response unsent (``Route.resolve``)."""
        raise NotImplementedError

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        raise NotImplementedError

    def with_prefix(self, prefix: str, middleware: Sequence[Middleware]) -> "BaseRoute":
        """A copy of this route under ``prefix``, wrapped in ``middleware`` (include_router)."""
        raise NotImplementedError


def merge_params(scope: Scope, params: dict[str, Any]) -> None:
    outer = scope.get("path_params")
    scope["path_params"] = {**outer, **params} if outer else params


def nested_name(own: str | None, name: str) -> str | None:
    """The name to look up inside a mount or host called ``own``; None when not ours."""
    if own is None:
        return name
    if name.startswith(own + ":"):
        return name[len(own) + 1 :]
    return None


class _EndpointRoute(BaseRoute):
    """What Route and WebSocketRoute share: an endpoint at a path, behind its middleware."""

    # The scope key of the size limit this route may override, and the URL protocol.
    _limit_key: str
    _protocol: str
    app: ASGIApp

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None,
        middleware: Sequence[Middleware] | None,
        limit: int | None,
    ) -> None:
        self.path = path
        self.endpoint = endpoint
        self.compiled = compile_path(path)
        self.path_params = param_converter(self.compiled)
        self.name = name if name is not None else getattr(endpoint, "__name__", None)
        self.middleware = list(middleware or ())
        self._limit = limit
        # Without middleware the router calls _serve straight away: one frame less.
        self.handle = self._handle_via_middleware if self.middleware else self._serve

    def _enter(self, scope: Scope, params: Params) -> None:
        """Record the match in the scope: path params, endpoint, route, size limit."""
        outer = scope.get("path_params")  # merge_params(), inlined: once per request
        scope["path_params"] = {**outer, **params} if outer else params
        scope["endpoint"] = self.endpoint
        scope["route"] = self
        if self._limit is not INHERIT:
            scope[self._limit_key] = self._limit

    async def _handle_via_middleware(
        self, scope: Scope, receive: Receive, send: Send, params: Params, rest: str | None
    ) -> None:
        self._enter(scope, params)
        # Handled errors are answered inside, by _serve; unhandled ones reach the
        # middleware as exceptions, as they reach every middleware further out.
        await self.app(scope, receive, hand_over(scope, send))

    async def _run_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The innermost app behind route middleware: the route's own params from the scope."""
        path_params = scope["path_params"]
        params = {name: path_params[name] for name in self.compiled.param_convertors}
        await self._serve(scope, receive, send, params, None)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, params: Params, rest: str | None
    ) -> None:
        """Run the endpoint and send its response (the router calls this directly when
        the route has no middleware)."""
        raise NotImplementedError

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        if name != self.name or params.keys() != self.compiled.param_convertors.keys():
            raise NoMatchFound(name, params)
        try:
            return URLPath(self.compiled.format(params), protocol=self._protocol)
        except (ValueError, TypeError) as exc:
            raise NoMatchFound(name, params) from exc

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, name={self.name!r})"


class Route(_EndpointRoute):
    """An HTTP route: ``Route(path, endpoint, *, methods=None, name=None, middleware=None)``.

    ``endpoint`` is a function (async or sync) or a class with ``get``/``post``/...
    methods. GET routes answer HEAD too.
    """

    _limit_key = MAX_BODY_SIZE_KEY
    _protocol = "http"

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
    ) -> None:
        if isinstance(methods, str):
            raise TypeError(
                f"methods must be a list of method names, got the string {methods!r}; "
                f"write methods=[{methods!r}]."
            )
        if methods is not None and not all(isinstance(method, str) for method in methods):
            raise TypeError(f"methods must hold method names as str, got {methods!r}.")
        super().__init__(path, endpoint, name, middleware, max_body_size)
        self.max_body_size = max_body_size
        # The names with their convertors: binding checks annotations against them.
        param_names = self.compiled.param_convertors
        self._callers: dict[str, EndpointCaller]
        if isinstance(endpoint, type):
            if methods is not None:
                raise TypeError(
                    f"Class endpoint {endpoint_name(endpoint)} takes its methods from its "
                    "get/post/... functions; don't pass methods=."
                )
            self._callers = bind_class_endpoint(endpoint, param_names)
            self.methods = frozenset(self._callers)
            self._takes_request = True
            self._direct: Callable[..., Awaitable[Any]] | None = None
            self._direct_takes_request = False
        else:
            binding = bind_endpoint(endpoint, param_names)
            wanted = {method.upper() for method in (methods or ("GET",))}
            if "GET" in wanted:
                wanted.add("HEAD")
            self.methods = frozenset(wanted)
            self._callers = dict.fromkeys(self.methods, binding.call)
            self._takes_request = binding.takes_connection
            # The endpoint itself when its shape allows: no caller frame per request.
            self._direct, self._direct_takes_request = binding.direct or (None, False)
        self.app = build_stack(self._run_endpoint, self.middleware)
        # Whether resolve() may serve it: not when route middleware wraps the endpoint.
        self.resolvable = not self.middleware

    async def resolve(self, scope: Scope, receive: Receive, params: Params) -> Resolution:
        """Enter the route, run the endpoint, and return its response unsent (function
        middleware hands it to ``call_next``'s caller; ``_serve`` sends it). A handled
        error becomes its handler's response here; an unhandled one is raised."""
        # _enter(), inlined: the hot path under function middleware.
        outer = scope.get("path_params")
        scope["path_params"] = {**outer, **params} if outer else params
        scope["endpoint"] = self.endpoint
        scope["route"] = self
        if self._limit is not INHERIT:
            scope[self._limit_key] = self._limit
        request = Request(scope, receive) if self._takes_request else None
        try:
            try:
                result = await self._callers[scope["method"]](request, params)
                if not isinstance(result, Response):
                    result = to_response(result, self.endpoint)
            except Exception as exc:
                result = await handled_response(exc, scope, receive)
        except BaseException:
            if request is not None and request.holds_form:
                await request.close()
            raise
        return result, receive, request

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, params: Params, rest: str | None
    ) -> None:
        # resolve() and then the response sent, without resolve's coroutine frame: the
        # router's hot path. tests/test_route_copies.py proves the two agree.
        outer = scope.get("path_params")
        scope["path_params"] = {**outer, **params} if outer else params
        scope["endpoint"] = self.endpoint
        scope["route"] = self
        if self._limit is not INHERIT:
            scope[self._limit_key] = self._limit
        request = Request(scope, receive) if self._takes_request else None
        try:
            try:
                direct = self._direct
                if direct is None:
                    result = await self._callers[scope["method"]](request, params)
                elif self._direct_takes_request:
                    result = await direct(request)
                else:
                    result = await direct()
                if not isinstance(result, Response):
                    result = to_response(result, self.endpoint)
            except Exception as exc:
                result = await handled_response(exc, scope, receive)
            if result._sends_two_messages:
                # Response.__call__, inlined: one coroutine frame less on most requests.
                # note_start(scope), inlined: this send may be the server's own.
                state = scope.get(RESPONSE_STATE_KEY)
                if state is not None:
                    state[0] = True
                await send(
                    {
                        "type": "http.response.start",
                        "status": result.status_code,
                        "headers": result.raw_headers,
                    }
                )
                body = b"" if scope["method"] == "HEAD" else result.body
                await send({"type": "http.response.body", "body": body})
                if result.background is not None:
                    await result.background()
            elif records_own_start(result):
                await result(scope, receive, send)
            else:
                await result(scope, receive, hand_over(scope, send))
        finally:
            # Checked here rather than always awaiting close(): most requests have no form.
            if request is not None and request.holds_form:
                await request.close()

    def with_prefix(self, prefix: str, middleware: Sequence[Middleware]) -> "Route":
        return Route(
            prefix + self.path,
            self.endpoint,
            methods=None if isinstance(self.endpoint, type) else sorted(self.methods),
            name=self.name,
            middleware=[*middleware, *self.middleware],
            max_body_size=self.max_body_size,
        )

    def __repr__(self) -> str:
        return f"Route(path={self.path!r}, name={self.name!r}, methods={sorted(self.methods)})"


class WebSocketRoute(_EndpointRoute):
    """A websocket route: ``WebSocketRoute(path, endpoint, *, name=None, middleware=None)``.

    ``endpoint`` is an ``async def`` function or a ``WebSocketEndpoint`` subclass (a sync
    function is refused at registration: it could not await the connection).
    """

    _limit_key = MAX_MESSAGE_SIZE_KEY
    _protocol = "websocket"

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_message_size: int | None = INHERIT,
    ) -> None:
        check_websocket_endpoint(endpoint)
        super().__init__(path, endpoint, name, middleware, max_message_size)
        self.max_message_size = max_message_size
        if isinstance(endpoint, type) and issubclass(endpoint, WebSocketEndpoint):
            endpoint_class = endpoint

            async def run_class(websocket: Any, params: dict[str, Any]) -> Any:
                await endpoint_class().dispatch(websocket)

            self._caller: EndpointCaller = run_class
        else:
            self._caller = bind_endpoint(
                endpoint, self.compiled.param_convertors, websocket=True
            ).call
        self.app = build_stack(self._run_endpoint, self.middleware)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, params: Params, rest: str | None
    ) -> None:
        self._enter(scope, params)
        websocket = WebSocket(scope, receive, send)
        await serve_websocket(websocket, self._caller(websocket, params))

    def with_prefix(self, prefix: str, middleware: Sequence[Middleware]) -> "WebSocketRoute":
        return WebSocketRoute(
            prefix + self.path,
            self.endpoint,
            name=self.name,
            middleware=[*middleware, *self.middleware],
            max_message_size=self.max_message_size,
        )


class Host(BaseRoute):
    """Serve another app for requests whose Host matches ``host`` (``{sub}.example.com``).

    The port of the request's Host header is ignored, and so is case. Hosts are
    tried, in registration order, before any path route of the same router.
    """

    def __init__(self, host: str, app: ASGIApp, *, name: str | None = None) -> None:
        self.host = host
        self.app = app
        self.name = name
        self.compiled, self._pattern = compile_host(host)
        self.path_params = param_converter(self.compiled)
        self._groups = tuple(f"p{number}" for number in range(len(self.compiled.param_order)))

    @property
    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = getattr(self.app, "routes", [])
        return routes

    def match_host(self, host: str) -> dict[str, Any] | None:
        """The converted host params when ``host`` (port already stripped) matches, else None."""
        found = self._pattern.fullmatch(host)
        if found is None:
            return None
        values = tuple(found.group(group) for group in self._groups)
        return self.path_params((self, values, None))

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, Any], rest: str | None
    ) -> None:
        merge_params(scope, params)
        await self.app(scope, receive, hand_over(scope, send))

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        host_names = self.compiled.param_convertors.keys()
        child_name = nested_name(self.name, name)
        url_path_for = getattr(self.app, "url_path_for", None)
        if child_name is None or url_path_for is None or not host_names <= params.keys():
            raise NoMatchFound(name, params)
        try:
            host = self.compiled.format({key: params[key] for key in host_names})[1:]
        except (ValueError, TypeError) as exc:
            raise NoMatchFound(name, params) from exc
        child_params = {key: value for key, value in params.items() if key not in host_names}
        child: URLPath = url_path_for(child_name, **child_params)
        return URLPath(str(child), protocol=child.protocol, host=host)

    def with_prefix(self, prefix: str, middleware: Sequence[Middleware]) -> "Host":
        if prefix or middleware:
            raise ValueError(
                f"Cannot include {self!r} under a prefix or middleware: a Host matches the "
                "host name, not the path. Put the prefix or middleware inside its app."
            )
        return self

    def __repr__(self) -> str:
        return f"Host(host={self.host!r}, name={self.name!r})"
