"""The ASGI playground over a small app with HTTP, streaming, SSE and websocket routes.

Run it with ``uvicorn examples.playground:app`` and open http://127.0.0.1:8000/__asgi__;
then make requests to the app (``curl http://127.0.0.1:8000/``) and watch them arrive, step
through their events with the arrow keys, try requests from the form, and run the race.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from microasgi import (
    App,
    EventSourceResponse,
    Request,
    ServerSentEvent,
    StreamingResponse,
    WebSocket,
)

# How many chunks and events the streams send, and the pause between them.
COUNT = 3
PAUSE = 0.05


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    yield {"greeting": "Hello"}


app = App(debug=True, playground=True, lifespan=lifespan)


@app.get("/")
async def home() -> str:
    return "Hello, world!"


@app.post("/echo")
async def echo(request: Request) -> Any:
    return await request.json()


async def chunks() -> AsyncIterator[str]:
    for number in range(1, COUNT + 1):
        yield f"chunk {number}\n"
        await anyio.sleep(PAUSE)


@app.get("/stream")
async def stream() -> StreamingResponse:
    return StreamingResponse(chunks(), media_type="text/plain")


async def ticks() -> AsyncIterator[ServerSentEvent]:
    for number in range(1, COUNT + 1):
        yield ServerSentEvent(str(number), event="tick")
        await anyio.sleep(PAUSE)


@app.get("/events")
async def events() -> EventSourceResponse:
    return EventSourceResponse(ticks())


@app.websocket("/ws")
async def echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(f"echo: {text}")
