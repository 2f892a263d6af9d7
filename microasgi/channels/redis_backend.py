"""The Redis backend: PUBLISH on one connection, SUBSCRIBE on one pub/sub connection.

Every process that uses the same Redis hears every other one's messages. A background task
reads the pub/sub connection and hands messages to this process's subscribers; when the
connection breaks (Redis restarted, network cut) it reconnects with an exponential backoff
and subscribes again to the channels that still have subscribers. Messages published while
it was away are lost: Redis pub/sub keeps nothing. redis-py is imported here only.
"""

import logging
import random
from typing import Any

import anyio
from anyio.abc import TaskGroup

from microasgi.channels.backend import Deliver
from microasgi.channels.errors import ChannelsError, PublishError
from microasgi.channels.messages import decode, encode

try:
    import redis.asyncio as redis_asyncio
    from redis.asyncio.client import PubSub
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError
except ImportError as exc:
    raise ModuleNotFoundError(
        "The Redis backend of microasgi.channels needs redis-py: pip install 'microasgi[redis]'",
        name="redis",
    ) from exc

logger = logging.getLogger("microasgi.channels")

CONNECT_TIMEOUT = 5.0  # opening a connection, and the whole startup
CONFIRM_TIMEOUT = 5.0  # a SUBSCRIBE's confirmation
IDLE_PING = 10.0  # a quiet pub/sub connection is pinged; no answer in as long again: dead
BACKOFF_FIRST = 0.05  # the first reconnection delay; it doubles up to BACKOFF_MAX
BACKOFF_MAX = 2.0
CLOSE_TIMEOUT = 2.0

# Failures that mean "the connection is gone", worth one immediate retry on a new one. Not
# timeouts: an unreachable host would make the publisher wait twice.
_CONNECTION_LOST = (RedisConnectionError, ConnectionError)
_REDIS_FAILURES = (RedisError, OSError)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


class RedisBackend:
    """Channels shared through the Redis server at ``url`` (a redis-py URL)."""

    name = "redis"

    def __init__(self, url: str, display_url: str) -> None:
        self._url = url
        self._display_url = display_url
        self._publisher: redis_asyncio.Redis | None = None
        self._subscriber: redis_asyncio.Redis | None = None
        self._pubsub: PubSub | None = None  # None while disconnected
        self._deliver: Deliver | None = None
        self._wanted: set[str] = set()  # channels with local subscribers
        self._sent: set[str] = set()  # channels the current pub/sub connection subscribed to
        self._waiters: dict[str, list[anyio.Event]] = {}  # SUBSCRIBEs awaiting confirmation
        self._control = anyio.Lock()  # orders (UN)SUBSCRIBEs and the resubscription

    def _client(self, **options: Any) -> redis_asyncio.Redis:
        client = redis_asyncio.Redis.from_url(
            self._url,
            # Failures reach this backend at once: it owns retrying and backing off.
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=CONNECT_TIMEOUT,
            **options,
        )
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("A channels URL may not set decode_responses: payloads are bytes")
        return client

    async def open(self, deliver: Deliver, task_group: TaskGroup) -> None:
        self._deliver = deliver
        self._publisher = self._client(single_connection_client=True)
        self._subscriber = self._client()
        try:
            with anyio.fail_after(CONNECT_TIMEOUT):
                await self._publisher.ping()
                await self._connect()
        except (*_REDIS_FAILURES, TimeoutError) as exc:
            await self.close()
            raise ChannelsError(
                f"Could not connect to Redis at {self._display_url}: {exc}"
            ) from exc
        task_group.start_soon(self._keep_reading)

    async def close(self) -> None:
        self._wanted.clear()  # a reopened Channels starts without subscribers
        with anyio.move_on_after(CLOSE_TIMEOUT):
            await self._disconnect()
            for client in (self._publisher, self._subscriber):
                if client is not None:
                    await client.aclose()
        self._publisher = self._subscriber = None

    async def publish(self, channel: str, message: object) -> None:
        payload = encode(message)  # a TypeError comes before any I/O
        publisher = self._publisher
        if publisher is None:
            raise RuntimeError("The Redis backend is closed")
        try:
            try:
                await publisher.publish(channel, payload)
            except _CONNECTION_LOST:
                # A connection that Redis dropped (it restarted) fails once; a new one works.
                await publisher.publish(channel, payload)
        except _REDIS_FAILURES as exc:
            raise PublishError(
                f"Could not publish to channel {channel!r} on Redis at {self._display_url}: {exc}"
            ) from exc

    async def subscribe(self, channel: str) -> None:
        self._wanted.add(channel)
        async with self._control:
            waiter = await self._sync(channel)
        if waiter is not None:
            with anyio.move_on_after(CONFIRM_TIMEOUT):
                await waiter.wait()

    async def unsubscribe(self, channel: str) -> None:
        self._wanted.discard(channel)
        async with self._control:
            await self._sync(channel)

    async def _sync(self, channel: str) -> anyio.Event | None:
        """Make the connection's subscription to ``channel`` match ``_wanted``; return the
        event a sent SUBSCRIBE's confirmation sets. Holds ``_control``."""
        pubsub = self._pubsub
        if pubsub is None:
            return None  # reconnecting subscribes to everything wanted
        wanted, sent = channel in self._wanted, channel in self._sent
        try:
            if wanted and not sent:
                waiter = anyio.Event()
                self._waiters.setdefault(channel, []).append(waiter)
                self._sent.add(channel)
                await pubsub.subscribe(channel)
                return waiter
            if sent and not wanted:
                self._sent.discard(channel)
                await pubsub.unsubscribe(channel)
        except _REDIS_FAILURES:
            pass  # the reader sees the broken connection too, and reconnects
        return None

    async def _connect(self) -> None:
        """Open a pub/sub connection subscribed to every wanted channel."""
        subscriber = self._subscriber
        if subscriber is None:  # pragma: no cover - only called between open and close
            raise ChannelsError("The Redis channels are not open.")
        pubsub = subscriber.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
            async with self._control:
                channels = set(self._wanted)
                if channels:
                    await pubsub.subscribe(*channels)
                self._sent = channels
                self._pubsub = pubsub
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT):
                await pubsub.aclose()
            raise

    async def _disconnect(self) -> None:
        """Drop the pub/sub connection; release whoever waits for a confirmation."""
        pubsub, self._pubsub = self._pubsub, None
        self._sent = set()
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()
        self._waiters.clear()
        if pubsub is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT):
                try:
                    await pubsub.aclose()
                except _REDIS_FAILURES:
                    pass  # it was broken already

    async def _keep_reading(self) -> None:
        """Read messages until cancelled, reconnecting with backoff whenever the pub/sub
        connection breaks."""
        while True:
            pubsub = self._pubsub
            if pubsub is not None:
                try:
                    await self._read(pubsub)
                except (*_REDIS_FAILURES, TimeoutError) as exc:
                    logger.warning(
                        "Lost the Redis pub/sub connection to %s (%s); reconnecting",
                        self._display_url,
                        exc,
                    )
                await self._disconnect()
            await self._reconnect()

    async def _reconnect(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            # Jitter: the workers of a restarted Redis do not all come back at once.
            await anyio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                with anyio.fail_after(CONNECT_TIMEOUT):
                    await self._connect()
            except (*_REDIS_FAILURES, TimeoutError) as exc:
                logger.debug("Redis at %s still unreachable: %s", self._display_url, exc)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            logger.warning("Reconnected to Redis at %s", self._display_url)
            return

    async def _read(self, pubsub: PubSub) -> None:
        """Hand each message to the subscribers; returns only by raising."""
        awaiting_pong = False
        while True:
            message = await pubsub.get_message(timeout=IDLE_PING)
            if message is None:
                if awaiting_pong:
                    raise TimeoutError(f"no answer to a PING within {IDLE_PING} s")
                await pubsub.ping()
                awaiting_pong = True
                continue
            awaiting_pong = False
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            channel = _text(message["channel"])
            try:
                value = decode(message["data"])
            except ValueError:
                logger.warning("Dropped an undecodable message on channel %r", channel)
                return
            if self._deliver is not None:
                self._deliver(channel, value)
        elif kind == "subscribe":
            for waiter in self._waiters.pop(_text(message["channel"]), []):
                waiter.set()
