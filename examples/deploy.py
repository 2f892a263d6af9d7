"""The app the Deployment page serves, and the end-to-end suite runs under four servers.

It exercises what differs between ASGI servers: the spec version and extensions a server
reports, the lifespan (and its state), a request body, a streamed response, a websocket
echo, a close reason, and a refused websocket::

    uvicorn examples.deploy:app
    hypercorn examples.deploy:app
    granian --interface asgi examples.deploy:app
    daphne examples.deploy:app
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from microasgi import App, PlainTextResponse, Request, StreamingResponse, WebSocket


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    # A server without the lifespan protocol (daphne) never runs this: no "started" key.
    yield {"started": True}


app = App(lifespan=lifespan)


@app.get("/")
async def server_facts(request: Request) -> dict[str, Any]:
    """What this server told the app: spec version, extensions, whether lifespan ran."""
    return {
        "spec_version": request.scope.get("asgi", {}).get("spec_version"),
        "extensions": sorted(request.scope.get("extensions") or {}),
        "lifespan_ran": bool(getattr(request.state, "started", False)),
    }


@app.post("/echo")
async def echo(request: Request) -> bytes:
    return await request.body()


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for number in range(3):
            yield f"chunk {number}\n".encode()
            await anyio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


@app.websocket("/ws")
async def echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        if text == "close":
            await websocket.close(code=4001, reason="asked to")
            return
        await websocket.send_text(f"echo: {text}")


@app.websocket("/private")
async def private(websocket: WebSocket) -> None:
    # 401 where the server offers websocket.http.response; elsewhere a close, answered 403.
    await websocket.send_denial_response(PlainTextResponse("log in first", status_code=401))
