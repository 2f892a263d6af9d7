"""WebSocket: one websocket connection, checked against the ASGI websocket protocol.

``WebSocket`` tracks both directions: ``client_state`` moves on what ``receive``
returns, ``application_state`` on what the app sends. Each move is one dict lookup
in the transition tables of ``microasgi.websocketprotocol``; a failed lookup is a
RuntimeError naming the state, the message and the fix. Re-exported by
``microasgi.websockets``. This module knows the websocket scope and messages; not
routing or apps.
"""

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any, Literal, NoReturn

from microasgi import encoders
from microasgi._concurrency import PACE_MESSAGES, iterate_in_threadpool, let_loop_run
from microasgi.exceptions import WebSocketDisconnect
from microasgi.requests import MAX_MESSAGE_SIZE_KEY, HTTPConnection
from microasgi.responses import Response, StreamingResponse
from microasgi.types import Message, Receive, Scope, Send
from microasgi.websocketprotocol import (  # re-exported: WebSocketState, the close codes
    _CONNECTED,
    _CONNECTING,
    _DENIAL_EXTENSION,
    _DISCONNECTED,
    _RECEIVE_TRANSITIONS,
    _RESPONSE,
    _SEND_TRANSITIONS,
    CLOSE_INVALID_PAYLOAD,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_UNSUPPORTED_DATA,
    WebSocketState,
    _disconnected,
    _encode_accept_headers,
    _receive_error,
    _send_error,
    _too_big,
)


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
