"""examples/deploy.py under uvicorn, hypercorn, granian and daphne: the same checks for each.

Where a server lacks a feature the test asserts the fallback the Deployment page documents:
daphne runs no lifespan (the state is empty), drops websocket close reasons, and offers no
denial-response extension (a refused websocket gets daphne's 403, not the app's 401).
"""

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .servers import free_port, serving

pytestmark = pytest.mark.e2e
APP = "examples.deploy:app"
TIMEOUT = 5.0


@dataclass(frozen=True)
class Server:
    """How to start one server, and what it offers (measured, and documented)."""

    name: str
    command: tuple[str, ...]  # {port} is replaced
    runs_lifespan: bool = True
    keeps_close_reason: bool = True
    denial_status: int = 401  # 403 where the app's denial response cannot be sent

    def argv(self, port: int) -> list[str]:
        return [sys.executable, "-m", *(part.format(port=port) for part in self.command)]


SERVERS = [
    Server("uvicorn", ("uvicorn", APP, "--host", "127.0.0.1", "--port", "{port}")),
    Server("hypercorn", ("hypercorn", APP, "--bind", "127.0.0.1:{port}")),
    Server(
        "granian",
        ("granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}", APP),
    ),
    Server(
        "daphne",
        ("daphne", "-b", "127.0.0.1", "-p", "{port}", APP),
        runs_lifespan=False,
        keeps_close_reason=False,
        denial_status=403,
    ),
]


@dataclass(frozen=True)
class Running:
    server: Server
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@pytest.fixture(scope="module", params=SERVERS, ids=lambda server: server.name)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    server: Server = request.param
    port = free_port()
    log = tmp_path_factory.mktemp(server.name) / "server.log"
    with serving(server.argv(port), port, log) as process:
        yield Running(server, port)
        assert process.poll() is None, log.read_text()  # still up after every check


def test_get_reports_the_server_and_the_lifespan(running: Running) -> None:
    response = httpx.get(f"{running.http}/", timeout=TIMEOUT)
    assert response.status_code == 200
    facts = response.json()
    assert facts["lifespan_ran"] is running.server.runs_lifespan
    if running.server.name == "daphne":
        assert facts["spec_version"] is None  # the app must not rely on it
    else:
        assert facts["spec_version"].startswith("2.")


def test_post_body_is_echoed(running: Running) -> None:
    body = b"x" * 100_000 + b"end"
    response = httpx.post(f"{running.http}/echo", content=body, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.content == body


def test_streamed_response_arrives_in_chunks(running: Running) -> None:
    with httpx.stream("GET", f"{running.http}/stream", timeout=TIMEOUT) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        text = b"".join(response.iter_raw()).decode()
    assert text == "chunk 0\nchunk 1\nchunk 2\n"


def test_websocket_echo_and_close(running: Running) -> None:
    with connect(f"{running.ws}/ws", open_timeout=TIMEOUT, close_timeout=TIMEOUT) as socket:
        socket.send("hello")
        assert socket.recv(timeout=TIMEOUT) == "echo: hello"
        socket.send("close")
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=TIMEOUT)
    assert socket.close_code == 4001
    expected_reason = "asked to" if running.server.keeps_close_reason else ""
    assert socket.close_reason == expected_reason


def test_refused_websocket(running: Running) -> None:
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(f"{running.ws}/private", open_timeout=TIMEOUT, close_timeout=TIMEOUT),
    ):
        pass  # pragma: no cover (the handshake fails)
    response = refused.value.response
    assert response.status_code == running.server.denial_status
    if running.server.denial_status == 401:
        assert response.body == b"log in first"
