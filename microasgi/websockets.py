"""WebSockets: the class-based ``WebSocketEndpoint``, ``serve_websocket`` (the close rules
around any endpoint), and the one import path for the rest: ``WebSocket``
(``microasgi.websocketconnection``), ``WebSocketState`` and the close codes
(``microasgi.websocketprotocol``) are re-exported here. This module knows the websocket
scope and messages; not routing or apps.
"""

import functools
import inspect
from collections.abc import Awaitable
from typing import Any, ClassVar, Literal

from microasgi.exceptions import HTTPException, WebSocketDisconnect, WebSocketException
from microasgi.responses import PlainTextResponse
from microasgi.websocketconnection import WebSocket as WebSocket
from microasgi.websocketprotocol import (
    _CONNECTED,
    _CONNECTING,
)
from microasgi.websocketprotocol import CLOSE_INTERNAL_ERROR as CLOSE_INTERNAL_ERROR
from microasgi.websocketprotocol import CLOSE_INVALID_PAYLOAD as CLOSE_INVALID_PAYLOAD
from microasgi.websocketprotocol import CLOSE_MESSAGE_TOO_BIG as CLOSE_MESSAGE_TOO_BIG
from microasgi.websocketprotocol import CLOSE_NO_STATUS as CLOSE_NO_STATUS
from microasgi.websocketprotocol import CLOSE_NORMAL as CLOSE_NORMAL
from microasgi.websocketprotocol import CLOSE_POLICY_VIOLATION as CLOSE_POLICY_VIOLATION
from microasgi.websocketprotocol import CLOSE_UNSUPPORTED_DATA as CLOSE_UNSUPPORTED_DATA
from microasgi.websocketprotocol import WebSocketState as WebSocketState


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
