"""A client that reads a while and then resets the connection, under a real uvicorn.

A stream whose source never awaits, sent by a server whose send() never waits, would hold
the event loop forever: uvicorn could not learn that the client left, and the worker
would answer nobody else. The responses let the loop run every few messages, so the
stream stops and the worker keeps serving.
"""

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.uvicorn_server import uvicorn_serving

READ_BYTES = 1024 * 1024
DEADLINE = 10.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    folder = tmp_path_factory.mktemp("vanishing")
    markers = folder / "markers"
    markers.mkdir()
    environment = {"MARKERS": str(markers)}
    with uvicorn_serving(
        "tests.e2e.vanishing_app:app", folder / "uvicorn.log", environment
    ) as port:
        yield port, markers


def _reset(connection: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP reset, as from a vanished client."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _read_then_reset(port: int, request: bytes) -> None:
    connection = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    connection.sendall(request)
    received = 0
    deadline = time.monotonic() + DEADLINE
    while received < READ_BYTES and time.monotonic() < deadline:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += len(chunk)
    _reset(connection)
    assert received >= READ_BYTES


def _wait_for(marker: Path) -> bool:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if marker.exists():
            return True
        time.sleep(0.05)
    return False


def _still_serving(port: int) -> None:
    response = httpx.get(f"http://127.0.0.1:{port}/ping", timeout=5.0)
    assert response.text == "pong"


@pytest.mark.e2e
def test_a_never_awaiting_stream_stops_when_the_client_resets(served: tuple[int, Path]) -> None:
    port, markers = served
    _read_then_reset(port, b"GET /endless HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert _wait_for(markers / "stream-stopped")
    _still_serving(port)


@pytest.mark.e2e
def test_a_websocket_send_loop_stops_when_the_client_resets(served: tuple[int, Path]) -> None:
    port, markers = served
    handshake = (
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    _read_then_reset(port, handshake)
    assert _wait_for(markers / "websocket-stopped")
    _still_serving(port)
