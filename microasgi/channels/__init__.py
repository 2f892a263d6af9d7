"""Publish/subscribe channels: broadcast to the clients of every worker and every machine.

``Channels("memory://")`` works inside one process; ``Channels("redis://host:6379/0")``
shares channels through Redis (``pip install 'microasgi[redis]'``). redis-py is imported
only when a Redis URL is used. See ``docs/scaling.md``.
"""

from microasgi.channels.errors import ChannelsError, PublishError, SlowConsumerError
from microasgi.channels.hub import Channels
from microasgi.channels.subscription import Policy, Subscription

__all__ = [
    "Channels",
    "ChannelsError",
    "Policy",
    "PublishError",
    "SlowConsumerError",
    "Subscription",
]
