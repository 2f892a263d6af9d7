"""Mount: another app, or a list of routes, served under a path prefix.

A Mount of routes is a Router of its own, and a Router (through ``RouteRegistry.mount``)
builds Mounts: the two refer to each other. ``routing`` imports this module (to build
and re-export ``Mount``); this module reaches ``Router`` only when a Mount of routes is
built (``_router``), so importing either module never needs the other half-loaded.
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from microasgi._routetable import PATH_SAFE, compile_path, param_converter
from microasgi.datastructures import URLPath
from microasgi.exceptions import NoMatchFound
from microasgi.middleware import Middleware, build_stack
from microasgi.requests import MAX_BODY_SIZE_KEY, MAX_MESSAGE_SIZE_KEY, route_path
from microasgi.responsestate import hand_over
from microasgi.routes import INHERIT, BaseRoute, merge_params, nested_name
from microasgi.types import ASGIApp, Receive, Scope, Send

__all__ = ["Mount"]


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
        self.inner: Any = app if app is not None else _router(routes)
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
            path = quote(str(params["path"]).lstrip("/"), safe=PATH_SAFE)
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


def _router(routes: Sequence[BaseRoute] | None) -> Any:
    """A Router of ``routes``: imported here because routing imports this module."""
    from microasgi.routing import Router

    return Router(routes)
