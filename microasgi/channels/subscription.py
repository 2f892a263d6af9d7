"""One subscriber's bounded queue, and what happens when its consumer falls behind.

The backend's delivery never waits for a subscriber: it puts the message in the
subscription's queue and moves on. When the queue is full the subscription's policy decides:

- ``"drop_oldest"``: the oldest queued message makes room (the consumer skips ahead);
- ``"drop_newest"``: the new message is not queued (the consumer keeps its backlog);
- ``"disconnect"``: the subscription ends; the consumer's next read raises
  ``SlowConsumerError``.

Every message that never reaches the consumer this way is counted in ``dropped``.
"""

from collections import deque
from typing import Any, Literal, get_args

import anyio

from microasgi.channels.errors import SlowConsumerError

Policy = Literal["drop_oldest", "drop_newest", "disconnect"]
POLICIES: tuple[str, ...] = get_args(Policy)


def check_queue_settings(queue_size: int, policy: str) -> None:
    """Raise ValueError for a queue size below 1 or an unknown policy."""
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(f"queue_size must be an int of at least 1, not {queue_size!r}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(map(repr, POLICIES))}, not {policy!r}")


class Subscription:
    """The messages of one channel, in the order they were published, for one consumer.

    Iterate with ``async for``; the iteration ends when the ``Channels`` closes (after the
    queued messages) and raises ``SlowConsumerError`` when the ``"disconnect"`` policy ended it.
    Get one with ``Channels.subscribe``, never directly.
    """

    def __init__(self, channel: str, queue_size: int, policy: Policy) -> None:
        self.channel = channel
        self.queue_size = queue_size
        self.policy: Policy = policy
        self._queue: deque[Any] = deque()
        self._dropped = 0
        self._failure: SlowConsumerError | None = None
        self._closed = False
        self._wakeup: anyio.Event | None = None

    @property
    def dropped(self) -> int:
        """How many messages published to the channel while subscribed never reached (and
        will never reach) this consumer."""
        return self._dropped

    @property
    def pending(self) -> int:
        """How many messages wait in the queue."""
        return len(self._queue)

    def put(self, message: Any) -> int:
        """Queue ``message`` without waiting; return how many messages it cost (dropped)."""
        if self._closed:
            return 0
        queue = self._queue
        dropped = 0
        if len(queue) >= self.queue_size:
            if self.policy == "drop_newest":
                self._dropped += 1
                return 1
            if self.policy == "disconnect":
                return self._end_slow()
            queue.popleft()
            dropped = 1
            self._dropped += 1
        queue.append(message)
        self._wake()
        return dropped

    def _end_slow(self) -> int:
        dropped = len(self._queue) + 1
        self._dropped += dropped
        self._queue.clear()
        self._failure = SlowConsumerError(
            f"The subscription to channel {self.channel!r} fell {self.queue_size} messages"
            " behind and was ended (policy 'disconnect'): its consumer is too slow"
        )
        self._closed = True
        self._wake()
        return dropped

    def close(self) -> None:
        """End the subscription: the consumer gets the queued messages, then the end."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Any:
        while not self._queue:
            if self._failure is not None:
                raise self._failure
            if self._closed:
                raise StopAsyncIteration
            self._wakeup = wakeup = anyio.Event()
            await wakeup.wait()
        return self._queue.popleft()
