"""Routing: the Router, and the registration API shared with App.

Routes are compiled when they are registered (``_routetable`` does the pure
matching, ``routes`` holds the route types, ``mount`` holds Mount); the Router only
looks the path up and does the I/O. No match is a 404, a path match with the wrong
method a 405 with ``Allow`` (``_routeranswers``). Every route type is re-exported here.
"""

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from microasgi._routeranswers import (
    NOT_FOUND,
    WEBSOCKET_NOT_FOUND,
    RouterAnswer,
    refuse,
    slash_twin,
)
from microasgi._routetable import RouteTable
from microasgi.answering import answer_handled
from microasgi.datastructures import URLPath
from microasgi.endpoints import (
    endpoint_name,
)
from microasgi.exceptions import HTTPException, NoMatchFound
from microasgi.lifespan import serve_empty_lifespan
from microasgi.middleware import Middleware
from microasgi.mount import Mount
from microasgi.resolution import Resolution
from microasgi.responses import RedirectResponse
from microasgi.routes import (
    INHERIT,
    BaseRoute,
    Host,
    Params,
    Route,
    WebSocketRoute,
)
from microasgi.types import ASGIApp, Receive, Scope, Send

F = TypeVar("F", bound=Callable[..., Any])


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
            return RouterAnswer(functools.partial(refuse, refusal)), {}, None
        return self._miss(table, path, scope), {}, None

    def _miss(self, table: RouteTable, path: str, scope: Scope) -> "RouterAnswer":
        """No route serves the path: a slash redirect when the twin matches, else 404."""
        if self.redirect_slashes:
            location = slash_twin(table, path, scope)
            if location is not None:
                return RouterAnswer(RedirectResponse(location, status_code=307))
        return NOT_FOUND

    def _match_websocket(
        self, table: RouteTable, path: str
    ) -> tuple[BaseRoute, Params, str | None]:
        for candidate in table.match(path):
            route: BaseRoute = candidate[0]
            params = route.path_params(candidate)
            if params is not None:
                return route, params, candidate[2]
        return WEBSOCKET_NOT_FOUND, {}, None


async def _no_resolution() -> None:
    """What ``Router.resolve`` returns for a request off the shortcut."""
    return


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
