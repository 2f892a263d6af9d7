"""microasgi.channels on a real redis-server (started per test on a free 127.0.0.1 port):
delivery across Channels objects as across processes, the queue policies, a Redis crash and
restart, and the errors. Under CI these tests fail, never skip, when redis-server is missing."""

import logging
from typing import Any

import anyio
import pytest
import redis.asyncio as redis_asyncio

from microasgi.channels import (
    Channels,
    ChannelsError,
    Policy,
    PublishError,
    Subscription,
    redis_backend,
)
from tests.redis_server import RedisServer
from tests.test_channels import TIMEOUT, receive, run_overflow


async def subscriber_count(url: str, channel: str) -> int:
    """How many connections Redis has subscribed to ``channel``."""
    async with redis_asyncio.Redis.from_url(url) as client:
        counts = await client.pubsub_numsub(channel)
        return counts[0][1]


def test_messages_cross_between_channels_objects_as_between_processes(
    redis_server: RedisServer,
) -> None:
    async def main() -> None:
        async with (
            Channels(redis_server.url) as worker_a,
            Channels(redis_server.url) as worker_b,
            worker_a.subscribe("room") as on_a,
            worker_b.subscribe("room") as on_b,
            worker_b.subscribe("room") as also_on_b,
        ):
            assert worker_a.backend == "redis"
            # Each process holds one Redis subscription, however many local subscribers.
            assert await subscriber_count(redis_server.url, "room") == 2
            sent = ["text", b"\x00\xffbytes", {"n": [1, None]}, *range(200)]
            for message in sent:
                await worker_a.publish("room", message)
            for subscription in (on_a, on_b, also_on_b):
                assert await receive(subscription, len(sent)) == sent

    anyio.run(main)


def test_the_last_local_subscriber_leaving_unsubscribes_from_redis(
    redis_server: RedisServer,
) -> None:
    async def main() -> None:
        async with Channels(redis_server.url) as channels:
            async with channels.subscribe("room"):
                async with channels.subscribe("room"):
                    pass
                assert await subscriber_count(redis_server.url, "room") == 1
            assert await subscriber_count(redis_server.url, "room") == 0
            async with channels.subscribe("room") as room:
                await channels.publish("room", "back")
                assert await receive(room) == ["back"]

    anyio.run(main)


def test_payloads_published_by_other_redis_clients_arrive(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with (
            Channels(redis_server.url) as channels,
            channels.subscribe("room") as room,
            redis_asyncio.Redis.from_url(redis_server.url) as other,
        ):
            await other.publish("room", "plain text")
            await other.publish("room", b"\x00jnot json")  # tagged, but broken: dropped
            await other.publish("room", b"\xff")
            assert await receive(room, 2) == ["plain text", b"\xff"]

    anyio.run(main)
    assert "Dropped an undecodable message on channel 'room'" in caplog.text


@pytest.mark.parametrize(
    ("policy", "kept", "dropped"),
    [
        ("drop_oldest", [3, 4, 5], 2),
        ("drop_newest", [1, 2, 3], 2),
        ("disconnect", ["SlowConsumerError"], 4),
    ],
)
def test_queue_policies_on_redis(
    redis_server: RedisServer, policy: Policy, kept: list[Any], dropped: int
) -> None:
    subscription, received, total = run_overflow(redis_server.url, policy)
    assert received == kept
    assert subscription.dropped == total == dropped


async def publish_until_heard(channels: Channels, subscription: Subscription) -> int:
    """Publish numbered probes until one arrives (Redis may still be coming back); the
    number of probes that were lost or refused. Bounded by a deadline."""
    lost = 0
    with anyio.fail_after(10):
        for probe in range(10_000):  # pragma: no branch - the deadline ends a hopeless run
            try:
                await channels.publish("room", probe)
            except PublishError:
                lost += 1
                await anyio.sleep(0.05)
                continue
            with anyio.move_on_after(0.1):
                heard = await anext(subscription)
                while heard != probe:  # earlier probes may arrive late
                    heard = await anext(subscription)
                return lost
            lost += 1
    raise AssertionError("unreachable")  # pragma: no cover


def test_delivery_resumes_after_redis_is_killed_and_restarted(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "microasgi.channels")

    async def main() -> None:
        async with (
            Channels(redis_server.url) as publisher,
            Channels(redis_server.url) as listener,
            listener.subscribe("room") as room,
        ):
            await publisher.publish("room", "before")
            assert await receive(room) == ["before"]

            redis_server.stop(crash=True)
            with pytest.raises(PublishError, match=r"channel 'room' on Redis at redis://"):
                await publisher.publish("room", "while Redis is down")
            await anyio.sleep(0.3)  # the listener notices and retries, failing, backing off
            # A subscriber joining during the outage is registered and served once back.
            async with listener.subscribe("late") as late:
                redis_server.start()  # a fresh, empty Redis on the same port
                assert await publish_until_heard(publisher, room) >= 0
                await publisher.publish("late", "you too")
                assert await receive(late) == ["you too"]
            # The subscription survived the outage: nothing ended it.
            await publisher.publish("room", "after")
            assert await receive(room) == ["after"]

    anyio.run(main)
    assert "Lost the Redis pub/sub connection" in caplog.text
    assert "Reconnected to Redis at redis://127.0.0.1" in caplog.text


def test_the_first_publish_after_a_restart_gets_through(redis_server: RedisServer) -> None:
    """The publishing connection went stale with the old Redis; one retry on a new one."""

    async def main() -> None:
        async with Channels(redis_server.url) as channels:
            await channels.publish("room", "to the old Redis")
            redis_server.stop()
            redis_server.start()
            async with (
                redis_asyncio.Redis.from_url(redis_server.url) as spy,
                spy.pubsub() as pubsub,
            ):
                await pubsub.subscribe("room")
                confirmation = await pubsub.get_message(timeout=TIMEOUT)
                assert confirmation is not None
                assert confirmation["type"] == "subscribe"
                await channels.publish("room", "to the new one")
                message = await pubsub.get_message(timeout=TIMEOUT)
                assert message is not None
                assert message["data"] == b"\x00sto the new one"

    anyio.run(main)


def test_a_frozen_redis_is_detected_by_the_idle_ping(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer that stops answering (a cut network, a frozen host) sends no FIN: only the
    unanswered PING reveals it."""
    monkeypatch.setattr(redis_backend, "IDLE_PING", 0.1)
    monkeypatch.setattr(redis_backend, "CONNECT_TIMEOUT", 0.5)
    caplog.set_level(logging.WARNING, "microasgi.channels")

    async def main() -> None:
        async with Channels(redis_server.url) as channels, channels.subscribe("room") as room:
            await anyio.sleep(0.3)  # idle: pinged, and answered
            assert "Lost" not in caplog.text
            assert redis_server.process is not None
            redis_server.process.send_signal(19)  # SIGSTOP
            try:
                with anyio.fail_after(5):
                    while "Lost the Redis pub/sub connection" not in caplog.text:  # noqa: ASYNC110
                        await anyio.sleep(0.05)
            finally:
                redis_server.process.send_signal(18)  # SIGCONT
            assert "no answer to a PING within 0.1 s" in caplog.text
            assert await publish_until_heard(channels, room) >= 0

    anyio.run(main)


def test_an_unreachable_redis_at_startup_is_a_clear_error(redis_server: RedisServer) -> None:
    url = redis_server.url
    redis_server.stop()

    async def main() -> None:
        channels = Channels(url)
        with pytest.raises(ChannelsError, match=r"Could not connect to Redis at redis://127"):
            await channels.__aenter__()
        with pytest.raises(RuntimeError, match="not open"):
            await channels.publish("room", "x")

    anyio.run(main)


def test_a_url_that_decodes_responses_is_refused(redis_server: RedisServer) -> None:
    async def main() -> None:
        channels = Channels(redis_server.url + "?decode_responses=true")
        with pytest.raises(ValueError, match="may not set decode_responses"):
            await channels.__aenter__()

    anyio.run(main)


def test_publishing_after_close_is_refused(redis_server: RedisServer) -> None:
    async def main() -> None:
        channels = Channels(redis_server.url)
        async with channels:
            backend = channels._backend
        with pytest.raises(RuntimeError, match="closed"):
            await backend.publish("room", "x")

    anyio.run(main)
