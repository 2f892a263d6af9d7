"""WebSocket connections: the ASGI websocket protocol as two transition tables.

``WebSocket`` tracks both directions: ``client_state`` moves on what ``receive``
returns, ``application_state`` on what the app sends. Each move is one dict lookup
in ``_RECEIVE_TRANSITIONS`` / ``_SEND_TRANSITIONS``; a failed lookup is a
RuntimeError naming the state, the message and the fix. ``WebSocketEndpoint`` is the
class-based endpoint, and ``serve_websocket`` applies the close rules around any
endpoint. This module knows the websocket scope and messages; not routing or apps.
"""

import enum
import functools
import inspect
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any, ClassVar, Literal, NoReturn

from microasgi import encoders
from microasgi._concurrency import PACE_MESSAGES, iterate_in_threadpool, let_loop_run
from microasgi.exceptions import HTTPException, WebSocketDisconnect, WebSocketException
from microasgi.requests import MAX_MESSAGE_SIZE_KEY, HTTPConnection
from microasgi.responses import PlainTextResponse, Response, StreamingResponse, encode_header
from microasgi.types import Message, RawHeaders, Receive, Scope, Send

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


class WebSocket(HTTPConnection):
    """One websocket connection, seen from the app.

    Args:
        scope: the ASGI ``websocket`` scope.
        receive: the ASGI receive channel.
        send: the ASGI send channel.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            raise ValueError(f"WebSocket needs a 'websocket' scope, got {scope['type']!r}.")
        super().__init__(scope, receive)
        self._receive_channel = receive
        self._send = send
        self.client_state = _CONNECTING
        self.application_state = _CONNECTING
        # Read once: routing put the connection's limit in the scope before the endpoint runs.
        limit: int | None = scope.get(MAX_MESSAGE_SIZE_KEY)
        self._max_message_size = limit
        # Text this short is within the limit even at 4 UTF-8 bytes per character.
        self._short_text = -1 if limit is None else limit // 4
        # Messages sent since the event loop last ran because of send() (see there).
        self._unpaced = 0

    # -- raw messages ------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next ASGI message from the server, checked against the protocol.

        A ``websocket.receive`` over the connection's message size limit closes the
        connection with 1009 and raises instead of returning.

        Raises:
            RuntimeError: the client already disconnected, or the server sent a message
                the protocol does not allow here.
            WebSocketDisconnect: 1009, the message was over the size limit.
        """
        state = self.client_state
        if state is _DISCONNECTED:
            raise RuntimeError(
                "Cannot receive: the client already disconnected ('websocket.disconnect' was "
                "received); stop receiving once WebSocketDisconnect is raised, or use the "
                "iter_text()/iter_bytes()/iter_json() iterators, which end by themselves."
            )
        message = await self._receive_channel()
        next_state = _RECEIVE_TRANSITIONS[state].get(message["type"])
        if next_state is _CONNECTED and state is _CONNECTED:
            # websocket.receive, the per-message path: only the size limit left to check.
            limit = self._max_message_size
            if limit is not None:
                text = message.get("text")
                if (text is None or len(text) > self._short_text) and _too_big(message, limit):
                    await self._refuse(
                        CLOSE_MESSAGE_TOO_BIG, f"Message too big: the limit is {limit} bytes."
                    )
            return message
        if next_state is None:
            raise _receive_error(state, message["type"])
        self.client_state = next_state
        return message

    async def send(self, message: Message) -> None:
        """Send one ASGI message, checked against the protocol.

        Raises:
            RuntimeError: the message is not allowed in the current application state.
        """
        state = self.application_state
        next_state = _SEND_TRANSITIONS[state].get(message["type"])
        # Hot path: websocket.send while CONNECTED stays CONNECTED and needs no more checks.
        if next_state is not _CONNECTED or state is not _CONNECTED:
            if next_state is None:
                raise _send_error(state, message["type"])
            if next_state is _RESPONSE:
                next_state = self._response_state(message)
            # Move first: a close whose send fails (client gone) must not be retried.
            self.application_state = next_state
        await self._send(message)
        if self._due_for_a_pause():
            await let_loop_run()

    def _due_for_a_pause(self) -> bool:
        """Count a message sent; True every ``PACE_MESSAGES``-th. A loop of sends to a
        server whose send() never waits would hold the event loop, and the server could
        not even learn that the client left: every sender lets it run now and then."""
        self._unpaced += 1
        if self._unpaced < PACE_MESSAGES:
            return False
        self._unpaced = 0
        return True

    def _response_state(self, message: Message) -> WebSocketState:
        if message["type"] == "websocket.http.response.start":
            self._require_denial_extension()
            return _RESPONSE
        return _RESPONSE if message.get("more_body", False) else _DISCONNECTED

    def _require_denial_extension(self) -> None:
        if _DENIAL_EXTENSION not in (self.scope.get("extensions") or {}):
            raise RuntimeError(
                "The server does not offer the 'websocket.http.response' extension, so it "
                "cannot send an HTTP response to a websocket handshake; use "
                "send_denial_response(), which falls back to a plain close (403)."
            )

    # -- handshake -----------------------------------------------------------------------

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Accept the handshake, optionally choosing a subprotocol and adding headers.

        Reads the ``websocket.connect`` message first if nobody has yet.

        Raises:
            ValueError: ``subprotocol`` was not offered by the client, or a header holds
                CR, LF or NUL.
            RuntimeError: the websocket was already accepted or closed.
            WebSocketDisconnect: the client left before the handshake completed.
        """
        if self.application_state is not _CONNECTING:
            raise _send_error(self.application_state, "websocket.accept")
        if subprotocol is not None:
            offered: list[str] = self.scope.get("subprotocols") or []
            if subprotocol not in offered:
                raise ValueError(
                    f"Subprotocol {subprotocol!r} was not offered by the client "
                    f"(offered: {offered}); choose one of scope['subprotocols'] or None."
                )
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers is not None:
            message["headers"] = _encode_accept_headers(headers)
        if self.client_state is _CONNECTING:
            connect = await self.receive()
            if connect["type"] == "websocket.disconnect":
                raise _disconnected(connect)
        await self.send(message)

    async def close(self, code: int = CLOSE_NORMAL, reason: str | None = None) -> None:
        """Close the connection; before accept, this refuses the handshake (403).

        After the client has disconnected there is nobody to tell: only the state moves.

        Raises:
            RuntimeError: the websocket was already closed.
        """
        if self.client_state is _DISCONNECTED and (
            self.application_state is _CONNECTED or self.application_state is _CONNECTING
        ):
            self.application_state = _DISCONNECTED
            return
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})

    async def send_denial_response(self, response: Response) -> None:
        """Refuse the handshake with an HTTP response.

        Uses the ``websocket.http.response`` extension when the server offers it;
        otherwise closes with 1008, which the server answers with a 403.

        Raises:
            RuntimeError: the websocket was already accepted or closed.
        """
        if self.application_state is not _CONNECTING:
            raise _send_error(self.application_state, "websocket.http.response.start")
        if _DENIAL_EXTENSION not in (self.scope.get("extensions") or {}):
            await self.close(CLOSE_POLICY_VIOLATION)
            return
        await self.send(
            {
                "type": "websocket.http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        if isinstance(response, StreamingResponse):
            await self._send_streamed_body(response)
        else:
            await self.send({"type": "websocket.http.response.body", "body": response.body})
        if response.background is not None:
            await response.background()

    async def _send_streamed_body(self, response: StreamingResponse) -> None:
        content = response.content
        chunks = content if isinstance(content, AsyncIterable) else iterate_in_threadpool(content)
        async for chunk in chunks:
            data = chunk if isinstance(chunk, bytes) else chunk.encode(response.charset)
            await self.send(
                {"type": "websocket.http.response.body", "body": data, "more_body": True}
            )
        await self.send({"type": "websocket.http.response.body", "body": b""})

    async def _refuse(self, code: int, reason: str) -> NoReturn:
        """Close with ``code`` and end the endpoint's receive loop as a disconnect would."""
        if self.application_state is _CONNECTED:
            await self.close(code, reason)
        raise WebSocketDisconnect(code, reason)

    # -- data messages -----------------------------------------------------------------

    def _require_connected(self) -> None:
        state = self.application_state
        if state is not _CONNECTED:
            fix = (
                "call accept() first."
                if state is _CONNECTING
                else "the app closed the websocket; receive nothing more."
            )
            raise RuntimeError(
                f"Cannot receive data with the websocket application state {state.name}: "
                f"expected CONNECTED; {fix}"
            )

    async def _receive_data(self) -> Message:
        """The next ``websocket.receive`` message; a disconnect raises."""
        self._require_connected()
        message = await self.receive()
        if message["type"] == "websocket.disconnect":
            raise _disconnected(message)
        return message

    async def receive_text(self) -> str:
        """The next text message.

        Raises:
            WebSocketDisconnect: the client left; or a bytes message arrived (the
                connection is closed with 1003).
        """
        # _receive_data() inlined: this is the per-message path of most endpoints.
        if self.application_state is not _CONNECTED:
            self._require_connected()
        message = await self.receive()
        text: str | None = message.get("text")
        if text is None:
            if message["type"] == "websocket.disconnect":
                raise _disconnected(message)
            await self._refuse(CLOSE_UNSUPPORTED_DATA, "Expected a text message, got bytes.")
        return text

    async def receive_bytes(self) -> bytes:
        """The next bytes message.

        Raises:
            WebSocketDisconnect: the client left; or a text message arrived (the
                connection is closed with 1003).
        """
        if self.application_state is not _CONNECTED:
            self._require_connected()
        message = await self.receive()
        data: bytes | None = message.get("bytes")
        if data is None:
            if message["type"] == "websocket.disconnect":
                raise _disconnected(message)
            await self._refuse(CLOSE_UNSUPPORTED_DATA, "Expected a bytes message, got text.")
        return data

    async def receive_json(self, mode: Literal["text", "binary"] = "text") -> Any:
        """The next message parsed as JSON, from a text (or, ``mode="binary"``, bytes) frame.

        Invalid JSON is the client's fault, not a server error: the connection is
        closed with 1007 and ``WebSocketDisconnect(1007)`` ends the endpoint's loop.

        Raises:
            ValueError: ``mode`` is neither "text" nor "binary".
            WebSocketDisconnect: the client left; the frame type is wrong (1003); the
                payload is not JSON (1007).
        """
        if mode == "text":
            payload: str | bytes = await self.receive_text()
        elif mode == "binary":
            payload = await self.receive_bytes()
        else:
            raise ValueError(f'receive_json mode must be "text" or "binary", got {mode!r}.')
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, too deep
            await self._refuse(CLOSE_INVALID_PAYLOAD, f"Invalid JSON: {exc}")

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the client leaves; the loop then ends without an error."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Bytes messages until the client leaves; the loop then ends without an error."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            return

    async def iter_json(self) -> AsyncIterator[Any]:
        """JSON messages until the client leaves (or sends invalid JSON, closed with 1007)."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            return

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        if self.application_state is _CONNECTED:
            # The table's CONNECTED --websocket.send--> CONNECTED, minus a coroutine call.
            await self._send({"type": "websocket.send", "text": data})
            if self._due_for_a_pause():
                await let_loop_run()
        else:
            await self.send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a bytes message."""
        if self.application_state is _CONNECTED:
            await self._send({"type": "websocket.send", "bytes": data})
            if self._due_for_a_pause():
                await let_loop_run()
        else:
            await self.send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send ``data`` as compact UTF-8 JSON in a text (or, ``mode="binary"``, bytes) frame,
        encoded as ``JSONResponse`` does (datetimes, UUIDs, decimals... see ``microasgi.encoders``).

        Raises:
            ValueError: ``mode`` is neither "text" nor "binary"; NaN or an infinity in ``data``.
            TypeError: ``data`` is not JSON serializable.
        """
        if mode not in ("text", "binary"):
            raise ValueError(f'send_json mode must be "text" or "binary", got {mode!r}.')
        encoded = encoders.json_dumps(data, None)
        if mode == "text":
            await self.send_text(encoded.decode("utf-8"))
        else:
            await self.send_bytes(encoded)


class WebSocketEndpoint:
    """A class-based websocket endpoint: override ``on_connect``, ``on_receive``, ``on_disconnect``.

    ``encoding`` decides what ``on_receive`` gets: ``"text"`` (str), ``"bytes"``,
    ``"json"`` (the parsed value) or ``None`` (str or bytes, as sent). A message of the
    wrong kind closes the connection with 1003.
    """

    encoding: ClassVar[Literal["text", "bytes", "json"] | None] = None

    async def on_connect(self, websocket: WebSocket) -> None:
        """Called first; accepts by default. Close or deny here to refuse the client."""
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        """Called for each message, decoded according to ``encoding``."""

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        """Called once after an accepted connection ends, with the close code."""

    async def dispatch(self, websocket: WebSocket) -> None:
        """Run the connection: connect, then receive until the client leaves.

        ``on_disconnect`` runs only if ``on_connect`` accepted, and also when
        ``on_receive`` raises (with 1011, then the error propagates).
        """
        await self.on_connect(websocket)
        if websocket.application_state is not _CONNECTED:
            return
        close_code = CLOSE_NORMAL
        if self.encoding == "text":
            receive: Any = websocket.receive_text
        elif self.encoding == "bytes":
            receive = websocket.receive_bytes
        elif self.encoding == "json":
            receive = websocket.receive_json
        elif self.encoding is None:
            receive = functools.partial(_receive_text_or_bytes, websocket)
        else:
            raise ValueError(
                f'{type(self).__name__}.encoding must be "text", "bytes", "json" or None, '
                f"got {self.encoding!r}."
            )
        try:
            while True:
                await self.on_receive(websocket, await receive())
        except WebSocketDisconnect as exc:
            close_code = exc.code
        except Exception:
            close_code = CLOSE_INTERNAL_ERROR
            raise
        finally:
            await self.on_disconnect(websocket, close_code)


async def _receive_text_or_bytes(websocket: WebSocket) -> str | bytes:
    message = await websocket._receive_data()
    text: str | None = message.get("text")
    if text is not None:
        return text
    data: bytes = message.get("bytes") or b""
    return data


def check_websocket_endpoint(endpoint: Any) -> None:
    """Refuse, at registration, a websocket endpoint that is a plain ``def``.

    A websocket endpoint awaits ``accept()`` and ``receive_*()``; a sync function cannot,
    and served from a thread it would deny every connection without a word.

    Raises:
        TypeError: ``endpoint`` is neither an ``async def`` (or an object with an async
            ``__call__``) nor a ``WebSocketEndpoint`` subclass.
    """
    if isinstance(endpoint, type) and issubclass(endpoint, WebSocketEndpoint):
        return
    target = endpoint
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - an instance with an async __call__
    ):
        return
    name = getattr(endpoint, "__qualname__", repr(endpoint))
    raise TypeError(
        f"Websocket endpoint {name} must be an `async def` (it awaits websocket.accept() "
        "and websocket.receive_text()), or a WebSocketEndpoint subclass."
    )


async def serve_websocket(websocket: WebSocket, endpoint_call: Awaitable[Any]) -> None:
    """Await an endpoint and apply the closing rules of the contract.

    - ``WebSocketException``: close with its code and reason (before accept too).
    - ``HTTPException`` before accept: a denial response with its status (or a close).
    - ``WebSocketDisconnect``: the client left; nothing more to do.
    - Any other error: close with 1011 after accept (a 500 denial, or a close, before
      accept), then re-raise for the server to log.
    - Return without closing: close with 1000 (before accept: a close, answered 403).
    """
    try:
        await endpoint_call
    except WebSocketDisconnect:
        pass
    except WebSocketException as exc:
        await _close_if_open(websocket, exc.code, exc.reason)
        return
    except HTTPException as exc:
        if websocket.application_state is not _CONNECTING:
            await _close_if_open(websocket, CLOSE_INTERNAL_ERROR, "")
            raise
        await websocket.send_denial_response(
            PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
        )
        return
    except Exception:
        if websocket.application_state is _CONNECTING:
            await _deny_after_error(websocket)
        else:
            await _close_if_open(websocket, CLOSE_INTERNAL_ERROR, "")
        raise
    await _close_if_open(websocket, CLOSE_NORMAL, "")


async def _close_if_open(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state is _CONNECTING or websocket.application_state is _CONNECTED:
        try:
            await websocket.close(code, reason)
        except OSError:
            # ASGI 2.4: send() raises OSError once the client is gone; nobody to tell.
            pass


async def _deny_after_error(websocket: WebSocket) -> None:
    try:
        await websocket.send_denial_response(
            PlainTextResponse("Internal Server Error", status_code=500)
        )
    except OSError:
        pass
