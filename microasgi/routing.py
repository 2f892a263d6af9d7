"""Routing: Route, WebSocketRoute, Mount, Host and the Router that dispatches to them.

Routes are compiled when they are registered (``_routetable`` does the pure
matching); the Router only looks the path up and does the I/O. No match is a
404, a path match with the wrong method a 405 with ``Allow``.
"""

from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from microasgi._routetable import Candidate, CompiledPath, RouteTable, compile_host, compile_path
from microasgi.datastructures import URLPath
from microasgi.endpoints import (
    EndpointCaller,
    bind_class_endpoint,
    bind_endpoint,
    endpoint_name,
    to_response,
)
from microasgi.exceptions import HTTPException, NoMatchFound
from microasgi.middleware import Middleware, build_stack
from microasgi.requests import MAX_BODY_SIZE_KEY, MAX_MESSAGE_SIZE_KEY, Request, route_path
from microasgi.responses import (
    PlainTextResponse,
    RedirectResponse,
    Response,
    StartTracker,
    mark_response_started,
)
from microasgi.types import ASGIApp, Receive, Scope, Send
from microasgi.websockets import WebSocket, WebSocketEndpoint, serve_websocket

F = TypeVar("F", bound=Callable[..., Any])


class _Inherit:
    """Marks a limit that is not set here, so the enclosing route, mount or app's applies."""

    def __repr__(self) -> str:
        return "INHERIT"


INHERIT: Any = _Inherit()


class BaseRoute:
    """What the Router needs from an entry: its compiled path and how to handle a match."""

    compiled: CompiledPath
    name: str | None
    is_mount = False
    # HTTP methods served; empty for websocket routes, mounts and hosts.
    methods: frozenset[str] = frozenset()

    def path_params(self, candidate: Candidate) -> dict[str, Any] | None:
        """Convert the matched raw values; None when a convertor refuses one."""
        _, values, remainder = candidate
        compiled = self.compiled
        params: dict[str, Any] = {}
        if values:
            try:
                for (name, convert), value in zip(compiled.converters, values, strict=False):
                    params[name] = convert(value)
            except ValueError:
                return None
        if compiled.rest is not None and remainder is not None:
            params[compiled.rest] = remainder[1:]
        return params

    # Serve a match: (scope, receive, send, converted params, the rest of the path for
    # mounts). An attribute, so routes can point it straight at their fastest handler.
    handle: Callable[[Scope, Receive, Send, dict[str, Any], str | None], Awaitable[None]]

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        raise NotImplementedError

    def with_prefix(self, prefix: str, middleware: Sequence[Middleware]) -> "BaseRoute":
        """A copy of this route under ``prefix``, wrapped in ``middleware`` (include_router)."""
        raise NotImplementedError


Params = dict[str, Any]


def _merge_params(scope: Scope, params: dict[str, Any]) -> None:
    outer = scope.get("path_params")
    scope["path_params"] = {**outer, **params} if outer else params


def _child_name(own: str | None, name: str) -> str | None:
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
        self.name = name if name is not None else getattr(endpoint, "__name__", None)
        self.middleware = list(middleware or ())
        self._limit = limit
        # Without middleware the router calls _serve straight away: one frame less.
        self.handle = self._handle_via_middleware if self.middleware else self._serve

    def _enter(self, scope: Scope, params: Params) -> None:
        """Record the match in the scope: path params, endpoint, route, size limit."""
        outer = scope.get("path_params")
        scope["path_params"] = {**outer, **params} if outer else params
        scope["endpoint"] = self.endpoint
        scope["route"] = self
        if self._limit is not INHERIT:
            scope[self._limit_key] = self._limit

    async def _handle_via_middleware(
        self, scope: Scope, receive: Receive, send: Send, params: Params, rest: str | None
    ) -> None:
        self._enter(scope, params)
        # Route middleware may answer by itself: watch its sends for the error handlers.
        await StartTracker(send).run(self.app, scope, receive)

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
        super().__init__(path, endpoint, name, middleware, max_body_size)
        self.max_body_size = max_body_size
        param_names = list(self.compiled.param_convertors)
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
        else:
            binding = bind_endpoint(endpoint, param_names)
            wanted = {method.upper() for method in (methods or ("GET",))}
            if "GET" in wanted:
                wanted.add("HEAD")
            self.methods = frozenset(wanted)
            self._callers = dict.fromkeys(self.methods, binding.call)
            self._takes_request = binding.takes_connection
        self.app = build_stack(self._run_endpoint, self.middleware)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, params: Params, rest: str | None
    ) -> None:
        self._enter(scope, params)
        call = self._callers[scope["method"]]
        # No connection parameter: no Request to build, and so no form to close.
        request = Request(scope, receive) if self._takes_request else None
        try:
            result = await call(request, params)
            response = (
                result if isinstance(result, Response) else to_response(result, self.endpoint)
            )
            try:
                await response(scope, receive, send)
            except BaseException as exc:
                # Response objects send their start first: the error handlers must not
                # send another (one failing before its start is left to the server).
                mark_response_started(exc)
                raise
        finally:
            # Checked here rather than always awaiting close(): most requests have no form.
            if request is not None and request._form is not None:
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

    ``endpoint`` is a function (async or sync) or a ``WebSocketEndpoint`` subclass.
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
        super().__init__(path, endpoint, name, middleware, max_message_size)
        self.max_message_size = max_message_size
        if isinstance(endpoint, type) and issubclass(endpoint, WebSocketEndpoint):
            endpoint_class = endpoint

            async def run_class(websocket: Any, params: dict[str, Any]) -> Any:
                await endpoint_class().dispatch(websocket)

            self._caller: EndpointCaller = run_class
        else:
            self._caller = bind_endpoint(endpoint, list(self.compiled.param_convertors)).call
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


class Mount(BaseRoute):
    """Serve another app (or a list of routes) under a path prefix.

    The child sees the full path in ``scope["path"]`` and the prefix added to
    ``scope["root_path"]``, as the ASGI spec says. A named mount's routes are
    ``"mount:route"`` for ``url_path_for``; ``url_path_for(mount_name, path=...)``
    gives a path under the mount itself (for static files and other plain apps).
    """

    is_mount = True

    def __init__(
        self,
        path: str,
        app: ASGIApp | None = None,
        *,
        routes: Sequence[BaseRoute] | None = None,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
        max_message_size: int | None = INHERIT,
    ) -> None:
        if (app is None) == (routes is None):
            raise ValueError("Mount needs exactly one of app= or routes=.")
        self.path = path.rstrip("/")
        self.compiled = compile_path(self.path, prefix_only=True)
        self.name = name
        # The permissive boundary: any ASGI app, with or without routes/url_path_for.
        self.inner: Any = app if app is not None else Router(routes)
        self.middleware = list(middleware or ())
        self.max_body_size = max_body_size
        self.max_message_size = max_message_size
        self.app: ASGIApp = build_stack(self.inner, self.middleware)
        # Routers and Apps mark their own late errors; anything else is watched.
        self._tracked = bool(self.middleware) or not getattr(
            self.inner, "marks_response_errors", False
        )

    @property
    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = getattr(self.inner, "routes", [])
        return routes

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, Any], rest: str | None
    ) -> None:
        child = dict(scope)
        # The matched prefix is whatever of the routed path the rest doesn't cover.
        routed = route_path(scope)
        matched = routed[: len(routed) - len(rest or "")]
        child["root_path"] = scope.get("root_path", "") + matched
        if "app_root_path" not in scope:
            # request.base_url (and so url_for) stays at the app's root, not the mount's.
            child["app_root_path"] = scope.get("root_path", "")
        _merge_params(child, params)
        if self.max_body_size is not INHERIT:
            child[MAX_BODY_SIZE_KEY] = self.max_body_size
        if self.max_message_size is not INHERIT:
            child[MAX_MESSAGE_SIZE_KEY] = self.max_message_size
        if self._tracked:
            await StartTracker(send).run(self.app, child, receive)
        else:
            await self.app(child, receive, send)

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        mount_names = self.compiled.param_convertors.keys()
        if name == self.name and "path" in params:
            own = {key: value for key, value in params.items() if key != "path"}
            if own.keys() != mount_names:
                raise NoMatchFound(name, params)
            path = quote(str(params["path"]).lstrip("/"), safe=_PATH_SAFE)
            return URLPath(self._prefix(own, name, params) + "/" + path, protocol="http")
        child_name = _child_name(self.name, name)
        url_path_for = getattr(self.inner, "url_path_for", None)
        if child_name is None or url_path_for is None or not mount_names <= params.keys():
            raise NoMatchFound(name, params)
        own = {key: params[key] for key in mount_names}
        rest = {key: value for key, value in params.items() if key not in mount_names}
        child: URLPath = url_path_for(child_name, **rest)
        return URLPath(self._prefix(own, name, params) + child, protocol=child.protocol)

    def _prefix(self, own: dict[str, Any], name: str, params: dict[str, Any]) -> str:
        try:
            return self.compiled.format(own)
        except (ValueError, TypeError) as exc:
            raise NoMatchFound(name, params) from exc

    def with_prefix(self, prefix: str, middleware: Sequence[Middleware]) -> "Mount":
        return Mount(
            prefix + self.path,
            self.inner,
            name=self.name,
            middleware=[*middleware, *self.middleware],
            max_body_size=self.max_body_size,
            max_message_size=self.max_message_size,
        )

    def __repr__(self) -> str:
        return f"Mount(path={self.path!r}, name={self.name!r}, app={self.inner!r})"


# What a path given to url_path_for(mount_name, path=...) may keep unencoded.
_PATH_SAFE = "/!$&'()*+,;=:@"


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
        _merge_params(scope, params)
        if getattr(self.app, "marks_response_errors", False):
            await self.app(scope, receive, send)
        else:
            await StartTracker(send).run(self.app, scope, receive)

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        host_names = self.compiled.param_convertors.keys()
        child_name = _child_name(self.name, name)
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


def _request_host(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host: str = value.decode("latin-1")
            # Strip a port, but not the colons of a bracketed IPv6 literal.
            if host.startswith("["):
                return host.partition("]")[0] + "]"
            return host.partition(":")[0]
    server = scope.get("server")
    return str(server[0]) if server else ""


class RouteRegistry:
    """Route registration shared by Router and App: one implementation of every decorator.

    Subclasses provide ``add(route)``.
    """

    def add(self, route: BaseRoute) -> None:
        raise NotImplementedError

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Sequence[str] | None = None,
        name: str | None = None,
        *,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
    ) -> None:
        self.add(
            Route(
                path,
                endpoint,
                methods=methods,
                name=name,
                middleware=middleware,
                max_body_size=max_body_size,
            )
        )

    def add_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        middleware: Sequence[Middleware] | None = None,
        max_message_size: int | None = INHERIT,
    ) -> None:
        self.add(
            WebSocketRoute(
                path, endpoint, name=name, middleware=middleware, max_message_size=max_message_size
            )
        )

    def mount(
        self,
        path: str,
        app: ASGIApp,
        name: str | None = None,
        *,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
        max_message_size: int | None = INHERIT,
    ) -> None:
        self.add(
            Mount(
                path,
                app,
                name=name,
                middleware=middleware,
                max_body_size=max_body_size,
                max_message_size=max_message_size,
            )
        )

    def host(self, host: str, app: ASGIApp, name: str | None = None) -> None:
        self.add(Host(host, app, name=name))

    def include_router(
        self,
        router: "Router",
        prefix: str = "",
        *,
        middleware: Sequence[Middleware] | None = None,
    ) -> None:
        """Copy ``router``'s routes into this one under ``prefix`` (wrapped in ``middleware``)."""
        prefix = prefix.rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"include_router prefix {prefix!r} must start with '/'.")
        for route in router.routes:
            self.add(route.with_prefix(prefix, list(middleware or ())))

    # Decorators -----------------------------------------------------------------------

    def route(
        self,
        path: str,
        methods: Sequence[str] | None = None,
        name: str | None = None,
        *,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
    ) -> Callable[[F], F]:
        """Register a function (or a class with get/post/... methods) for ``path``."""

        def decorator(endpoint: F) -> F:
            self.add_route(
                path,
                endpoint,
                methods,
                name,
                middleware=middleware,
                max_body_size=max_body_size,
            )
            return endpoint

        return decorator

    def _method_route(
        self,
        method: str,
        path: str,
        name: str | None,
        middleware: Sequence[Middleware] | None,
        max_body_size: int | None,
    ) -> Callable[[F], F]:
        return self.route(path, [method], name, middleware=middleware, max_body_size=max_body_size)

    def get(
        self,
        path: str,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
    ) -> Callable[[F], F]:
        return self._method_route("GET", path, name, middleware, max_body_size)

    def post(
        self,
        path: str,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
    ) -> Callable[[F], F]:
        return self._method_route("POST", path, name, middleware, max_body_size)

    def put(
        self,
        path: str,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
    ) -> Callable[[F], F]:
        return self._method_route("PUT", path, name, middleware, max_body_size)

    def patch(
        self,
        path: str,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
    ) -> Callable[[F], F]:
        return self._method_route("PATCH", path, name, middleware, max_body_size)

    def delete(
        self,
        path: str,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
    ) -> Callable[[F], F]:
        return self._method_route("DELETE", path, name, middleware, max_body_size)

    def options(
        self,
        path: str,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_body_size: int | None = INHERIT,
    ) -> Callable[[F], F]:
        return self._method_route("OPTIONS", path, name, middleware, max_body_size)

    def websocket(
        self,
        path: str,
        name: str | None = None,
        *,
        middleware: Sequence[Middleware] | None = None,
        max_message_size: int | None = INHERIT,
    ) -> Callable[[F], F]:
        """Register a websocket endpoint (a function or a WebSocketEndpoint subclass)."""

        def decorator(endpoint: F) -> F:
            self.add_websocket_route(
                path, endpoint, name, middleware=middleware, max_message_size=max_message_size
            )
            return endpoint

        return decorator


class Router(RouteRegistry):
    """An ASGI app that matches ``scope["path"]`` and ``scope["type"]`` to routes.

    Under an App, a miss raises ``HTTPException`` (404, or 405 with ``Allow``) so that
    the app's handlers answer it; a Router served on its own answers in plain text.

    Args:
        routes: Route, WebSocketRoute, Mount and Host entries, in registration order.
        redirect_slashes: answer a miss whose slash/no-slash twin matches with a 307.
    """

    # Errors escaping a Router after a response started carry mark_response_started.
    marks_response_errors = True

    def __init__(
        self, routes: Sequence[BaseRoute] | None = None, *, redirect_slashes: bool = True
    ) -> None:
        self.routes: list[BaseRoute] = []
        self.redirect_slashes = redirect_slashes
        self._tables = {"http": RouteTable(), "websocket": RouteTable()}
        self._hosts: list[Host] = []
        for route in routes or ():
            self.add(route)

    # Registration ---------------------------------------------------------------------

    def add(self, route: BaseRoute) -> None:
        """Register a route object.

        Raises:
            ValueError: it clashes with a registered route (same path shape and scope
                type, and for HTTP a shared method; or two mounts at one prefix).
            TypeError: it is not a Route, WebSocketRoute, Mount or Host.
        """
        if isinstance(route, Host):
            self._hosts.append(route)
        else:
            scope_types = self._scope_types(route)
            # A mount sits in both tables alike, so checking the first is enough.
            self._check_clash(route, scope_types[0])
            for scope_type in scope_types:
                self._tables[scope_type].add(route.compiled, route, is_mount=route.is_mount)
        self.routes.append(route)

    @staticmethod
    def _scope_types(route: BaseRoute) -> tuple[str, ...]:
        if isinstance(route, Route):
            return ("http",)
        if isinstance(route, WebSocketRoute):
            return ("websocket",)
        if isinstance(route, Mount):
            return ("http", "websocket")
        raise TypeError(f"Expected a Route, WebSocketRoute, Mount or Host, got {route!r}.")

    def _check_clash(self, route: BaseRoute, scope_type: str) -> None:
        table = self._tables[scope_type]
        for existing in table.entries_at(route.compiled, is_mount=route.is_mount):
            if route.is_mount:
                serve = "are mounted at"
            elif scope_type == "http":
                shared = existing.methods & route.methods
                if not shared:
                    continue
                serve = f"both serve {', '.join(sorted(shared))} on"
            else:
                serve = "both serve websocket on"
            raise ValueError(
                f"Route clash: {_describe(route)} and {_describe(existing)} {serve} "
                f"{route.compiled.shape!r}; give them different paths or methods."
            )

    # URL building ---------------------------------------------------------------------

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        """The path of the route called ``name`` (``"mount:route"`` when nested).

        Raises:
            NoMatchFound: no route has that name with exactly these params.
        """
        for route in self.routes:
            try:
                return route.url_path_for(name, **params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, params)

    # Dispatch -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type == "lifespan":
            await _acknowledge_lifespan(receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        if self._hosts and await self._dispatch_host(scope, receive, send):
            return
        table = self._tables.get(scope_type)
        if table is None:
            raise ValueError(
                f"Unsupported scope type {scope_type!r}: "
                "expected 'http', 'websocket' or 'lifespan'."
            )
        # route_path(scope), inlined: this runs on every request.
        path: str = scope["path"]
        root_path = scope.get("root_path")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        if scope_type != "http":
            await self._dispatch_websocket(table, path, scope, receive, send)
            return
        # The hot path: a static path is one dict hit; others go down the trie without
        # generators. Anything unusual (405, a refused param) takes _dispatch_http.
        static = table.static.get(path)
        if static is not None:
            route: BaseRoute = static[0][0]
            if scope["method"] in route.methods:
                await route.handle(scope, receive, send, {}, None)
                return
        else:
            candidate = table.first(path)
            if candidate is None:
                await self._answer_miss(table, path, scope, receive, send)
                return
            route = candidate[0]
            if route.is_mount or scope["method"] in route.methods:
                params = route.path_params(candidate)
                if params is not None:
                    await route.handle(scope, receive, send, params, candidate[2])
                    return
        await self._dispatch_http(table, path, scope, receive, send)

    async def _dispatch_host(self, scope: Scope, receive: Receive, send: Send) -> bool:
        host = _request_host(scope)
        for route in self._hosts:
            params = route.match_host(host)
            if params is not None:
                await route.handle(scope, receive, send, params, None)
                return True
        return False

    async def _dispatch_http(
        self, table: RouteTable, path: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        method: str = scope["method"]
        allowed: set[str] = set()
        for candidate in table.match(path):
            route: BaseRoute = candidate[0]
            if route.is_mount or method in route.methods:
                params = route.path_params(candidate)
                if params is not None:
                    await route.handle(scope, receive, send, params, candidate[2])
                    return
            else:
                allowed |= route.methods
        if allowed:
            await _refuse(scope, receive, send, 405, {"Allow": ", ".join(sorted(allowed))})
            return
        await self._answer_miss(table, path, scope, receive, send)

    async def _answer_miss(
        self, table: RouteTable, path: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """No route serves the path: a slash redirect when the twin matches, else 404."""
        if self.redirect_slashes:
            location = _slash_twin(table, path, scope)
            if location is not None:
                await RedirectResponse(location, status_code=307)(scope, receive, send)
                return
        await _refuse(scope, receive, send, 404, None)

    async def _dispatch_websocket(
        self, table: RouteTable, path: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        for candidate in table.match(path):
            route: BaseRoute = candidate[0]
            params = route.path_params(candidate)
            if params is not None:
                await route.handle(scope, receive, send, params, candidate[2])
                return
        await _deny_websocket(scope, send, 404, b"Not Found")


def _slash_twin(table: RouteTable, path: str, scope: Scope) -> str | None:
    """The Location for a slash/no-slash redirect, when the twin of ``path`` matches.

    ``path`` is the routed part; "" (a mount's own prefix) has the twin "/".
    """
    if path == "/" or (path and not path.startswith("/")):
        return None
    twin = path[:-1] if path.endswith("/") else path + "/"
    if next(table.match(twin), None) is None:
        return None
    full: str = scope["path"]
    raw_path: bytes | None = scope.get("raw_path")
    raw = raw_path.decode("latin-1") if raw_path else ""
    # Keep the client's encoding when raw_path spells the same path (a decoded '%'
    # or '?' would change the URL); otherwise encode the decoded path.
    if raw and raw.endswith("/") == full.endswith("/") and unquote(raw) == full:
        location = raw
    else:
        location = quote(full, safe=_PATH_SAFE)
    location = location[:-1] if location.endswith("/") else location + "/"
    # A Location starting with // (or /\, which browsers read alike) is scheme-relative:
    # it would send the client to another host (an open redirect).
    if location.startswith(("//", "/\\")):
        return None
    query: bytes = scope.get("query_string", b"")
    return location + ("?" + query.decode("latin-1") if query else "")


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, headers: dict[str, str] | None
) -> None:
    """A 404 or 405: raised for the App's handlers when under an App, else answered here."""
    if "app" in scope:
        raise HTTPException(status, headers=headers)
    response = PlainTextResponse(HTTPStatus(status).phrase, status_code=status, headers=headers)
    await response(scope, receive, send)


async def _deny_websocket(scope: Scope, send: Send, status: int, body: bytes) -> None:
    """Refuse a handshake: an HTTP response where the server supports it, else a close."""
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1000})


async def _acknowledge_lifespan(receive: Receive, send: Send) -> None:
    """A bare Router has no hooks: answer startup and shutdown so servers can proceed."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _describe(route: BaseRoute) -> str:
    endpoint = getattr(route, "endpoint", None)
    path = getattr(route, "path", "")
    if endpoint is not None:
        return f"{endpoint_name(endpoint)} ({path!r})"
    return f"{type(route).__name__}({path!r}, name={route.name!r})"
