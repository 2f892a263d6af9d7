"""The ASGI websocket protocol as data: each side's ``WebSocketState``, the two transition
tables, the close codes, and the errors that name the state, the message and the fix.

``WebSocket`` (``microasgi.websockets``, which re-exports ``WebSocketState`` and the close
codes) moves each side with one dict lookup in ``_RECEIVE_TRANSITIONS`` /
``_SEND_TRANSITIONS``; a failed lookup is the RuntimeError built here.
"""

import enum
from collections.abc import Iterable, Mapping

from microasgi.exceptions import WebSocketDisconnect
from microasgi.responses import encode_header
from microasgi.types import Message, RawHeaders

# RFC 6455 section 7.4.1 close codes used here.
CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_NO_STATUS = 1005
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

_DENIAL_EXTENSION = "websocket.http.response"


class WebSocketState(enum.Enum):
    """Where one side of the connection is.

    ``RESPONSE`` is the app sending a denial response (an HTTP answer to the handshake).
    """

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


# Module-level aliases: enum member lookups through the class cost more on the hot path.
_CONNECTING = WebSocketState.CONNECTING
_CONNECTED = WebSocketState.CONNECTED
_DISCONNECTED = WebSocketState.DISCONNECTED
_RESPONSE = WebSocketState.RESPONSE

# Messages the server may deliver through receive(), by client state (ASGI websocket spec).
# A client may vanish before the handshake completes, so a disconnect is accepted at once.
_RECEIVE_TRANSITIONS: dict[WebSocketState, dict[str, WebSocketState]] = {
    _CONNECTING: {"websocket.connect": _CONNECTED, "websocket.disconnect": _DISCONNECTED},
    _CONNECTED: {"websocket.receive": _CONNECTED, "websocket.disconnect": _DISCONNECTED},
    _DISCONNECTED: {},
}

# Messages the app may send, by application state. A response body with more_body=False
# ends the denial response; send() moves RESPONSE to DISCONNECTED for that one case.
_SEND_TRANSITIONS: dict[WebSocketState, dict[str, WebSocketState]] = {
    _CONNECTING: {
        "websocket.accept": _CONNECTED,
        "websocket.close": _DISCONNECTED,
        "websocket.http.response.start": _RESPONSE,
    },
    _CONNECTED: {"websocket.send": _CONNECTED, "websocket.close": _DISCONNECTED},
    _RESPONSE: {"websocket.http.response.body": _RESPONSE},
    _DISCONNECTED: {},
}

# The fix to suggest for a rejected send, by (state, message type); else by state.
_SEND_FIXES: dict[tuple[WebSocketState, str], str] = {
    (_CONNECTING, "websocket.send"): "call accept() first",
    (_CONNECTING, "websocket.http.response.body"): (
        "send 'websocket.http.response.start' first (send_denial_response() sends both)"
    ),
    (_CONNECTED, "websocket.accept"): "accept() was already called; call it once",
    (_CONNECTED, "websocket.http.response.start"): (
        "a denial response is only possible before accept()"
    ),
}
_STATE_FIXES: dict[WebSocketState, str] = {
    _CONNECTING: "check the message type against the ASGI websocket spec",
    _CONNECTED: "check the message type against the ASGI websocket spec",
    _RESPONSE: "the denial response has started; only its body may follow",
    _DISCONNECTED: "the websocket is closed (close() or a denial response); send nothing more",
}


def _allowed(table: Mapping[str, WebSocketState]) -> str:
    names = [repr(name) for name in table]
    if not names:
        return "nothing"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _send_error(state: WebSocketState, message_type: object) -> RuntimeError:
    table = _SEND_TRANSITIONS[state]
    fix = _SEND_FIXES.get((state, str(message_type)), _STATE_FIXES[state])
    return RuntimeError(
        f"Cannot send {message_type!r} with the websocket application state {state.name}: "
        f"expected {_allowed(table)}, got {message_type!r}; {fix}."
    )


def _receive_error(state: WebSocketState, message_type: object) -> RuntimeError:
    table = _RECEIVE_TRANSITIONS[state]
    return RuntimeError(
        f"Unexpected {message_type!r} from the server with the websocket client state "
        f"{state.name}: expected {_allowed(table)}; the server broke the ASGI websocket protocol."
    )


def _encode_accept_headers(
    headers: Mapping[str, str] | Iterable[tuple[bytes, bytes]],
) -> RawHeaders:
    if isinstance(headers, Mapping):
        return [encode_header(name, value) for name, value in headers.items()]
    raw: RawHeaders = []
    for name, value in headers:
        # Same rule as response headers: CR, LF or NUL would split the handshake response.
        encode_header(name.decode("latin-1"), value.decode("latin-1"))
        raw.append((name.lower(), value))
    return raw


def _too_big(message: Message, limit: int) -> bool:
    """Whether a data message passes ``limit`` bytes (text counted in UTF-8)."""
    text: str | None = message.get("text")
    if text is None:
        return len(message.get("bytes") or b"") > limit
    # A character takes 1 to 4 bytes: encode only when the length alone can't decide.
    return len(text) > limit or len(text.encode("utf-8")) > limit


def _disconnected(message: Message) -> WebSocketDisconnect:
    # ASGI: a close frame without a code is reported as 1005 (no status received).
    return WebSocketDisconnect(message.get("code", CLOSE_NO_STATUS), message.get("reason"))
