"""What ``Channels`` needs of a backend: move messages between the processes that share it."""

from collections.abc import Callable
from typing import Any, Protocol

from anyio.abc import TaskGroup

# Hands one message of a channel to this process's subscribers; never waits.
Deliver = Callable[[str, Any], None]


class Backend(Protocol):
    """A transport for ``Channels``; one per ``Channels`` object.

    ``open`` connects (raising ``ChannelsError`` when it cannot) and may start background
    tasks in ``task_group``, which ``Channels`` cancels before ``close``. From then on the
    backend calls ``deliver`` for every message published on a channel this process
    subscribes to, in publishing order. ``subscribe`` is called for a channel's first local
    subscriber and returns once the backend will deliver what is published after it (or,
    while the broker is unreachable, once the channel is wanted); ``unsubscribe`` for its
    last. Neither raises for a broken connection: a backend resubscribes when it reconnects.
    """

    name: str

    async def open(self, deliver: Deliver, task_group: TaskGroup) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, channel: str, message: object) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...
