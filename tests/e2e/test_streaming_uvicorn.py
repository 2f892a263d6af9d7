"""Streaming and Server-Sent Events under a real server: uvicorn on 127.0.0.1, httpx clients.

Each endpoint streams forever and writes a marker file in its generator's ``finally``; the
tests read a few chunks incrementally, hang up, and wait (bounded) for the marker: proof
that the client leaving stopped the stream and ran its cleanup. uvicorn imports the app
below from this module (``tests.e2e.test_streaming_uvicorn:app``).
"""

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from microasgi import App, StreamingResponse
from microasgi.sse import EventSourceResponse, ServerSentEvent
from tests.e2e.uvicorn_server import uvicorn_serving

CLEANUP_TIMEOUT = 5.0
MARKER_DIR_VARIABLE = "MICROASGI_E2E_MARKERS"

app = App()


def mark_done(name: str) -> None:
    (Path(os.environ[MARKER_DIR_VARIABLE]) / name).write_text("done")


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        try:
            number = 0
            while True:
                number += 1
                yield b"chunk %d\n" % number
                await anyio.sleep(0.02)
        finally:
            mark_done("stream")

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/sync-stream")
async def sync_stream() -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        try:
            while True:
                yield b"line\n"
                time.sleep(0.02)
        finally:
            mark_done("sync-stream")

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/events")
async def events() -> EventSourceResponse:
    async def ticks() -> AsyncIterator[ServerSentEvent]:
        try:
            number = 0
            while True:
                number += 1
                yield ServerSentEvent(data=f"tick {number}", id=str(number))
                await anyio.sleep(0.02)
        finally:
            mark_done("events")

    return EventSourceResponse(ticks(), ping=1.0)


def wait_for_marker(path: Path) -> bool:
    deadline = time.monotonic() + CLEANUP_TIMEOUT
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def markers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def base_url(markers: Path) -> Iterator[str]:
    """Serve this module's app with uvicorn; yield its URL."""
    with uvicorn_serving(
        "tests.e2e.test_streaming_uvicorn:app",
        markers / "uvicorn.log",
        {MARKER_DIR_VARIABLE: str(markers)},
    ) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.e2e
@pytest.mark.parametrize("path", ["/stream", "/sync-stream"])
def test_streaming_response_stops_and_cleans_up_when_the_client_leaves(
    base_url: str, markers: Path, path: str
) -> None:
    with (
        httpx.Client(base_url=base_url, timeout=5.0) as client,
        client.stream("GET", path) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        first = [next(lines) for _ in range(3)]
    assert first[0] in ("chunk 1", "line")
    assert wait_for_marker(markers / path.strip("/"))


@pytest.mark.e2e
def test_event_stream_is_read_incrementally_and_cleans_up_when_the_client_leaves(
    base_url: str, markers: Path
) -> None:
    with (
        httpx.Client(base_url=base_url, timeout=5.0) as client,
        client.stream("GET", "/events") as response,
    ):
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        lines = response.iter_lines()
        received = [next(lines) for _ in range(6)]
    assert received == ["id: 1", "data: tick 1", "", "id: 2", "data: tick 2", ""]
    assert wait_for_marker(markers / "events")
