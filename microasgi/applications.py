"""App: a router, the lifespan, and the middleware stack, built once before serving.

The stack, outermost first: ServerErrorMiddleware (the guard) -> user middleware
-> Router. The exception handlers (the App's ``exception_layer``) are not a layer:
the routes answer errors with them where they are raised, found through
``scope["app"]`` (microasgi.answering). Lifespan scopes don't go through the stack:
the App answers them itself.
"""

import functools
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from microasgi.answering import answer_error
from microasgi.datastructures import State, URLPath
from microasgi.lifespan import LifespanFactory, lifespan_context, serve_lifespan
from microasgi.middleware import Middleware, build_stack
from microasgi.middleware.errors import ServerErrorMiddleware
from microasgi.middleware.exceptions import ExceptionHandler, ExceptionMiddleware, HandlerKey
from microasgi.middleware.functional import DispatchFunction, FunctionMiddleware
from microasgi.requests import MAX_BODY_SIZE_KEY, MAX_MESSAGE_SIZE_KEY
from microasgi.responses import note_sent
from microasgi.routing import BaseRoute, Host, Mount, Router, RouteRegistry
from microasgi.types import ASGIApp, Receive, Scope, Send

F = TypeVar("F", bound=Callable[..., Any])


class App(RouteRegistry):
    """An ASGI 3 application.

    Args:
        routes: initial routes (Route, WebSocketRoute, Mount, Host).
        middleware: ``Middleware`` specs, the first listed outermost.
        exception_handlers: ``{status_code or exception class: handler(request, exc)}``.
        lifespan: an async context manager factory ``lifespan(app)``; a mapping it
            yields becomes the connection ``state``.
        on_startup: callables run at startup (sync or async), before ``lifespan``.
        on_shutdown: callables run at shutdown, after ``lifespan`` exits.
        debug: show tracebacks in 500 responses.
        redirect_slashes: 307 a miss to its slash/no-slash twin when that matches.
        max_body_size: bytes a request body may have (413 past it); None lifts it.
        max_message_size: bytes one websocket message may have (close 1009); None lifts it.
    """

    # Errors escaping the App after a response started carry mark_response_started.
    marks_response_errors = True

    def __init__(
        self,
        *,
        routes: Sequence[BaseRoute] | None = None,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: Mapping[HandlerKey, ExceptionHandler] | None = None,
        lifespan: LifespanFactory | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        debug: bool = False,
        redirect_slashes: bool = True,
        max_body_size: int | None = 10_485_760,
        max_message_size: int | None = 1_048_576,
    ) -> None:
        self.router = Router(routes, redirect_slashes=redirect_slashes)
        self.user_middleware: list[Middleware] = list(middleware or ())
        self.exception_handlers: dict[HandlerKey, ExceptionHandler] = dict(exception_handlers or {})
        self.debug = debug
        self.state = State()
        self.max_body_size = max_body_size
        self.max_message_size = max_message_size
        self._lifespan = lifespan
        self._startup_hooks: list[Callable[[], Any]] = list(on_startup or ())
        self._shutdown_hooks: list[Callable[[], Any]] = list(on_shutdown or ())
        self._stack: ASGIApp | None = None
        # Built with the stack. Routes answer errors with it where they are raised, found
        # through scope["app"] (microasgi.answering): no exception layer coroutine runs.
        self.exception_layer: ExceptionMiddleware | None = None
        self._dispatch: ASGIApp | None = None
        self._guard: ServerErrorMiddleware | None = None

    @property
    def routes(self) -> list[BaseRoute]:
        return self.router.routes

    # ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        scope_type = scope["type"]
        stack = self._stack
        if stack is None:
            stack = self._stack = self.build_middleware_stack()
        if scope_type == "http":
            if MAX_BODY_SIZE_KEY not in scope:
                scope[MAX_BODY_SIZE_KEY] = self.max_body_size
            guard = self._guard
            if stack is guard and guard is not None:  # ServerErrorMiddleware.__call__, inlined
                started = [False]
                # watch_start(send, started), inlined
                watched = functools.partial(note_sent, started, send) if guard.watch_sends else send
                try:
                    await guard.app(scope, receive, watched)
                except Exception as exc:
                    await guard.answer(exc, started[0], scope, receive, send)
                return
            if stack is self._dispatch:
                # No user middleware: what escapes the router (an error raised while
                # matching) is the exception layer's; ExceptionMiddleware.__call__, inlined.
                try:
                    await stack(scope, receive, send)
                except Exception as exc:
                    await answer_error(exc, scope, receive, send)
                return
        elif scope_type == "websocket":
            if MAX_MESSAGE_SIZE_KEY not in scope:
                scope[MAX_MESSAGE_SIZE_KEY] = self.max_message_size
        elif scope_type == "lifespan":
            await serve_lifespan(self.lifespan_context, scope, receive, send)
            return
        else:
            raise ValueError(
                f"Unsupported ASGI scope type {scope_type!r}: "
                "microasgi serves 'http', 'websocket' and 'lifespan'."
            )
        # A websocket, or a stack a subclass wrapped: as it is.
        await stack(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        """Fold the stack: guard, user middleware, router.

        The exception layer is not a layer of the stack: the router's routes answer
        errors with it where they are raised (``microasgi.answering``).
        """
        router = self.router
        self.exception_layer = ExceptionMiddleware(
            router.dispatch, self.exception_handlers, debug=self.debug
        )
        # The router's dispatch, not the router: one coroutine frame less per request.
        self._dispatch = router.dispatch
        self._guard = None
        if not self.user_middleware:
            # The routes answer every error they let escape (or the response had
            # started), so without user middleware the guard would have nothing to do.
            return self._dispatch
        stack = build_stack(self._dispatch, self.user_middleware)
        marking = all(
            getattr(spec.cls, "marks_response_errors", False) for spec in self.user_middleware
        )
        self._guard = ServerErrorMiddleware(stack, debug=self.debug, watch_sends=not marking)
        return self._guard

    def lifespan_context(self) -> AbstractAsyncContextManager[dict[str, Any]]:
        """This app's startup/shutdown, with those of the Apps mounted in it, in mount order."""
        children = [app.lifespan_context for app in _mounted_apps(self.router.routes)]
        return lifespan_context(
            self, self._lifespan, self._startup_hooks, self._shutdown_hooks, children
        )

    # Middleware and handlers -----------------------------------------------------------

    def add_middleware(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        """Append middleware (innermost so far). RuntimeError once the app is serving."""
        if self._stack is not None:
            raise RuntimeError(
                "Cannot add middleware after the app has started serving; "
                "add it before the first request (or pass middleware=[...] to App)."
            )
        self.user_middleware.append(Middleware(cls, *args, **kwargs))

    def middleware(self, middleware_type: str) -> Callable[[DispatchFunction], DispatchFunction]:
        """Decorate ``async def mw(request, call_next)`` as HTTP middleware (added innermost)."""
        if middleware_type != "http":
            raise ValueError(f'Only "http" function middleware exists, got {middleware_type!r}.')

        def decorator(dispatch: DispatchFunction) -> DispatchFunction:
            self.add_middleware(FunctionMiddleware, dispatch=dispatch)
            return dispatch

        return decorator

    def add_exception_handler(self, key: HandlerKey, handler: ExceptionHandler) -> None:
        self.exception_handlers[key] = handler

    def exception_handler(self, key: HandlerKey) -> Callable[[F], F]:
        """Decorate ``handler(request, exc)`` for a status code or an exception class."""

        def decorator(handler: F) -> F:
            self.add_exception_handler(key, handler)
            return handler

        return decorator

    # Lifespan hooks ----------------------------------------------------------------------

    def on_startup(self, func: F) -> F:
        """Decorate a callable to run at startup."""
        self._startup_hooks.append(func)
        return func

    def on_shutdown(self, func: F) -> F:
        """Decorate a callable to run at shutdown."""
        self._shutdown_hooks.append(func)
        return func

    # Routing: the decorators come from RouteRegistry and land on the router -------------

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.router.url_path_for(name, **path_params)

    def add(self, route: BaseRoute) -> None:
        """Register a route object on the app's router."""
        self.router.add(route)


def _mounted_apps(routes: Sequence[BaseRoute]) -> list[App]:
    """Apps mounted anywhere under these routes, in registration order."""
    found: list[App] = []
    for route in routes:
        inner = route.inner if isinstance(route, Mount) else None
        if isinstance(route, Host):
            inner = route.app
        if isinstance(inner, App):
            found.append(inner)
        elif isinstance(inner, Router):
            found.extend(_mounted_apps(inner.routes))
    return found
