"""The in-memory backend: channels inside one process, for one worker and for tests."""

from typing import Any

import anyio
from anyio.abc import TaskGroup

from microasgi.channels.backend import Deliver
from microasgi.channels.messages import normalize


def _nowhere(channel: str, message: Any) -> None:
    """Where a closed backend delivers: nowhere."""


class MemoryBackend:
    """Delivers every publish straight to this process's subscribers (``memory://``).

    Each ``Channels("memory://")`` is a separate bus: other workers and other ``Channels``
    objects do not hear it.
    """

    name = "memory"

    def __init__(self) -> None:
        self._deliver: Deliver = _nowhere

    async def open(self, deliver: Deliver, task_group: TaskGroup) -> None:
        self._deliver = deliver

    async def close(self) -> None:
        self._deliver = _nowhere

    async def publish(self, channel: str, message: object) -> None:
        self._deliver(channel, normalize(message))
        # Let the woken subscribers run before the publisher goes on, as a broker would.
        await anyio.lowlevel.checkpoint()

    async def subscribe(self, channel: str) -> None:
        """Nothing to do: delivery reads the subscribers the ``Channels`` keeps."""

    async def unsubscribe(self, channel: str) -> None:
        """Nothing to do, as for ``subscribe``."""
