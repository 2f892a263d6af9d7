"""The chat example across two uvicorn processes sharing a real redis-server: a message
sent to one server reaches the `websockets` clients of the other."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.e2e.test_chat_uvicorn import RECEIVE_TIMEOUT, receive_until
from tests.e2e.uvicorn_server import uvicorn_serving
from tests.redis_server import RedisServer


@pytest.fixture
def two_chat_servers(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """Two separately started uvicorn processes serving examples.chat:app on Redis."""
    environment = {"CHANNELS_URL": redis_server.url}
    with (
        uvicorn_serving("examples.chat:app", tmp_path / "a.log", environment) as port_a,
        uvicorn_serving("examples.chat:app", tmp_path / "b.log", environment) as port_b,
    ):
        yield port_a, port_b


async def chat_across(port_a: int, port_b: int) -> dict[str, list[str]]:
    """Alice and Carol on server A, Bob on server B; each joins (waiting for its own echo,
    which has been through Redis), then Alice and Bob talk."""
    heard: dict[str, list[str]] = {}
    async with (
        connect(f"ws://127.0.0.1:{port_a}/ws?name=alice", open_timeout=RECEIVE_TIMEOUT) as alice,
        connect(f"ws://127.0.0.1:{port_a}/ws?name=carol", open_timeout=RECEIVE_TIMEOUT) as carol,
        connect(f"ws://127.0.0.1:{port_b}/ws?name=bob", open_timeout=RECEIVE_TIMEOUT) as bob,
    ):
        clients = {"alice": alice, "carol": carol, "bob": bob}
        for name, client in clients.items():
            await client.send("joined")
            await receive_until(client, f"{name}: joined")
        await alice.send("hello from A")
        await bob.send("hello from B")
        for name, client in clients.items():
            heard[name] = await receive_until(client, "bob: hello from B")
            if "alice: hello from A" not in heard[name]:
                heard[name] += await receive_until(client, "alice: hello from A")
    return heard


@pytest.mark.e2e
def test_a_message_sent_to_one_server_reaches_the_clients_of_the_other(
    two_chat_servers: tuple[int, int],
) -> None:
    heard = asyncio.run(chat_across(*two_chat_servers))
    # Bob, alone on server B, can hear Alice only through Redis; Alice and Carol hear him so.
    for name in ("alice", "carol", "bob"):
        assert {"alice: hello from A", "bob: hello from B"} <= set(heard[name]), name


async def bob_hears_alice(port_a: int, port_b: int) -> bool:
    async with (
        connect(f"ws://127.0.0.1:{port_a}/ws?name=alice", open_timeout=RECEIVE_TIMEOUT) as alice,
        connect(f"ws://127.0.0.1:{port_b}/ws?name=bob", open_timeout=RECEIVE_TIMEOUT) as bob,
    ):
        await bob.send("joined")
        await receive_until(bob, "bob: joined")
        await alice.send("hello from A")
        await receive_until(alice, "alice: hello from A")
        try:
            await receive_until(bob, "alice: hello from A", each_within=0.5)
        except TimeoutError:
            return False
        return True


@pytest.mark.e2e
def test_without_redis_each_server_is_a_separate_room(tmp_path: Path) -> None:
    """What channels fix: in memory, each process has its own room."""
    environment = {"CHANNELS_URL": "memory://"}
    with (
        uvicorn_serving("examples.chat:app", tmp_path / "a.log", environment) as port_a,
        uvicorn_serving("examples.chat:app", tmp_path / "b.log", environment) as port_b,
    ):
        assert not asyncio.run(bob_hears_alice(port_a, port_b))


async def everyone_hears_the_first(port: int, count: int) -> list[bool]:
    """``count`` clients connect; the first says hello; who heard it?"""
    base = f"ws://127.0.0.1:{port}/ws"
    clients = [
        await connect(f"{base}?name=c{n}", open_timeout=RECEIVE_TIMEOUT) for n in range(count)
    ]
    try:
        for number, client in enumerate(clients):
            await client.send("joined")
            await receive_until(client, f"c{number}: joined")
        await clients[0].send("hello all")
        heard = []
        for client in clients:
            try:
                await receive_until(client, "c0: hello all", each_within=1.0)
                heard.append(True)
            except TimeoutError:
                heard.append(False)
        return heard
    finally:
        for client in clients:
            await client.close()


@pytest.mark.e2e
def test_one_room_across_the_workers_of_one_uvicorn(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """``uvicorn --workers 2``: the kernel spreads the 8 connections over both workers
    (unevenly, as it likes); with Redis they all share one room."""
    with uvicorn_serving(
        "examples.chat:app",
        tmp_path / "uvicorn.log",
        {"CHANNELS_URL": redis_server.url},
        ["--workers", "2"],
    ) as port:
        assert asyncio.run(everyone_hears_the_first(port, 8)) == [True] * 8
