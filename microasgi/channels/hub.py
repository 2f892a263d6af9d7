"""``Channels``: publish to named channels, subscribe to them, through a chosen backend.

One ``Channels`` object keeps this process's subscribers per channel and asks its backend
to carry messages between processes: ``memory://`` within the process, ``redis://``
through a Redis server shared by every worker and machine.
"""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
from anyio.abc import TaskGroup

from microasgi.channels.backend import Backend
from microasgi.channels.memory import MemoryBackend
from microasgi.channels.subscription import Policy, Subscription, check_queue_settings

REDIS_SCHEMES = ("redis", "rediss", "unix")
LEAVE_TIMEOUT = 5.0  # a subscriber's unsubscribe from the broker, even when cancelled


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _backend_for(url: str) -> Backend:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBackend()
    if scheme in REDIS_SCHEMES:
        from microasgi.channels.redis_backend import RedisBackend  # imports redis-py

        return RedisBackend(url, redacted(url))
    raise ValueError(
        f"Unsupported channels URL {redacted(url)!r}: use memory:// or"
        f" {', '.join(s + '://' for s in REDIS_SCHEMES)}"
    )


def _check_channel(channel: str) -> None:
    if not isinstance(channel, str):
        raise TypeError(f"A channel name is a str, not {type(channel).__name__}")
    if not channel:
        raise ValueError("A channel name may not be empty")


class _Topic:
    """One channel's local subscribers; ``ready`` is set once the backend delivers it."""

    __slots__ = ("members", "ready")

    def __init__(self) -> None:
        self.members: set[Subscription] = set()
        self.ready = anyio.Event()


class Channels:
    """Publish/subscribe over named channels, in memory or through Redis.

    ``async with Channels(url) as channels:`` connects and, on exit, ends every subscription
    and disconnects; use it in the app's lifespan. ``url`` is ``"memory://"`` (one process)
    or a redis-py URL such as ``"redis://127.0.0.1:6379/0"`` (needs ``microasgi[redis]``).

    Each subscription has a bounded queue of ``queue_size`` messages; ``policy`` says what
    happens when its consumer falls that far behind (``"drop_oldest"``, ``"drop_newest"`` or
    ``"disconnect"``). ``subscribe`` can override both per subscription.

    Raises:
        ValueError: an unsupported URL scheme, a ``queue_size`` below 1, an unknown policy.
        ModuleNotFoundError: a Redis URL without redis-py installed.
    """

    def __init__(
        self, url: str = "memory://", *, queue_size: int = 1000, policy: Policy = "disconnect"
    ) -> None:
        check_queue_settings(queue_size, policy)
        self.url = redacted(url)
        self.queue_size = queue_size
        self.policy: Policy = policy
        self._backend = _backend_for(url)
        self._topics: dict[str, _Topic] = {}
        self._task_group: TaskGroup | None = None
        self._dropped = 0

    @property
    def backend(self) -> str:
        """The backend's name: ``"memory"`` or ``"redis"``."""
        return self._backend.name

    @property
    def dropped(self) -> int:
        """Messages dropped by the queue policies of every subscription so far."""
        return self._dropped

    async def __aenter__(self) -> "Channels":
        if self._task_group is not None:
            raise RuntimeError("This Channels is already open")
        # The backend's tasks (Redis: the pub/sub reader) live from here to __aexit__, which
        # must run in the same task, as a lifespan's exit does.
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        try:
            await self._backend.open(self._deliver, task_group)
        except BaseException:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
            raise
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return
        for topic in self._topics.values():
            topic.ready.set()
            for subscription in topic.members:
                subscription.close()
        self._topics.clear()
        task_group.cancel_scope.cancel()
        try:
            await task_group.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                await self._backend.close()

    def _require_open(self) -> None:
        if self._task_group is None:
            raise RuntimeError(
                "Channels is not open: use `async with Channels(...) as channels:`,"
                " e.g. in the app's lifespan"
            )

    async def publish(self, channel: str, message: object) -> None:
        """Send ``message`` (``str``, ``bytes`` or JSON-able) to every subscriber of
        ``channel``, in every process that shares the backend.

        Raises:
            TypeError: the message is of another kind, or the channel is not a str.
            ValueError: the channel name is empty.
            PublishError: the backend could not take the message (Redis unreachable).
        """
        _check_channel(channel)
        self._require_open()
        await self._backend.publish(channel, message)

    def subscribe(
        self, channel: str, *, queue_size: int | None = None, policy: Policy | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """``async with channels.subscribe(channel) as subscription:`` yields the messages
        published to ``channel`` from the moment the block is entered, in order.

        Leaving the block unsubscribes. ``queue_size`` and ``policy`` default to the
        ``Channels`` settings.
        """
        _check_channel(channel)
        size = self.queue_size if queue_size is None else queue_size
        chosen: Policy = self.policy if policy is None else policy
        check_queue_settings(size, chosen)
        return self._subscribed(Subscription(channel, size, chosen))

    @asynccontextmanager
    async def _subscribed(self, subscription: Subscription) -> AsyncIterator[Subscription]:
        self._require_open()
        try:
            await self._join(subscription)
            yield subscription
        finally:
            subscription.close()
            # Leaving must reach the broker even when the subscriber is being cancelled.
            with anyio.CancelScope(shield=True), anyio.move_on_after(LEAVE_TIMEOUT):
                await self._leave(subscription)

    async def _join(self, subscription: Subscription) -> None:
        channel = subscription.channel
        topic = self._topics.get(channel)
        if topic is not None:
            topic.members.add(subscription)
            await topic.ready.wait()
            return
        topic = self._topics[channel] = _Topic()
        topic.members.add(subscription)
        try:
            await self._backend.subscribe(channel)
        finally:
            topic.ready.set()  # also on failure: the other joiners must not wait forever

    async def _leave(self, subscription: Subscription) -> None:
        channel = subscription.channel
        topic = self._topics.get(channel)
        if topic is None or subscription not in topic.members:
            return
        topic.members.discard(subscription)
        if not topic.members:
            del self._topics[channel]
            await self._backend.unsubscribe(channel)

    def _deliver(self, channel: str, message: Any) -> None:
        topic = self._topics.get(channel)
        if topic is None:
            return
        for subscription in topic.members:
            self._dropped += subscription.put(message)
