"""The errors of ``microasgi.channels``."""


class ChannelsError(Exception):
    """Base class of the errors of ``microasgi.channels``; also a failed connection at start."""


class SlowConsumerError(ChannelsError):
    """A subscription with the ``"disconnect"`` policy fell a full queue behind; it has ended."""


class PublishError(ChannelsError):
    """The backend could not take a message (its broker is unreachable): it was not published."""
