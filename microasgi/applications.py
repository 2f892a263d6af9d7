"""App: a router, the lifespan, and the middleware stack, built once before serving.

The stack is the user middleware (the first listed outermost) around the router's
``dispatch``, built at lifespan startup (or by the first request when the server runs
no lifespan), so a bad middleware option fails the startup with its own error.
``App.__call__`` is also the guard: for an HTTP request it watches the server's send to
know whether the response started, and answers what escapes the stack
(``answering.answer_escaped``): the one place an unhandled error becomes a 500. A
mounted App leaves that to the outermost App. The exception handlers are not a layer:
routes answer handled errors with them where they are raised, found through
``scope["app"].handlers`` (``microasgi.answering``).
"""

import functools
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from microasgi.answering import (
    ExceptionHandler,
    ExceptionHandlers,
    HandlerKey,
    answer_escaped,
)
from microasgi.datastructures import State, URLPath
from microasgi.endpoints import check_exception_handler
from microasgi.lifespan import LifespanFactory, lifespan_context, serve_lifespan
from microasgi.middleware import Middleware, build_stack
from microasgi.middleware.functional import (
    DispatchFunction,
    FunctionMiddleware,
    check_middleware_function,
)
from microasgi.openapi import docs_page, openapi_document
from microasgi.playground import DEFAULT_PATH as DEFAULT_PLAYGROUND_PATH
from microasgi.playground import Playground, check_path
from microasgi.protocol import ProtocolGuardMiddleware
from microasgi.requests import MAX_MESSAGE_SIZE_KEY
from microasgi.responses import HTMLResponse, JSONResponse
from microasgi.responsestate import (
    RESPONSE_STATE_KEY,
    ResponseState,
    note_sent,
    records_own_start,
)
from microasgi.routing import BaseRoute, Host, Mount, Route, Router, RouteRegistry
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
        debug: show tracebacks in 500 responses, and check every message sent on an http
            or websocket connection against the ASGI protocol (``microasgi.protocol``).
        redirect_slashes: 307 a miss to its slash/no-slash twin when that matches.
        max_body_size: bytes a request body may have (413 past it); None lifts it.
        max_message_size: bytes one websocket message may have (close 1009); None lifts it.
        playground: serve the ASGI playground (``microasgi.playground``) at
            ``playground_path``: live traces of this app's connections, a step-through of
            each, requests tried in process, and the race. Needs ``debug=True``.
        playground_path: where the playground page lives.
        openapi_url: serve ``app.openapi()`` as JSON at this path (off when None).
        docs_url: serve a documentation page of the OpenAPI document at this path (needs
            ``openapi_url``; off when None).
        title, version: the ``info`` of the OpenAPI document.
    """

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
        playground: bool = False,
        playground_path: str = DEFAULT_PLAYGROUND_PATH,
        openapi_url: str | None = None,
        docs_url: str | None = None,
        title: str = "microasgi",
        version: str = "0.1.0",
    ) -> None:
        if playground and not debug:
            raise ValueError(
                "playground=True needs debug=True: the playground shows every request this "
                "app serves, so it is for development only."
            )
        self.router = Router(routes, redirect_slashes=redirect_slashes)
        self.title = title
        self.version = version
        self.openapi_url = openapi_url
        self.docs_url = docs_url
        self._openapi: tuple[tuple[int, ...], dict[str, Any]] | None = None
        self._add_openapi_routes()
        self.user_middleware: list[Middleware] = list(middleware or ())
        self.exception_handlers: dict[HandlerKey, ExceptionHandler] = {}
        for key, handler in (exception_handlers or {}).items():
            self.add_exception_handler(key, handler)
        self.debug = debug
        self.playground = playground
        self.playground_path = check_path(playground_path) if playground else playground_path
        self.state = State()
        self.max_body_size = max_body_size
        self.max_message_size = max_message_size
        self._lifespan = lifespan
        self._startup_hooks: list[Callable[[], Any]] = list(on_startup or ())
        self._shutdown_hooks: list[Callable[[], Any]] = list(on_shutdown or ())
        self._stack: ASGIApp | None = None
        self._stack_records_start = False
        # Routes answer handled errors with these where they are raised, found through
        # scope["app"] (microasgi.answering); rebuilt with the stack, to take its debug.
        self.handlers = ExceptionHandlers(self.exception_handlers, debug)

    @property
    def routes(self) -> list[BaseRoute]:
        return self.router.routes

    # ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        outer = scope.get("app")
        scope["app"] = self
        if scope_type == "lifespan":
            await serve_lifespan(self.lifespan_context, scope, receive, send)
            return
        stack = self._stack
        if stack is None:
            stack = self._build_stack()
        if scope_type == "http":
            if outer is None or not isinstance(outer, App):
                # The guard: answer what escapes the stack, unless the server had a message.
                state: ResponseState = [False]
                if self._stack_records_start:
                    scope[RESPONSE_STATE_KEY] = state
                    sent = send
                else:
                    # recording_send(state, send), inlined: user middleware sends as it likes.
                    sent = functools.partial(note_sent, state, send)
                try:
                    await stack(scope, receive, sent)
                except Exception as exc:
                    await answer_escaped(exc, state[0], scope, receive, send)
                return
        elif scope_type == "websocket":
            if MAX_MESSAGE_SIZE_KEY not in scope:
                scope[MAX_MESSAGE_SIZE_KEY] = self.max_message_size
        else:
            raise ValueError(
                f"Unsupported ASGI scope type {scope_type!r}: "
                "microasgi serves 'http', 'websocket' and 'lifespan'."
            )
        # A websocket (its endpoint closes the connection on errors itself), or an App
        # mounted in another, whose guard answers what escapes this one.
        await stack(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        """Fold the user middleware around the router's dispatch (its bound method, not
        the router: one coroutine frame less per request). A subclass may wrap it."""
        self.handlers = ExceptionHandlers(self.exception_handlers, self.debug)
        return build_stack(self.router.dispatch, self.user_middleware)

    def _build_stack(self) -> ASGIApp:
        stack = self._stack
        if stack is None:
            stack = self.build_middleware_stack()
            if self.debug:
                # The protocol guard, around the whole stack: it checks what the middleware,
                # the routes and mounted raw apps send. Added here, it costs nothing when off.
                stack = ProtocolGuardMiddleware(stack)
                if self.playground:
                    stack = Playground(stack, self.playground_path)
            # The router, or middleware that records its own start: it talks to the
            # server directly and keeps the response record (microasgi.responsestate).
            self._stack_records_start = stack == self.router.dispatch or records_own_start(stack)
            self._stack = stack
        return stack

    async def _build_stack_at_startup(self) -> None:
        self._build_stack()

    def lifespan_context(self) -> AbstractAsyncContextManager[dict[str, Any]]:
        """This app's startup/shutdown, with those of the Apps mounted in it, in mount order."""
        children = [app.lifespan_context for app in _mounted_apps(self.router.routes)]
        # The stack first: a middleware that cannot be built fails the startup, not
        # every request.
        startup = [self._build_stack_at_startup, *self._startup_hooks]
        return lifespan_context(self, self._lifespan, startup, self._shutdown_hooks, children)

    # OpenAPI -----------------------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the app's routes, built again only when the app's
        own list of routes changed."""
        key = tuple(map(id, self.routes))
        if self._openapi is None or self._openapi[0] != key:
            self._openapi = (key, openapi_document(self.routes, self.title, self.version))
        return self._openapi[1]

    def _add_openapi_routes(self) -> None:
        openapi_url = self.openapi_url
        if openapi_url is None:
            if self.docs_url is not None:
                raise ValueError("docs_url needs openapi_url: the page reads the document.")
            return

        async def openapi_json() -> JSONResponse:
            return JSONResponse(self.openapi())

        openapi_json.hidden_from_openapi = True  # type: ignore[attr-defined]
        self.router.add(Route(openapi_url, openapi_json, name="openapi"))
        if self.docs_url is not None:
            page = docs_page(self.title, openapi_url)

            async def docs() -> HTMLResponse:
                return HTMLResponse(page)

            docs.hidden_from_openapi = True  # type: ignore[attr-defined]
            self.router.add(Route(self.docs_url, docs, name="docs"))

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
            check_middleware_function(dispatch)  # now, not when the stack is built
            self.add_middleware(FunctionMiddleware, dispatch=dispatch)
            return dispatch

        return decorator

    def add_exception_handler(self, key: HandlerKey, handler: ExceptionHandler) -> None:
        """Register ``handler(request, exc)`` for a status code or an exception class.

        Raises:
            TypeError: the handler cannot be called as ``handler(request, exc)``.
        """
        check_exception_handler(handler)
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
