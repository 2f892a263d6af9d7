"""Served by tests/e2e/test_vanished_client_uvicorn.py: responses whose sending never waits.

``MARKERS`` (an environment variable) names a folder where each stream writes a file once
it has stopped, so the test can tell that the worker noticed the client was gone.
"""

import os
from collections.abc import AsyncIterator
from pathlib import Path

from microasgi import App, StreamingResponse, WebSocket, WebSocketDisconnect

MARKERS = Path(os.environ.get("MARKERS", "."))
CHUNK = b"x" * 16384

app = App()


@app.get("/ping")
async def ping() -> str:
    return "pong"


async def endless() -> AsyncIterator[bytes]:
    try:
        while True:
            yield CHUNK  # never awaits anything
    finally:
        (MARKERS / "stream-stopped").touch()


@app.get("/endless")
async def endless_stream() -> StreamingResponse:
    return StreamingResponse(endless(), media_type="application/octet-stream")


@app.websocket("/ws")
async def endless_messages(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_bytes(CHUNK)
    except (WebSocketDisconnect, OSError, RuntimeError):
        pass
    finally:
        (MARKERS / "websocket-stopped").touch()
