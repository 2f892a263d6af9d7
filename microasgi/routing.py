"""Routing: the Router, Mount, and the registration API shared with App.

Routes are compiled when they are registered (``_routetable`` does the pure
matching, ``routes`` holds the route types); the Router only looks the path up
and does the I/O. No match is a 404, a path match with the wrong method a 405
with ``Allow``.
"""

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from microasgi._routetable import RouteTable, compile_path, param_converter
from microasgi.answering import answer_handled
from microasgi.datastructures import URLPath
from microasgi.endpoints import (
    endpoint_name,
)
from microasgi.exceptions import HTTPException, NoMatchFound
from microasgi.lifespan import serve_empty_lifespan
from microasgi.middleware import Middleware, build_stack
from microasgi.requests import MAX_BODY_SIZE_KEY, MAX_MESSAGE_SIZE_KEY, route_path
from microasgi.resolution import Resolution
from microasgi.responses import RedirectResponse
from microasgi.responsestate import hand_over
from microasgi.routes import (
    INHERIT,
    BaseRoute,
    Host,
    Params,
    Route,
    WebSocketRoute,
    merge_params,
    nested_name,
)
from microasgi.types import ASGIApp, Receive, Scope, Send

F = TypeVar("F", bound=Callable[..., Any])


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
        self.path_params = param_converter(self.compiled)
        self.name = name
        # The permissive boundary: any ASGI app, with or without routes/url_path_for.
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
        merge_params(child, params)
        if self.max_body_size is not INHERIT:
            child[MAX_BODY_SIZE_KEY] = self.max_body_size
        if self.max_message_size is not INHERIT:
            child[MAX_MESSAGE_SIZE_KEY] = self.max_message_size
        await self.app(child, receive, hand_over(child, send))

    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        mount_names = self.compiled.param_convertors.keys()
        if name == self.name and "path" in params:
            own = {key: value for key, value in params.items() if key != "path"}
            if own.keys() != mount_names:
                raise NoMatchFound(name, params)
            path = quote(str(params["path"]).lstrip("/"), safe=_PATH_SAFE)
            return URLPath(self._prefix(own, name, params) + "/" + path, protocol="http")
        child_name = nested_name(self.name, name)
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
        if not isinstance(path, str):  # a bare @app.get: the function arrived as the path
            raise TypeError(
                f"The route decorator needs the path first, got {path!r}: write "
                "@app.get('/path') (or @app.route('/path')), not a bare @app.get."
            )

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

    # It has resolve (microasgi.resolution), for function middleware right in front of it.
    offers_resolution = True

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
        await self.dispatch(scope, receive, send)

    def dispatch(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Route ``scope`` and return the coroutine that serves it.

        Matching is synchronous, so a caller that awaits this directly (App does) pays no
        coroutine frame for the router itself. An error raised while matching (a
        convertor's) is a handled error of the router's, answered here with the handlers.
        """
        if scope["type"] == "lifespan":
            return serve_empty_lifespan(scope, receive, send)
        if "router" not in scope:
            scope["router"] = self
        try:
            route, params, rest = self.match(scope)
        except Exception as exc:
            return answer_handled(exc, scope, receive, send)
        return route.handle(scope, receive, send, params, rest)

    def resolve(self, scope: Scope, receive: Receive) -> Awaitable[Resolution | None]:
        """Run the endpoint of a plain HTTP route and return its response unsent, for
        function middleware (see ``microasgi.resolution``). Anything else (a host or
        mount, a miss, route middleware, an error while matching) resolves to None having
        run nothing; the caller then runs ``dispatch``. Matching is synchronous, as in
        ``dispatch``: the router adds no coroutine frame."""
        if scope["type"] != "http":
            return _no_resolution()
        try:
            route, params, _ = self.match(scope)
        except Exception:
            return _no_resolution()  # dispatch answers it
        if not route.resolvable:
            return _no_resolution()
        if "router" not in scope:
            scope["router"] = self
        resolved: Awaitable[Resolution] = route.resolve(scope, receive, params)  # a Route's
        return resolved

    def match(self, scope: Scope) -> tuple[BaseRoute, Params, str | None]:
        """What serves ``scope``: the route, its converted params and, for a mount, the
        rest of the path; or the router's own answer to a miss (404, 405, a slash
        redirect, a websocket denial). Pure: it sends nothing. Hosts come first, in
        registration order; then the path, most specific first.

        Raises:
            ValueError: a scope type the router does not serve.
            Exception: whatever a convertor raised.
        """
        scope_type = scope["type"]
        table = self._tables.get(scope_type)
        if table is None:
            raise ValueError(
                f"Unsupported scope type {scope_type!r}: "
                "expected 'http', 'websocket' or 'lifespan'."
            )
        if self._hosts:
            host = _request_host(scope)
            for host_route in self._hosts:
                host_params = host_route.match_host(host)
                if host_params is not None:
                    return host_route, host_params, None
        # route_path(scope), inlined: this runs on every request.
        path: str = scope["path"]
        root_path = scope.get("root_path")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        if scope_type != "http":
            return self._match_websocket(table, path)
        # The hot path: a static path is one dict hit; others go down the trie without
        # generators. Anything unusual (405, a refused param) takes _match_http.
        static = table.static.get(path)
        if static is not None:
            route: BaseRoute = static[0][0]
            if scope["method"] in route.methods:
                return route, {}, None
        else:
            candidate = table.first(path)
            if candidate is None:
                return self._miss(table, path, scope), {}, None
            route = candidate[0]
            if route.is_mount or scope["method"] in route.methods:
                params = route.path_params(candidate)
                if params is not None:
                    return route, params, candidate[2]
        return self._match_http(table, path, scope)

    def _match_http(
        self, table: RouteTable, path: str, scope: Scope
    ) -> tuple[BaseRoute, Params, str | None]:
        method: str = scope["method"]
        allowed: set[str] = set()
        for candidate in table.match(path):
            route: BaseRoute = candidate[0]
            if route.is_mount or method in route.methods:
                params = route.path_params(candidate)
                if params is not None:
                    return route, params, candidate[2]
            else:
                allowed |= route.methods
        if allowed:
            refusal = HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
            return _RouterAnswer(functools.partial(_refuse, refusal)), {}, None
        return self._miss(table, path, scope), {}, None

    def _miss(self, table: RouteTable, path: str, scope: Scope) -> "_RouterAnswer":
        """No route serves the path: a slash redirect when the twin matches, else 404."""
        if self.redirect_slashes:
            location = _slash_twin(table, path, scope)
            if location is not None:
                return _RouterAnswer(RedirectResponse(location, status_code=307))
        return _NOT_FOUND

    def _match_websocket(
        self, table: RouteTable, path: str
    ) -> tuple[BaseRoute, Params, str | None]:
        for candidate in table.match(path):
            route: BaseRoute = candidate[0]
            params = route.path_params(candidate)
            if params is not None:
                return route, params, candidate[2]
        return _WEBSOCKET_NOT_FOUND, {}, None


class _RouterAnswer(BaseRoute):
    """The router's own answer where no route serves: ``handle`` runs ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def handle(
        self, scope: Scope, receive: Receive, send: Send, params: Params, rest: str | None
    ) -> Awaitable[None]:
        return self.app(scope, receive, hand_over(scope, send))


async def _refuse(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    """A 404 or 405: a handled error, answered by the App's handlers (or in plain text by
    a Router served on its own; raised for another framework's handlers)."""
    await answer_handled(exc, scope, receive, send)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await _refuse(HTTPException(404), scope, receive, send)  # a fresh one: it may be raised


async def _deny_missing_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    await _deny_websocket(scope, send, 404, b"Not Found")


_NOT_FOUND = _RouterAnswer(_not_found)
_WEBSOCKET_NOT_FOUND = _RouterAnswer(_deny_missing_websocket)


async def _no_resolution() -> None:
    """What ``Router.resolve`` returns for a request off the shortcut."""
    return


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


async def _deny_websocket(scope: Scope, send: Send, status: int, body: bytes) -> None:
    """Refuse a handshake: an HTTP response where the server supports it, else a close."""
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1000})


def _describe(route: BaseRoute) -> str:
    endpoint = getattr(route, "endpoint", None)
    path = getattr(route, "path", "")
    if endpoint is not None:
        return f"{endpoint_name(endpoint)} ({path!r})"
    return f"{type(route).__name__}({path!r}, name={route.name!r})"


__all__ = [
    "INHERIT",
    "BaseRoute",
    "Host",
    "Mount",
    "Route",
    "RouteRegistry",
    "Router",
    "WebSocketRoute",
]
