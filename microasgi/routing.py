"""Routing: Route, WebSocketRoute, Mount, Host and the Router that dispatches to them.

Routes are compiled when they are registered (``_routetable`` does the pure
matching); the Router only looks the path up and does the I/O. No match is a
404, a path match with the wrong method a 405 with ``Allow``.
"""

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from microasgi._routetable import Candidate, CompiledPath, RouteTable, compile_path
from microasgi.convertors import CONVERTOR_TYPES
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
from microasgi.responses import RedirectResponse
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

    def path_params(self, candidate: Candidate) -> dict[str, Any] | None:
        """Convert the matched raw values; None when a convertor refuses one."""
        _, values, remainder = candidate
        params: dict[str, Any] = {}
        convertors = self.compiled.param_convertors
        try:
            for name, value in zip(self.compiled.param_order, values, strict=False):
                params[name] = convertors[name].convert(value)
        except ValueError:
            return None
        if self.compiled.rest is not None and remainder is not None:
            params[self.compiled.rest] = remainder[1:]
        return params

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, Any], remainder: str | None
    ) -> None:
        raise NotImplementedError

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        raise NotImplementedError

    def with_prefix(self, prefix: str, middleware: Sequence[Middleware]) -> "BaseRoute":
        """A copy of this route under ``prefix``, wrapped in ``middleware`` (include_router)."""
        raise NotImplementedError

    def _format(self, name: str, params: dict[str, Any], protocol: str) -> URLPath:
        expected = set(self.compiled.param_convertors)
        if name != self.name or set(params) != expected:
            raise NoMatchFound(name, params)
        try:
            return URLPath(self.compiled.format(params), protocol=protocol)
        except (ValueError, TypeError) as exc:
            raise NoMatchFound(name, params) from exc


def _set_limit(scope: Scope, key: str, value: Any) -> None:
    if value is not INHERIT:
        scope[key] = value


def _merge_params(scope: Scope, params: dict[str, Any]) -> None:
    outer = scope.get("path_params")
    scope["path_params"] = {**outer, **params} if outer else params


class Route(BaseRoute):
    """An HTTP route: ``Route(path, endpoint, *, methods=None, name=None, middleware=None)``.

    ``endpoint`` is a function (async or sync) or a class with ``get``/``post``/...
    methods. GET routes answer HEAD too.
    """

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
        self.path = path
        self.endpoint = endpoint
        self.compiled = compile_path(path)
        self.name = name if name is not None else getattr(endpoint, "__name__", None)
        self.middleware = list(middleware or ())
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
        else:
            caller = bind_endpoint(endpoint, param_names)
            wanted = {method.upper() for method in (methods or ("GET",))}
            if "GET" in wanted:
                wanted.add("HEAD")
            self.methods = frozenset(wanted)
            self._callers = dict.fromkeys(self.methods, caller)
        self.app: ASGIApp = build_stack(self._run_endpoint, self.middleware)

    async def _run_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            result = await self._callers[scope["method"]](request, scope["path_params"])
            response = to_response(result, self.endpoint)
            await response(scope, receive, send)
        finally:
            if request._form is not None:
                await request.close()

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, Any], remainder: str | None
    ) -> None:
        _merge_params(scope, params)
        scope["endpoint"] = self.endpoint
        scope["route"] = self
        _set_limit(scope, MAX_BODY_SIZE_KEY, self.max_body_size)
        await self.app(scope, receive, send)

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        return self._format(name, params, "http")

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


class WebSocketRoute(BaseRoute):
    """A websocket route: ``WebSocketRoute(path, endpoint, *, name=None, middleware=None)``."""

    methods: frozenset[str] = frozenset()

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        max_message_size: int | None = INHERIT,
    ) -> None:
        self.path = path
        self.endpoint = endpoint
        self.compiled = compile_path(path)
        self.name = name if name is not None else getattr(endpoint, "__name__", None)
        self.middleware = list(middleware or ())
        self.max_message_size = max_message_size
        if isinstance(endpoint, type) and issubclass(endpoint, WebSocketEndpoint):
            endpoint_class = endpoint

            async def run_class(websocket: Any, params: dict[str, Any]) -> Any:
                await endpoint_class().dispatch(websocket)

            self._caller: EndpointCaller = run_class
        else:
            self._caller = bind_endpoint(endpoint, list(self.compiled.param_convertors))
        self.app: ASGIApp = build_stack(self._run_endpoint, self.middleware)

    async def _run_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await serve_websocket(websocket, self._caller(websocket, scope["path_params"]))

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, Any], remainder: str | None
    ) -> None:
        _merge_params(scope, params)
        scope["endpoint"] = self.endpoint
        scope["route"] = self
        _set_limit(scope, MAX_MESSAGE_SIZE_KEY, self.max_message_size)
        await self.app(scope, receive, send)

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        return self._format(name, params, "websocket")

    def with_prefix(self, prefix: str, middleware: Sequence[Middleware]) -> "WebSocketRoute":
        return WebSocketRoute(
            prefix + self.path,
            self.endpoint,
            name=self.name,
            middleware=[*middleware, *self.middleware],
            max_message_size=self.max_message_size,
        )

    def __repr__(self) -> str:
        return f"WebSocketRoute(path={self.path!r}, name={self.name!r})"


class Mount(BaseRoute):
    """Serve another app (or a list of routes) under a path prefix.

    The child sees the full path in ``scope["path"]`` and the prefix added to
    ``scope["root_path"]``, as the ASGI spec says.
    """

    is_mount = True
    methods: frozenset[str] = frozenset()

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
        self.inner: Any = app if app is not None else Router(routes)
        self.middleware = list(middleware or ())
        self.max_body_size = max_body_size
        self.max_message_size = max_message_size
        self.app: ASGIApp = build_stack(self.inner, self.middleware)

    @property
    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = getattr(self.inner, "routes", [])
        return routes

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, Any], remainder: str | None
    ) -> None:
        child = dict(scope)
        path: str = scope["path"]
        # The matched prefix is whatever of the routed path the remainder doesn't cover.
        routed = route_path(scope)
        matched = routed[: len(routed) - len(remainder or "")]
        child["root_path"] = scope.get("root_path", "") + matched
        if "app_root_path" not in scope:
            child["app_root_path"] = scope.get("root_path", "")
        child["path"] = path
        _merge_params(child, params)
        _set_limit(child, MAX_BODY_SIZE_KEY, self.max_body_size)
        _set_limit(child, MAX_MESSAGE_SIZE_KEY, self.max_message_size)
        await self.app(child, receive, send)

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        mount_names = set(self.compiled.param_convertors)
        if self.name is not None and name == self.name and "path" in params:
            # url_path_for("static", path="/css/site.css") -> the mount prefix + path.
            own = {key: value for key, value in params.items() if key != "path"}
            if set(own) != mount_names:
                raise NoMatchFound(name, params)
            path = str(params["path"])
            return URLPath(self._prefix(own, name) + "/" + path.lstrip("/"), protocol="http")
        if self.name is None:
            child_name = name
        elif name.startswith(self.name + ":"):
            child_name = name[len(self.name) + 1 :]
        else:
            raise NoMatchFound(name, params)
        if not mount_names <= set(params):
            raise NoMatchFound(name, params)
        own = {key: params[key] for key in mount_names}
        rest = {key: value for key, value in params.items() if key not in mount_names}
        url_path_for = getattr(self.inner, "url_path_for", None)
        if url_path_for is None:
            raise NoMatchFound(name, params)
        child: URLPath = url_path_for(child_name, **rest)
        return URLPath(self._prefix(own, name) + child, protocol=child.protocol)

    def _prefix(self, params: dict[str, Any], name: str) -> str:
        try:
            return self.compiled.format(params)
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


_HOST_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_][A-Za-z0-9_]*))?\}")


class Host(BaseRoute):
    """Serve another app for requests whose Host matches ``host`` (``{sub}.example.com``)."""

    methods: frozenset[str] = frozenset()

    def __init__(self, host: str, app: ASGIApp, *, name: str | None = None) -> None:
        self.host = host
        self.app = app
        self.name = name
        self.compiled = compile_path("/" + host.replace("/", ""))
        regex, position = "", 0
        for found in _HOST_PARAM.finditer(host):
            kind = found.group(2) or "str"
            part = CONVERTOR_TYPES[kind].regex
            regex += re.escape(host[position : found.start()]) + f"(?P<{found.group(1)}>{part})"
            position = found.end()
        regex += re.escape(host[position:])
        self._pattern = re.compile(regex, re.IGNORECASE)

    @property
    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = getattr(self.app, "routes", [])
        return routes

    def match_host(self, host: str) -> dict[str, Any] | None:
        found = self._pattern.fullmatch(host)
        if found is None:
            return None
        convertors = self.compiled.param_convertors
        return {name: convertors[name].convert(value) for name, value in found.groupdict().items()}

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, Any], remainder: str | None
    ) -> None:
        _merge_params(scope, params)
        await self.app(scope, receive, send)

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        if self.name is None:
            child_name = name
        elif name.startswith(self.name + ":"):
            child_name = name[len(self.name) + 1 :]
        else:
            raise NoMatchFound(name, params)
        host_names = set(self.compiled.param_convertors)
        if not host_names <= set(params):
            raise NoMatchFound(name, params)
        host = self.compiled.format({key: params[key] for key in host_names})[1:]
        url_path_for = getattr(self.app, "url_path_for", None)
        if url_path_for is None:
            raise NoMatchFound(name, params)
        child_params = {key: value for key, value in params.items() if key not in host_names}
        child: URLPath = url_path_for(child_name, **child_params)
        return URLPath(str(child), protocol=child.protocol, host=host)

    def with_prefix(self, prefix: str, middleware: Sequence[Middleware]) -> "Host":
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
        return self.route(
            path, [method], name, middleware=middleware, max_body_size=max_body_size
        )

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

    Args:
        routes: Route, WebSocketRoute, Mount and Host entries, in registration order.
        redirect_slashes: answer a miss whose slash/no-slash twin matches with a 307.
    """

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
        """Register a route object; a clash with an existing route is a ValueError."""
        if isinstance(route, Host):
            self._hosts.append(route)
        else:
            for scope_type in self._scope_types(route):
                self._check_clash(route, scope_type)
            for scope_type in self._scope_types(route):
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
        raise TypeError(f"Not a route: {route!r}")

    def _check_clash(self, route: BaseRoute, scope_type: str) -> None:
        table = self._tables[scope_type]
        for existing in table.entries_at(route.compiled, is_mount=route.is_mount):
            shared = existing.methods & route.methods if scope_type == "http" else True
            if shared:
                raise ValueError(
                    f"Route clash: {_describe(route)} and {_describe(existing)} both serve "
                    f"{scope_type} {route.compiled.shape!r}"
                    + (f" for {', '.join(sorted(shared))}" if isinstance(shared, frozenset) else "")
                    + "; give them different paths or methods."
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
                f"Unsupported scope type {scope_type!r}: expected 'http', 'websocket' or 'lifespan'."
            )
        path = route_path(scope)
        if scope_type == "http":
            await self._dispatch_http(table, path, scope, receive, send)
        else:
            await self._dispatch_websocket(table, path, scope, receive, send)

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
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
        if self.redirect_slashes:
            location = self._slash_twin(table, path, scope)
            if location is not None:
                await RedirectResponse(location, status_code=307)(scope, receive, send)
                return
        raise HTTPException(404)

    def _slash_twin(self, table: RouteTable, path: str, scope: Scope) -> str | None:
        """The Location for a slash/no-slash redirect, when the twin path matches."""
        if path == "/" or not path.startswith("/"):
            return None
        twin = path[:-1] if path.endswith("/") else path + "/"
        if not any(True for _ in table.match(twin)):
            return None
        raw_path: bytes | None = scope.get("raw_path")
        full = raw_path.decode("latin-1") if raw_path else scope["path"]
        full = full[:-1] if full.endswith("/") else full + "/"
        # A Location starting with // (or /\) is scheme-relative: an open redirect.
        if full.startswith(("//", "/\\")) or not full.startswith("/"):
            return None
        query: bytes = scope.get("query_string", b"")
        return full + ("?" + query.decode("latin-1") if query else "")

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
    label = endpoint_name(endpoint) if endpoint is not None else repr(route)
    return f"{label} ({getattr(route, 'path', '')!r})"
