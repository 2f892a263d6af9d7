"""The in-memory backend: channels inside one process, for one worker and for tests."""

from typing import Any

import anyio
from anyio.abc import TaskGroup

from microasgi.channels.backend import Deliver
from microasgi.channels.messages import normalize


class MemoryBackend:
    """Delivers every publish straight to this process's subscribers (``memory://``).

    Each ``Channels("memory://")`` is a separate bus: other workers and other ``Channels``
    objects do not hear it.
    """

    name = "memory"

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def open(self, deliver: Deliver, task_group: TaskGroup) -> None:
        self._deliver = deliver

    async def close(self) -> None:
        self._deliver = None

    async def publish(self, channel: str, message: object) -> None:
        value: Any = normalize(message)
        if self._deliver is not None:
            self._deliver(channel, value)
        # Let the woken subscribers run before the publisher goes on, as a broker would.
        await anyio.lowlevel.checkpoint()

    async def subscribe(self, channel: str) -> None:
        """Nothing to do: delivery reads the subscribers the ``Channels`` keeps."""

    async def unsubscribe(self, channel: str) -> None:
        """Nothing to do, as for ``subscribe``."""
