"""The error path: exactly one response start, whoever raises and whoever sits outside.

Handled errors (a handler for their class or status, an HTTPException) are answered where
they are raised; unhandled ones propagate through every middleware to the outermost App,
which answers 500 and re-raises. The matrix below crosses where the error happens with
what sits outside and the kind of error; the tests after it pin the cases that were wrong.
"""

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from microasgi import (
    App,
    BackgroundTask,
    Convertor,
    FileResponse,
    Host,
    HTTPException,
    Mount,
    PlainTextResponse,
    Request,
    Response,
    Route,
    Router,
    StreamingResponse,
    register_convertor,
)
from microasgi.middleware import GZipMiddleware, Middleware
from microasgi.middleware.functional import CallNext
from microasgi.routing import BaseRoute
from microasgi.testclient import TestClient
from microasgi.types import ASGIApp, Message, Receive, Scope, Send
from tests.conftest import HTTPScope, RunApp


class Handled(Exception):
    """An error with a handler (409)."""


class BrokenlyHandled(Exception):
    """An error whose handler itself fails."""


class ExplodingConvertor(Convertor):
    regex = "[a-z]+"

    def convert(self, value: str) -> str:
        raise Handled(f"cannot convert {value!r}")

    def to_string(self, value: str) -> str:
        return value


register_convertor("explode", ExplodingConvertor())


def conflict(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("conflict", status_code=409)


def broken_handler(request: Request, exc: Exception) -> Response:
    raise NameError("the handler is broken")


HANDLERS: dict[Any, Any] = {Handled: conflict, BrokenlyHandled: broken_handler}


async def _fails_mid_stream() -> AsyncIterator[bytes]:
    yield b"first"
    raise RuntimeError("the stream failed")


async def failing(request: Request) -> Response:
    kind = request.query_params["kind"]
    if kind == "handled":
        raise Handled()
    if kind == "unhandled":
        raise RuntimeError("unhandled")
    if kind == "http":
        raise HTTPException(418, "teapot")
    if kind == "in_handler":
        raise BrokenlyHandled()
    assert kind == "after_start"
    return StreamingResponse(_fails_mid_stream())


async def converted(value: str) -> str:
    return value


def endpoint_routes() -> list[BaseRoute]:
    return [Route("/e", failing), Route("/c/{value:explode}", converted)]


class PassThrough:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class CatchAll:
    """Pure ASGI middleware that answers any error with 503, unless its response started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if started:
                raise
            await PlainTextResponse("unavailable", status_code=503)(scope, receive, send)


async def pass_call_next(request: Request, call_next: CallNext) -> Response:
    return await call_next(request)


async def catch_call_next(request: Request, call_next: CallNext) -> Response:
    try:
        return await call_next(request)
    except Exception:
        return PlainTextResponse("unavailable", status_code=503)


class WrappingApp(App):
    """An App subclass that wraps the stack it builds, as users do to add a layer."""

    def build_middleware_stack(self) -> ASGIApp:
        return PassThrough(super().build_middleware_stack())


PASS = [Middleware(PassThrough)]

# Where the error happens: (the routes of the outer App, the path prefix, the Host header).
LOCATIONS: dict[str, Callable[[], tuple[list[BaseRoute], str, str]]] = {
    "route": lambda: (endpoint_routes(), "", "testserver"),
    "route_with_middleware": lambda: (
        [
            Route("/e", failing, middleware=PASS),
            Route("/c/{value:explode}", converted, middleware=PASS),
        ],
        "",
        "testserver",
    ),
    "mount": lambda: ([Mount("/m", routes=endpoint_routes())], "/m", "testserver"),
    "mount_with_middleware": lambda: (
        [Mount("/m", routes=endpoint_routes(), middleware=PASS)],
        "/m",
        "testserver",
    ),
    "host": lambda: ([Host("api.test", Router(endpoint_routes()))], "", "api.test"),
    "host_inside_mount": lambda: (
        [Mount("/m", routes=[Host("api.test", Router(endpoint_routes()))])],
        "/m",
        "api.test",
    ),
    "mounted_app": lambda: (
        [Mount("/m", App(routes=endpoint_routes(), exception_handlers=HANDLERS))],
        "/m",
        "testserver",
    ),
    "mounted_app_subclass": lambda: (
        [Mount("/m", WrappingApp(routes=endpoint_routes(), exception_handlers=HANDLERS))],
        "/m",
        "testserver",
    ),
}


def add_function_middleware(dispatch: Any) -> Callable[[App], None]:
    def add(app: App) -> None:
        app.middleware("http")(dispatch)

    return add


OUTSIDE: dict[str, Callable[[App], None]] = {
    "nothing": lambda app: None,
    "pass_through_asgi": lambda app: app.add_middleware(PassThrough),
    "catch_all_asgi": lambda app: app.add_middleware(CatchAll),
    "function": add_function_middleware(pass_call_next),
    "catching_function": add_function_middleware(catch_call_next),
}

ERRORS = ["handled", "unhandled", "http", "convertor", "after_start", "in_handler"]


def expected_status(error: str, outside: str) -> int:
    if error in ("handled", "convertor"):
        return 409
    if error == "http":
        return 418
    if error == "after_start":
        return 200
    return 503 if outside in ("catch_all_asgi", "catching_function") else 500


@pytest.mark.parametrize(
    ("location", "outside", "error"),
    list(itertools.product(LOCATIONS, OUTSIDE, ERRORS)),
)
def test_exactly_one_start(
    run_app: RunApp, http_scope: HTTPScope, location: str, outside: str, error: str
) -> None:
    routes, prefix, host = LOCATIONS[location]()
    app = App(routes=routes, exception_handlers=HANDLERS)
    OUTSIDE[outside](app)
    if error == "convertor":
        scope = http_scope(f"{prefix}/c/abc", headers=[("host", host)])
    else:
        query = f"kind={error}".encode()
        scope = http_scope(f"{prefix}/e", headers=[("host", host)], query_string=query)
    sent: list[Message] = []
    try:
        run_app(app, scope, sent=sent)
    except Exception:
        pass  # unhandled errors are re-raised for the server to log
    starts = [message for message in sent if message["type"] == "http.response.start"]
    assert [start["status"] for start in starts] == [expected_status(error, outside)]
    bodies = [message for message in sent if message["type"] == "http.response.body"]
    assert sent[0]["type"] == "http.response.start"
    if error != "after_start":
        assert not bodies[-1].get("more_body", False)  # a complete answer


# The cases that were wrong -----------------------------------------------------------


def test_catch_all_asgi_middleware_answers_alone(run_app: RunApp, http_scope: HTTPScope) -> None:
    app = App(middleware=[Middleware(CatchAll)])

    @app.get("/")
    async def home() -> str:
        raise RuntimeError("boom")

    sent = run_app(app, http_scope("/"))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [503]


class Tagging:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-tag", b"1")]
            await send(message)

        await self.app(scope, receive, tagged)


def test_a_convertor_error_with_a_host_route_present_gets_its_handler_inside_middleware() -> None:
    app = App(
        routes=[Host("other.test", Router([])), Route("/c/{value:explode}", converted)],
        exception_handlers=HANDLERS,
        middleware=[Middleware(Tagging)],
    )
    response = TestClient(app).get("/c/abc")
    assert (response.status_code, response.headers["x-tag"]) == (409, "1")


class FailingAfter:
    """A layer that fails once the app it wraps has answered (an audit log gone wrong)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        raise RuntimeError("the audit layer failed")


class AuditedApp(App):
    def build_middleware_stack(self) -> ASGIApp:
        return FailingAfter(super().build_middleware_stack())


@pytest.mark.parametrize("background_fails", [False, True])
def test_a_mounted_app_subclass_failing_after_its_response_sends_one_start(
    run_app: RunApp, http_scope: HTTPScope, background_fails: bool
) -> None:
    def fail() -> None:
        raise RuntimeError("the background task failed")

    inner = AuditedApp()
    background = BackgroundTask(fail) if background_fails else None
    inner.get("/")(lambda: PlainTextResponse("ok", background=background))
    app = App(routes=[Mount("/m", inner)])
    sent: list[Message] = []
    with pytest.raises(RuntimeError, match="failed"):
        run_app(app, http_scope("/m/"), sent=sent)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


@pytest.mark.parametrize("spec_version", ["2.3.1", "2", "two.four", "", "2.4.0"])
def test_file_response_tolerates_any_spec_version(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path, spec_version: str
) -> None:
    (tmp_path / "a.txt").write_bytes(b"file body")
    scope = http_scope("/", asgi={"version": "3.0", "spec_version": spec_version})
    sent: list[Message] = []

    async def receive() -> Message:  # a client that stays
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        await asyncio.wait_for(FileResponse(tmp_path / "a.txt")(scope, receive, send), 5)

    asyncio.run(main())
    assert b"".join(m.get("body", b"") for m in sent) == b"file body"


def test_an_error_in_a_handler_is_chained_and_reaches_the_guard() -> None:
    app = App(exception_handlers=HANDLERS)

    @app.get("/")
    async def home() -> str:
        raise BrokenlyHandled()

    with pytest.raises(NameError, match="the handler is broken") as raised:
        TestClient(app).get("/")
    assert isinstance(raised.value.__cause__, BrokenlyHandled)
    assert TestClient(app, raise_server_exceptions=False).get("/").status_code == 500


def test_a_handler_returning_something_unserialisable_is_chained() -> None:
    def unserialisable(request: Request, exc: Exception) -> Any:
        return object()

    app = App(exception_handlers={Handled: unserialisable})

    @app.get("/")
    async def home() -> str:
        raise Handled()

    with pytest.raises(TypeError, match="returned object") as raised:
        TestClient(app).get("/")
    assert isinstance(raised.value.__cause__, Handled)


def test_a_bad_middleware_option_fails_the_lifespan_startup_with_its_own_error(
    run_app: RunApp,
) -> None:
    app = App(middleware=[Middleware(GZipMiddleware, level=3)])
    sent = run_app(
        app,
        {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
        [{"type": "lifespan.startup"}],
    )
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "level" in sent[0]["message"]


def test_a_never_awaiting_stream_lets_the_event_loop_run(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    ticks = 0

    async def count_ticks() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 1024

    app = App()
    app.get("/")(lambda: StreamingResponse(endless()))

    async def main() -> None:
        ticker = asyncio.ensure_future(count_ticks())
        sent = 0

        async def send(message: Message) -> None:  # a server whose send never waits
            nonlocal sent
            sent += 1
            # Bounded either way: gone once the other task ran, or after 100,000 chunks.
            if (sent > 100 and ticks > 1) or sent > 100_000:
                raise OSError("the client is gone")  # ASGI 2.4: send raises

        async def receive() -> Message:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        scope = http_scope("/")
        await asyncio.wait_for(app(scope, receive, send), timeout=10)
        ticker.cancel()

    asyncio.run(main())
    assert ticks > 1  # the other task ran while the stream was sending
