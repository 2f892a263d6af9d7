"""Differential tests: the copies kept for speed do exactly what the code they copy does.

- Sending a whole Response: ``Response.__call__``, inlined in ``Route._serve`` and in
  ``FunctionMiddleware.__call__``.
- Serving a route: ``Route._serve`` (the router's hot path) and ``Route.resolve`` (the
  ``call_next`` shortcut), each with ``_enter`` inlined; and ``call_next`` with the
  shortcut on and off.
- The route table: ``RouteTable.first`` (the hot path's lookup) and the first candidate of
  ``RouteTable.match``; what ``Router.dispatch`` serves and what ``Router.match`` picks.
"""

import functools
import inspect
import itertools
import random
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from microasgi import (
    App,
    BackgroundTask,
    HTMLResponse,
    HTTPException,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Request,
    Response,
)
from microasgi._routetable import RouteTable, compile_path
from microasgi.middleware.functional import CallNext, FunctionMiddleware
from microasgi.routing import Route, Router
from microasgi.types import ASGIApp, Message, Scope
from tests.conftest import HTTPScope


def _with_cookie() -> Response:
    response = PlainTextResponse("cookie")
    response.set_cookie("sid", "abc", httponly=True)
    return response


def _with_background(log: list[str]) -> Response:
    return PlainTextResponse("later", background=BackgroundTask(log.append, "ran"))


RESPONSES: dict[str, Callable[[list[str]], Response]] = {
    "bytes": lambda log: Response(b"raw bytes"),
    "empty": lambda log: Response(),
    "text": lambda log: PlainTextResponse("hello"),
    "html_404": lambda log: HTMLResponse("<p>gone</p>", status_code=404),
    "json": lambda log: JSONResponse({"a": [1, 2, None]}),
    "headers": lambda log: Response(b"x", headers={"X-One": "1", "Content-Type": "a/b"}),
    "no_content": lambda log: Response(status_code=204),
    "not_modified": lambda log: Response(status_code=304, headers={"ETag": '"1"'}),
    "redirect": lambda log: RedirectResponse("/elsewhere?q=1"),
    "cookie": lambda log: _with_cookie(),
    "background": _with_background,
    "latin1": lambda log: PlainTextResponse("é", media_type="text/plain; charset=latin-1"),
}


def _send_all(app: ASGIApp, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        with anyio.fail_after(5):
            await app(scope, receive, send)

    anyio.run(main)
    return sent


async def _pass_through(request: Request, call_next: CallNext) -> Response:
    return await call_next(request)


def _app(build: Callable[[], Response], middleware: bool) -> App:
    app = App()
    app.get("/")(build)
    app.post("/")(build)
    if middleware:
        app.middleware("http")(_pass_through)
    return app


@pytest.mark.parametrize(
    ("name", "method"), list(itertools.product(RESPONSES, ["GET", "HEAD", "POST"]))
)
@pytest.mark.parametrize("resolution", [True, False])
def test_inlined_response_sends_equal_response_call(
    http_scope: HTTPScope,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    method: str,
    resolution: bool,
) -> None:
    monkeypatch.setattr(FunctionMiddleware, "use_resolution", resolution)
    logs: dict[str, list[str]] = {}
    results: dict[str, list[Message]] = {}
    for way in ("Response.__call__", "Route._serve", "FunctionMiddleware"):
        log = logs[way] = []
        if way == "Response.__call__":
            results[way] = _send_all(RESPONSES[name](log), http_scope("/", method))
        else:
            app = _app(functools.partial(RESPONSES[name], log), way == "FunctionMiddleware")
            results[way] = _send_all(app, http_scope("/", method))
    assert results["Route._serve"] == results["Response.__call__"]
    assert results["FunctionMiddleware"] == results["Response.__call__"]
    assert logs["Route._serve"] == logs["Response.__call__"] == logs["FunctionMiddleware"]


class Handled(Exception):
    pass


def _endpoint(kind: str) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Any:
        if kind == "handled":
            raise Handled()
        if kind == "http":
            raise HTTPException(409, "taken", headers={"X-Why": "dup"})
        if kind == "unhandled":
            raise LookupError("nobody handles this")
        if kind == "dict":
            return {"path": request.url.path, "params": request.path_params}
        if kind == "str":
            return "text"
        if kind == "bytes":
            return b"\x00\x01"
        return None  # a TypeError: not a response

    return endpoint


@pytest.mark.parametrize("kind", ["handled", "http", "unhandled", "dict", "str", "bytes", "none"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_resolve_serves_as_serve_does(http_scope: HTTPScope, kind: str, method: str) -> None:
    outcomes = []
    for middleware in (False, True):
        app = App(exception_handlers={Handled: lambda request, exc: PlainTextResponse("h", 418)})
        app.add_route("/items/{item_id:int}", _endpoint(kind), methods=["GET"])
        if middleware:
            app.middleware("http")(_pass_through)  # call_next resolves: Route.resolve
        sent: list[Message] = []
        error: str | None = None
        try:
            sent = _send_all(app, http_scope("/items/7", method))
        except Exception as exc:
            error = repr(exc)
        outcomes.append((sent, error))
    assert outcomes[0] == outcomes[1]


SEGMENTS = ["a", "b", "users", "7", "x1", "files", "deep"]
PATTERNS = ["a", "b", "users", "{id:int}", "{name}", "{rest:path}", "files"]


def _random_template(rng: random.Random) -> str:
    parts = [rng.choice(PATTERNS) for _ in range(rng.randint(1, 4))]
    if "{rest:path}" in parts:  # a path parameter only as the last segment
        parts = parts[: parts.index("{rest:path}") + 1]
    names: dict[str, int] = {}
    unique = []
    for part in parts:  # parameter names must be unique within a path
        if part.startswith("{"):
            name, _, convertor = part[1:-1].partition(":")
            names[name] = names.get(name, 0) + 1
            part = f"{{{name}{names[name]}{':' + convertor if convertor else ''}}}"
        unique.append(part)
    return "/" + "/".join(unique)


@pytest.mark.parametrize("seed", range(40))
def test_first_is_the_first_candidate_of_match(seed: int) -> None:
    rng = random.Random(seed)
    table = RouteTable()
    for index in range(rng.randint(1, 12)):
        template = _random_template(rng)
        table.add(compile_path(template), f"{index}:{template}")
    for _ in range(60):
        path = "/" + "/".join(rng.choice(SEGMENTS) for _ in range(rng.randint(1, 5)))
        if path in table.static:
            continue  # first() is only asked for paths without a static entry
        expected = next(table.match(path), None)
        assert table.first(path) == expected, path


def _record_handles(router: Router) -> list[tuple[object, dict[str, object], object]]:
    """Make every route's handle record what it was given instead of serving."""
    picked: list[tuple[object, dict[str, object], object]] = []
    for route in router.routes:

        def record(
            scope: Scope, receive: object, send: object, params: Any, rest: Any, route: Any = route
        ) -> Any:
            picked.append((route, params, rest))
            return None

        route.handle = record
    return picked


@pytest.mark.parametrize("seed", range(20))
def test_dispatch_picks_what_match_picks(http_scope: HTTPScope, seed: int) -> None:
    rng = random.Random(seed)
    router = Router()
    methods = ["GET", "POST", "PUT"]
    for index in range(rng.randint(1, 10)):
        template = _random_template(rng).replace("{rest", "{tail")
        try:
            router.add(Route(template, _no_op, methods=[rng.choice(methods)], name=str(index)))
        except ValueError:
            continue  # a clash with an earlier random route
    picked = _record_handles(router)
    for _ in range(40):
        path = "/" + "/".join(rng.choice(SEGMENTS) for _ in range(rng.randint(1, 4)))
        scope = http_scope(path, rng.choice(methods))
        expected = router.match(dict(scope))
        picked.clear()
        served = router.dispatch(scope, _never, _never)
        if inspect.iscoroutine(served):
            served.close()  # one of the router's own answers: only its choice matters
        if picked:  # a route (not one of the router's own answers) served it
            assert picked == [expected], path
        else:
            assert expected[0] not in router.routes, path


async def _no_op() -> str:
    return ""


async def _never(*args: Any) -> Any:
    raise AssertionError("nothing is sent while only matching")
