"""What a channel carries: ``str``, ``bytes`` or a JSON-able value, and its bytes on the wire.

A message keeps its kind across a broker: a ``str`` arrives as a ``str``, ``bytes`` as
``bytes``, anything else goes through JSON (so a tuple arrives as a list). Every backend
hands subscribers the same thing: the in-memory one copies a JSON value through JSON too,
so no backend lets a subscriber see the publisher's own (mutable) object.
"""

import json
from typing import Any

# On the wire a payload is a NUL, a kind letter, then the body. Payloads without that
# prefix come from other tools (``redis-cli PUBLISH room hi``) and are taken as text.
_STR = b"\x00s"
_BYTES = b"\x00b"
_JSON = b"\x00j"


def _dump_json(message: object) -> str:
    try:
        return json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"A channel message must be str, bytes or JSON-able, not {type(message).__name__}"
            f" ({exc})"
        ) from None


def normalize(message: object) -> Any:
    """The message as a subscriber receives it, for backends that carry objects.

    Raises:
        TypeError: the message is not ``str``, bytes-like or JSON-able.
    """
    if isinstance(message, str):
        return message
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message)
    return json.loads(_dump_json(message))


def encode(message: object) -> bytes:
    """The message's bytes on the wire.

    Raises:
        TypeError: the message is not ``str``, bytes-like or JSON-able.
    """
    if isinstance(message, str):
        return _STR + message.encode("utf-8")
    if isinstance(message, bytes | bytearray | memoryview):
        return _BYTES + bytes(message)
    return _JSON + _dump_json(message).encode("utf-8")


def decode(payload: bytes) -> Any:
    """The message ``encode`` made ``payload`` from; a foreign payload as text (or bytes
    when it is not UTF-8). A tagged JSON payload that does not parse raises ValueError."""
    tag, body = payload[:2], payload[2:]
    if tag == _STR:
        return body.decode("utf-8")
    if tag == _BYTES:
        return body
    if tag == _JSON:
        return json.loads(body)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload
