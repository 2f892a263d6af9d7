"""The chat example under a real server: uvicorn on 127.0.0.1, two `websockets` clients."""

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 10.0
RECEIVE_TIMEOUT = 3.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_listening(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"uvicorn exited early with code {server.returncode}:\n{log.read_text()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"uvicorn did not listen on 127.0.0.1:{port} within {STARTUP_TIMEOUT} s")


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[int]:
    """Serve examples.chat:app with uvicorn; yield its port; stop it by its PID."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "examples.chat:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, server, log)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


async def receive_until(client: ClientConnection, expected: str) -> list[str]:
    """Messages up to and including ``expected``; each wait is bounded."""
    heard: list[str] = []
    while expected not in heard:
        heard.append(str(await asyncio.wait_for(client.recv(), RECEIVE_TIMEOUT)))
    return heard


async def exchange(port: int) -> tuple[list[str], list[str]]:
    """Alice and Bob join, each waiting for its own echo (then it is in the room); then talk."""
    base = f"ws://127.0.0.1:{port}/ws"
    async with (
        connect(f"{base}?name=alice", open_timeout=RECEIVE_TIMEOUT) as alice,
        connect(f"{base}?name=bob", open_timeout=RECEIVE_TIMEOUT) as bob,
    ):
        await alice.send("joined")
        await receive_until(alice, "alice: joined")
        await bob.send("joined")
        await receive_until(bob, "bob: joined")
        await alice.send("hello bob")
        bob_heard = await receive_until(bob, "alice: hello bob")
        alice_heard = await receive_until(alice, "alice: hello bob")
    return alice_heard, bob_heard


@pytest.mark.e2e
def test_two_websockets_clients_chat_through_uvicorn(chat_server: int) -> None:
    alice_heard, bob_heard = asyncio.run(exchange(chat_server))
    # Alice was in the room when Bob joined, so she heard him.
    assert alice_heard == ["bob: joined", "alice: hello bob"]
    # Alice's own join may still reach Bob late: two server tasks send to his connection.
    assert bob_heard[-1] == "alice: hello bob"
    assert set(bob_heard) <= {"alice: joined", "alice: hello bob"}
