"""The peer frameworks measured beside microasgi and Starlette: FastAPI, Litestar, Falcon
(ASGI) and BlackSheep, each app written the way the framework's documentation teaches.

Every builder imports its framework inside, so the smoke mode runs where a peer is missing
(``AppUnavailable`` says why and the table shows "skipped"). A scenario a framework has no
documented way to write raises ``AppUnavailable`` too, with the reason, rather than
measuring something it would not teach. The request-style scenarios (``*_request``) are the
same apps: these frameworks' endpoints have one style for both.
"""

import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from benchmarks.apps import (
    PLAINTEXT,
    REQUEST_STYLE,
    STREAM_CHUNK,
    STREAM_CHUNK_COUNT,
    AppUnavailable,
    PassThroughMiddleware,
    route_path,
    user_payload,
)
from microasgi.types import ASGIApp

PEERS = ("fastapi", "litestar", "falcon", "blacksheep")


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise AppUnavailable(f"{module} is not installed")


async def _stream_chunks() -> AsyncIterator[bytes]:
    for _ in range(STREAM_CHUNK_COUNT):
        yield STREAM_CHUNK


def _wrap_three(app: ASGIApp) -> ASGIApp:
    return PassThroughMiddleware(PassThroughMiddleware(PassThroughMiddleware(app)))


# FastAPI --------------------------------------------------------------------------------


def fastapi_app(key: str, file_path: Path) -> ASGIApp:
    _require("fastapi")
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
    from starlette.responses import Response

    app = FastAPI()
    if key in ("plaintext", "asgi_middleware", "function_middleware"):

        @app.get("/", response_class=PlainTextResponse)
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

        @app.get("/users/{user_id}")
        async def user(user_id: int) -> dict[str, Any]:
            return user_payload(user_id)

    elif key == "echo":

        @app.post("/echo")
        async def echo(payload: dict[str, Any]) -> dict[str, Any]:
            return payload

    elif key.startswith("routes"):

        async def item(item_id: int) -> PlainTextResponse:
            return PlainTextResponse(str(item_id))

        for index in range(int(key.removeprefix("routes"))):
            # FastAPI declares the type on the parameter, not in the path.
            app.add_api_route(f"/r{index}/{{item_id}}", item, methods=["GET"])

    elif key == "streaming":

        @app.get("/stream")
        async def stream() -> StreamingResponse:
            return StreamingResponse(_stream_chunks(), media_type="text/plain")

    elif key == "websocket":
        from fastapi import WebSocket, WebSocketDisconnect

        @app.websocket("/ws")
        async def echo_messages(websocket: WebSocket) -> None:
            await websocket.accept()
            try:
                while True:
                    await websocket.send_text(await websocket.receive_text())
            except WebSocketDisconnect:
                return

    elif key == "file":

        @app.get("/file")
        async def download() -> FileResponse:
            return FileResponse(file_path)

    else:
        raise ValueError(f"Unknown scenario app {key!r}.")
    return app


# Litestar -------------------------------------------------------------------------------


def litestar_app(key: str, file_path: Path) -> ASGIApp:
    _require("litestar")
    from litestar import Litestar, MediaType, get, post, websocket
    from litestar.connection import WebSocket
    from litestar.exceptions import WebSocketDisconnect
    from litestar.handlers import BaseRouteHandler
    from litestar.response import File

    handlers: list[BaseRouteHandler] = []
    middleware: list[Any] = []
    if key in ("plaintext", "asgi_middleware"):

        @get("/", media_type=MediaType.TEXT)
        async def plaintext() -> bytes:
            return PLAINTEXT

        handlers = [plaintext]
        if key == "asgi_middleware":
            middleware = [PassThroughMiddleware] * 3
    elif key == "function_middleware":
        raise AppUnavailable("Litestar middleware is ASGI-level, not request/call_next")
    elif key == "json":

        @get("/users/{user_id:int}")
        async def user(user_id: int) -> dict[str, Any]:
            return user_payload(user_id)

        handlers = [user]
    elif key == "echo":

        @post("/echo", status_code=200)
        async def echo(data: dict[str, Any]) -> dict[str, Any]:
            return data

        handlers = [echo]
    elif key.startswith("routes"):

        async def item(item_id: int) -> str:
            return str(item_id)

        handlers = [
            get(route_path(index), media_type=MediaType.TEXT, name=f"item{index}")(item)
            for index in range(int(key.removeprefix("routes")))
        ]
    elif key == "streaming":
        # Its Stream ends only once receive() says http.disconnect (uvicorn says so after the
        # response); this harness's client stays, like one that keeps the connection alive.
        raise AppUnavailable("Litestar's Stream waits for http.disconnect, which never comes here")
    elif key == "websocket":

        @websocket("/ws")
        async def echo_messages(socket: WebSocket[Any, Any, Any]) -> None:
            await socket.accept()
            try:
                while True:
                    await socket.send_text(await socket.receive_text())
            except WebSocketDisconnect:
                return

        handlers = [echo_messages]
    elif key == "file":

        @get("/file")
        async def download() -> File:
            return File(path=file_path)

        handlers = [download]
    else:
        raise ValueError(f"Unknown scenario app {key!r}.")
    return cast(ASGIApp, Litestar(route_handlers=handlers, middleware=middleware))


# Falcon (ASGI) --------------------------------------------------------------------------


def falcon_app(key: str, file_path: Path) -> ASGIApp:
    _require("falcon")
    import falcon
    import falcon.asgi

    class Text:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.data = PLAINTEXT

    class PassThrough:
        """Falcon's documented middleware: a component with process_* methods."""

        async def process_request(
            self, req: falcon.asgi.Request, resp: falcon.asgi.Response
        ) -> None:
            return None

    app = falcon.asgi.App(
        middleware=[PassThrough()] if key == "function_middleware" else None,
    )
    if key in ("plaintext", "asgi_middleware", "function_middleware"):
        app.add_route("/", Text())
        if key == "asgi_middleware":
            return _wrap_three(cast(ASGIApp, app))
    elif key == "json":

        class User:
            async def on_get(
                self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int
            ) -> None:
                resp.media = user_payload(user_id)

        app.add_route("/users/{user_id:int}", User())
    elif key == "echo":

        class Echo:
            async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
                resp.media = await req.get_media()

        app.add_route("/echo", Echo())
    elif key.startswith("routes"):

        class Item:
            async def on_get(
                self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item_id: int
            ) -> None:
                resp.content_type = falcon.MEDIA_TEXT
                resp.text = str(item_id)

        resource = Item()
        for index in range(int(key.removeprefix("routes"))):
            app.add_route(route_path(index), resource)
    elif key == "streaming":

        class Stream:
            async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
                resp.content_type = falcon.MEDIA_TEXT
                resp.stream = _stream_chunks()

        app.add_route("/stream", Stream())
    elif key == "websocket":
        # With its default read-ahead queue, Falcon drops the queued messages once the
        # disconnect arrives, and this harness's client sends everything, then leaves at once.
        app.ws_options.max_receive_queue = 0

        class EchoSocket:
            async def on_websocket(
                self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket
            ) -> None:
                await ws.accept()
                try:
                    while True:
                        await ws.send_text(await ws.receive_text())
                except falcon.WebSocketDisconnected:
                    return

        app.add_route("/ws", EchoSocket())
    elif key == "file":
        raise AppUnavailable("Falcon's ASGI docs serve a file through aiofiles, not installed")
    else:
        raise ValueError(f"Unknown scenario app {key!r}.")
    return cast(ASGIApp, app)  # its own typing of the ASGI callables


# BlackSheep -----------------------------------------------------------------------------


def blacksheep_app(key: str, file_path: Path) -> ASGIApp:
    _require("blacksheep")
    from blacksheep import Application, Request, Response, Router, WebSocket, json, text
    from blacksheep.contents import StreamedContent
    from blacksheep.server.responses import file
    from blacksheep.server.websocket import WebSocketDisconnectError

    app = Application(router=Router())  # not the shared default router
    get, post = app.router.get, app.router.post
    if key in ("plaintext", "asgi_middleware", "function_middleware"):

        @get("/")
        async def plaintext() -> Response:
            return text(PLAINTEXT.decode())

        if key == "function_middleware":

            async def pass_through(
                request: Request, handler: Callable[[Request], Awaitable[Response]]
            ) -> Response:
                return await handler(request)

            app.middlewares.append(pass_through)
    elif key == "json":

        @get("/users/{user_id}")
        async def user(user_id: int) -> Response:
            return json(user_payload(user_id))

    elif key == "echo":

        @post("/echo")
        async def echo(request: Request) -> Response:
            return json(await request.json())

    elif key.startswith("routes"):

        async def item(item_id: int) -> Response:
            return text(str(item_id))

        for index in range(int(key.removeprefix("routes"))):
            app.router.add_get(f"/r{index}/{{item_id}}", item)
    elif key == "streaming":

        @get("/stream")
        async def stream() -> Response:
            return Response(200, content=StreamedContent(b"text/plain", _stream_chunks))

    elif key == "websocket":

        @app.router.ws("/ws")
        async def echo_messages(websocket: WebSocket) -> None:
            await websocket.accept()
            try:
                while True:
                    await websocket.send_text(await websocket.receive_text())
            except WebSocketDisconnectError:
                return

    elif key == "file":

        @get("/file")
        async def download() -> Response:
            return file(str(file_path), "application/octet-stream")

    else:
        raise ValueError(f"Unknown scenario app {key!r}.")
    asgi_app = cast(ASGIApp, app)  # its own typing of the ASGI callables
    return _wrap_three(asgi_app) if key == "asgi_middleware" else asgi_app


BUILDERS: dict[str, Callable[[str, Path], ASGIApp]] = {
    "fastapi": fastapi_app,
    "litestar": litestar_app,
    "falcon": falcon_app,
    "blacksheep": blacksheep_app,
}


def build_peer_app(framework: str, key: str, file_path: Path) -> ASGIApp:
    """The peer ``framework``'s app for scenario app ``key`` (AppUnavailable: cannot here)."""
    return BUILDERS[framework](key.removesuffix(REQUEST_STYLE), file_path)
