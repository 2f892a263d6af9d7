"""The chat example under a real server: uvicorn on 127.0.0.1, two `websockets` clients."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.uvicorn_server import uvicorn_serving

RECEIVE_TIMEOUT = 3.0


@pytest.fixture
def chat_server(tmp_path: Path) -> Iterator[int]:
    """Serve examples.chat:app with uvicorn; yield its port."""
    with uvicorn_serving("examples.chat:app", tmp_path / "uvicorn.log") as port:
        yield port


async def receive_until(
    client: ClientConnection, expected: str, each_within: float = RECEIVE_TIMEOUT
) -> list[str]:
    """Messages up to and including ``expected``; each wait is bounded by ``each_within`` s."""
    heard: list[str] = []
    while expected not in heard:
        heard.append(str(await asyncio.wait_for(client.recv(), each_within)))
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
