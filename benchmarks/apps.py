"""The apps under test: one raw ASGI app (the floor), one microasgi app and one Starlette app
per scenario (the other peers are in ``peers.py``), plus the combined apps the real servers load
(``--factory benchmarks.apps:make_raw_server_app`` and its two siblings).

Each framework's app is written the way its documentation teaches, and the three answer
with the same status and body, which the harness checks before timing. Starlette is
imported inside its builders so that the smoke mode runs where it is not installed.
"""

import importlib.util
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from microasgi import (
    App,
    JSONResponse,
    PlainTextResponse,
    Request,
    Response,
    StreamingResponse,
    WebSocket,
)
from microasgi.types import ASGIApp, Receive, Scope, Send

Framework = Literal["raw", "microasgi", "starlette", "fastapi", "litestar", "falcon", "blacksheep"]
FRAMEWORKS: tuple[Framework, ...] = (
    "raw", "microasgi", "starlette", "fastapi", "litestar", "falcon", "blacksheep",
)  # fmt: skip
# The frameworks microasgi is compared with (the "fastest peer" column); raw is the floor.
PEERS: tuple[Framework, ...] = FRAMEWORKS[2:]

PLAINTEXT = b"Hello, world!"
STREAM_CHUNK = b"x" * 1024
STREAM_CHUNK_COUNT = 10
FILE_SIZE = 1024 * 1024
ROUTE_COUNTS = (10, 100, 1000)
# The pair that prices a typed query parameter against reading request.query_params.
MICROASGI_ONLY = ("query_read", "query_typed")


class AppUnavailable(Exception):
    """This framework cannot run this scenario here; the message says why."""


def starlette_installed() -> bool:
    return importlib.util.find_spec("starlette") is not None


def user_payload(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "name": f"user-{user_id}", "active": True}


def route_path(index: int) -> str:
    """The path template of the index-th parametrised route (registered in index order)."""
    return f"/r{index}/{{item_id:int}}"


def _json_bytes(content: Any) -> bytes:
    # The compact form both frameworks produce.
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


# Shared pass-through middleware: the very same class wraps every framework's app. ---------


class PassThroughMiddleware:
    """A pure ASGI middleware that does nothing but call the next app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


# Raw ASGI: the floor. Hand-written, no framework, but complete enough to be correct. ------

_TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
_JSON_HEADERS = [(b"content-type", b"application/json")]


async def _send_whole(send: Send, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_not_found(send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": _TEXT_HEADERS})
    await send({"type": "http.response.body", "body": b"Not Found"})


async def _serve_raw_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def raw_plaintext(scope: Scope, receive: Receive, send: Send) -> None:
    await _send_whole(send, PLAINTEXT, _TEXT_HEADERS)


def _parse_user_id(path: str) -> int | None:
    prefix, _, tail = path.rpartition("/")
    if prefix != "/users" or not tail.isdigit():
        return None
    return int(tail)


async def raw_json(scope: Scope, receive: Receive, send: Send) -> None:
    user_id = _parse_user_id(scope["path"])
    if user_id is None:
        await _send_not_found(send)
        return
    await _send_whole(send, _json_bytes(user_payload(user_id)), _JSON_HEADERS)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def raw_echo(scope: Scope, receive: Receive, send: Send) -> None:
    # Parse and re-encode like the frameworks do, so the floor does the same app work.
    payload = json.loads(await _read_body(receive))
    await _send_whole(send, _json_bytes(payload), _JSON_HEADERS)


def raw_routes(count: int) -> ASGIApp:
    """A hand-written matcher for /r{i}/{item_id:int}: one split and a set lookup."""
    prefixes = frozenset(f"r{index}" for index in range(count))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        _, prefix, tail = scope["path"].split("/", 2)
        if prefix not in prefixes or not tail.isdigit():
            await _send_not_found(send)
            return
        await _send_whole(send, str(int(tail)).encode(), _TEXT_HEADERS)

    return app


async def raw_streaming(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _TEXT_HEADERS})
    for _ in range(STREAM_CHUNK_COUNT):
        await send({"type": "http.response.body", "body": STREAM_CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def raw_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        message_type = message["type"]
        if message_type == "websocket.receive":
            text = message.get("text")
            if text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes")})
        elif message_type == "websocket.connect":
            await send({"type": "websocket.accept"})
        else:
            return


def raw_file(path: Path) -> ASGIApp:
    """Stat, then read and send 64 KiB chunks with plain blocking reads: the cheapest way."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        size = os.stat(path).st_size
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(size).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # Blocking reads on purpose: the floor is the cheapest correct way, not the kindest.
        with open(path, "rb") as file:  # noqa: ASYNC230
            more_body = True
            while more_body:
                chunk = file.read(65536)
                more_body = len(chunk) == 65536
                await send({"type": "http.response.body", "body": chunk, "more_body": more_body})

    return app


# The server harness names the file served at /file in this environment variable.
SERVER_FILE_VARIABLE = "MICROASGI_BENCH_FILE"


def server_file() -> Path:
    return Path(os.environ.get(SERVER_FILE_VARIABLE, os.devnull))


def make_raw_server_app() -> ASGIApp:
    """Plaintext at /, JSON at /users/{id} and the file at /file, with the lifespan answered."""
    send_file = raw_file(server_file())

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _serve_raw_lifespan(receive, send)
        elif scope["path"] == "/":
            await raw_plaintext(scope, receive, send)
        elif scope["path"] == "/file":
            await send_file(scope, receive, send)
        else:
            await raw_json(scope, receive, send)

    return app


# microasgi ------------------------------------------------------------------------------


async def _stream_chunks() -> AsyncIterator[bytes]:
    for _ in range(STREAM_CHUNK_COUNT):
        yield STREAM_CHUNK


# The second style users write as often: the endpoint takes ``request: Request``, reads
# ``request.path_params``, and returns an explicit response. Its scenarios end in this.
REQUEST_STYLE = "_request"


def microasgi_request_style_app(key: str) -> App:
    app = App()
    if key == "plaintext":

        @app.get("/")
        async def plaintext(request: Request) -> PlainTextResponse:
            return PlainTextResponse(PLAINTEXT)

    elif key == "json":

        @app.get("/users/{user_id:int}")
        async def user(request: Request) -> JSONResponse:
            return JSONResponse(user_payload(request.path_params["user_id"]))

    elif key == "streaming":

        @app.get("/stream")
        async def stream(request: Request) -> StreamingResponse:
            return StreamingResponse(_stream_chunks(), media_type="text/plain")

    elif key == "function_middleware":

        @app.get("/")
        async def home(request: Request) -> PlainTextResponse:
            return PlainTextResponse(PLAINTEXT)

        @app.middleware("http")
        async def pass_through(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            return await call_next(request)

    else:
        raise ValueError(f"No request-style app for {key!r}.")
    return app


def microasgi_app(key: str, file_path: Path) -> App:
    if key.endswith(REQUEST_STYLE):
        return microasgi_request_style_app(key.removesuffix(REQUEST_STYLE))
    app = App()
    if key in ("plaintext", "asgi_middleware", "function_middleware"):

        @app.get("/")
        async def plaintext() -> PlainTextResponse:
            return PlainTextResponse(PLAINTEXT)

        if key == "asgi_middleware":
            for _ in range(3):
                app.add_middleware(PassThroughMiddleware)
        elif key == "function_middleware":

            @app.middleware("http")
            async def pass_through(
                request: Request, call_next: Callable[[Request], Awaitable[Response]]
            ) -> Response:
                return await call_next(request)

    elif key == "json":

        @app.get("/users/{user_id:int}")
        async def user(user_id: int) -> JSONResponse:
            return JSONResponse(user_payload(user_id))

    elif key == "echo":

        @app.post("/echo")
        async def echo(request: Request) -> JSONResponse:
            return JSONResponse(await request.json())

    elif key.startswith("routes"):

        async def item(item_id: int) -> PlainTextResponse:
            return PlainTextResponse(str(item_id))

        for index in range(int(key.removeprefix("routes"))):
            app.add_route(route_path(index), item, methods=["GET"])

    elif key == "streaming":

        @app.get("/stream")
        async def stream() -> StreamingResponse:
            return StreamingResponse(_stream_chunks(), media_type="text/plain")

    elif key == "websocket":

        @app.websocket("/ws")
        async def echo_messages(websocket: WebSocket) -> None:
            await websocket.accept()
            async for text in websocket.iter_text():
                await websocket.send_text(text)

    elif key == "query_read":

        @app.get("/items")
        async def read_page(request: Request) -> PlainTextResponse:
            page = request.query_params.get("page")
            return PlainTextResponse(str(int(page) if page is not None else 1))

    elif key == "query_typed":

        @app.get("/items")
        async def typed_page(page: int = 1) -> PlainTextResponse:
            return PlainTextResponse(str(page))

    elif key == "file":
        file_response = _microasgi_file_response()

        @app.get("/file")
        async def download() -> Response:
            return file_response(file_path)

    else:
        raise ValueError(f"Unknown scenario app {key!r}.")
    return app


def _microasgi_file_response() -> Callable[[Path], Response]:
    """microasgi's FileResponse, from the package or its module; AppUnavailable if neither."""
    import microasgi

    found = getattr(microasgi, "FileResponse", None)
    if found is None:
        try:
            module = importlib.import_module("microasgi.fileresponses")
        except ImportError:
            raise AppUnavailable("microasgi has no FileResponse yet") from None
        found = getattr(module, "FileResponse", None)
    if found is None or not (isinstance(found, type) and issubclass(found, Response)):
        raise AppUnavailable("microasgi has no FileResponse yet")
    response_class: type[Response] = found

    def build(path: Path) -> Response:
        return response_class(path)

    return build


def make_microasgi_server_app() -> App:
    app = App()

    @app.get("/")
    async def plaintext() -> PlainTextResponse:
        return PlainTextResponse(PLAINTEXT)

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> JSONResponse:
        return JSONResponse(user_payload(user_id))

    file_response = _microasgi_file_response()
    path = server_file()

    @app.get("/file")
    async def download() -> Response:
        return file_response(path)

    return app


# Starlette ------------------------------------------------------------------------------


def starlette_app(key: str, file_path: Path) -> ASGIApp:
    if not starlette_installed():
        raise AppUnavailable("starlette is not installed")
    key = key.removesuffix(REQUEST_STYLE)  # Starlette endpoints always take the request
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import FileResponse as StarletteFileResponse
    from starlette.responses import JSONResponse as StarletteJSONResponse
    from starlette.responses import PlainTextResponse as StarlettePlainTextResponse
    from starlette.responses import Response as StarletteResponse
    from starlette.responses import StreamingResponse as StarletteStreamingResponse
    from starlette.routing import BaseRoute, Route, WebSocketRoute
    from starlette.websockets import WebSocket as StarletteWebSocket

    async def plaintext(request: StarletteRequest) -> StarlettePlainTextResponse:
        return StarlettePlainTextResponse(PLAINTEXT)

    async def user(request: StarletteRequest) -> StarletteJSONResponse:
        return StarletteJSONResponse(user_payload(request.path_params["user_id"]))

    async def echo(request: StarletteRequest) -> StarletteJSONResponse:
        return StarletteJSONResponse(await request.json())

    async def item(request: StarletteRequest) -> StarlettePlainTextResponse:
        return StarlettePlainTextResponse(str(request.path_params["item_id"]))

    async def stream(request: StarletteRequest) -> StarletteStreamingResponse:
        return StarletteStreamingResponse(_stream_chunks(), media_type="text/plain")

    async def echo_messages(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    async def download(request: StarletteRequest) -> StarletteFileResponse:
        return StarletteFileResponse(file_path)

    async def pass_through(
        request: StarletteRequest, call_next: RequestResponseEndpoint
    ) -> StarletteResponse:
        return await call_next(request)

    routes: list[BaseRoute]
    middleware: list[Middleware] = []
    if key in ("plaintext", "asgi_middleware", "function_middleware"):
        routes = [Route("/", plaintext)]
        if key == "asgi_middleware":
            middleware = [Middleware(PassThroughMiddleware) for _ in range(3)]
        elif key == "function_middleware":
            middleware = [Middleware(BaseHTTPMiddleware, dispatch=pass_through)]
    elif key == "json":
        routes = [Route("/users/{user_id:int}", user)]
    elif key == "echo":
        routes = [Route("/echo", echo, methods=["POST"])]
    elif key.startswith("routes"):
        count = int(key.removeprefix("routes"))
        routes = [Route(route_path(index), item) for index in range(count)]
    elif key == "streaming":
        routes = [Route("/stream", stream)]
    elif key == "websocket":
        routes = [WebSocketRoute("/ws", echo_messages)]
    elif key == "file":
        routes = [Route("/file", download)]
    else:
        raise ValueError(f"Unknown scenario app {key!r}.")
    return Starlette(routes=routes, middleware=middleware)


def make_starlette_server_app() -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import FileResponse as StarletteFileResponse
    from starlette.responses import JSONResponse as StarletteJSONResponse
    from starlette.responses import PlainTextResponse as StarlettePlainTextResponse
    from starlette.routing import Route

    async def plaintext(request: StarletteRequest) -> StarlettePlainTextResponse:
        return StarlettePlainTextResponse(PLAINTEXT)

    async def user(request: StarletteRequest) -> StarletteJSONResponse:
        return StarletteJSONResponse(user_payload(request.path_params["user_id"]))

    path = server_file()

    async def download(request: StarletteRequest) -> StarletteFileResponse:
        return StarletteFileResponse(path)

    routes = [Route("/", plaintext), Route("/users/{user_id:int}", user), Route("/file", download)]
    return Starlette(routes=routes)


# The harness's entry point into this module -----------------------------------------------


def build_app(framework: Framework, key: str, file_path: Path) -> ASGIApp:
    """The app of ``framework`` for the scenario app ``key``.

    Raises:
        AppUnavailable: the framework (or the feature) is missing here.
    """
    if framework == "microasgi":
        return microasgi_app(key, file_path)
    if key in MICROASGI_ONLY:
        raise AppUnavailable("typed parameters are microasgi's own scenario pair")
    if framework == "starlette":
        return starlette_app(key, file_path)
    if framework != "raw":
        from benchmarks.peers import build_peer_app  # imports this module

        return build_peer_app(framework, key, file_path)
    raw: dict[str, ASGIApp] = {
        "plaintext": raw_plaintext,
        "json": raw_json,
        "echo": raw_echo,
        "streaming": raw_streaming,
        "websocket": raw_websocket,
        "asgi_middleware": PassThroughMiddleware(
            PassThroughMiddleware(PassThroughMiddleware(raw_plaintext))
        ),
        # The floor of a function middleware is one plain pass-through layer.
        "function_middleware": PassThroughMiddleware(raw_plaintext),
    }
    key = key.removesuffix(REQUEST_STYLE)  # the floor is the same for both styles
    if key in raw:
        return raw[key]
    if key.startswith("routes"):
        return raw_routes(int(key.removeprefix("routes")))
    if key == "file":
        return raw_file(file_path)
    raise ValueError(f"Unknown scenario app {key!r}.")
