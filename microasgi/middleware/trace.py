"""TraceMiddleware: log the scope and every ASGI message of each connection, in order.

One line per event, timed from the start of the connection (``time.perf_counter``)::

    [1] +0.000ms scope http method='GET' path='/' ... headers=[('host', 'testserver')]
    [1] +0.041ms receive http.request body=<0 bytes> more_body=False
    [1] +0.350ms send http.response.start status=200 headers=[('content-length', '13')]
    [1] +0.402ms send http.response.body body=<13 bytes>
    [1] +0.430ms end

Credentials in headers are redacted; bodies show their length only, unless asked for.
The formatting here is the one the ``python -m microasgi trace`` command prints.
This module knows ASGI messages, not requests, responses or routing.
"""

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from microasgi.types import ASGIApp, Message, Receive, Scope, Send

# Header values that are credentials: never written to a log.
REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_REDACTED = "<redacted>"
# How much of a body (bytes) or a websocket text (characters) include_bodies shows.
PREVIEW_SIZE = 64
# Any other value longer than this is cut: a scope's "state" can hold large objects.
_MAX_VALUE_REPR = 200
# Scope keys in the order a reader looks for them; other keys follow, sorted.
_SCOPE_ORDER = (
    "method",
    "scheme",
    "path",
    "query_string",
    "root_path",
    "http_version",
    "client",
    "server",
    "subprotocols",
    "headers",
)
# Scope keys that only repeat what is shown (raw_path) or say nothing useful per line.
_SCOPE_SKIPPED = frozenset({"type", "raw_path", "asgi", "extensions", "state", "app"})


class TraceFormatter:
    """Turns scopes and messages into trace lines (pure: no clock, no I/O).

    Args:
        include_bodies: show up to ``PREVIEW_SIZE`` bytes or characters of each body and
            websocket message after its length (off by default: bodies carry passwords).
        redact_headers: header names (any case) whose values are replaced by ``<redacted>``.
    """

    def __init__(
        self, *, include_bodies: bool = False, redact_headers: Iterable[str] = REDACTED_HEADERS
    ) -> None:
        self.include_bodies = include_bodies
        self.redact_headers = frozenset(name.lower().encode("latin-1") for name in redact_headers)

    def scope(self, scope: Scope) -> str:
        """``scope http method='GET' path='/' ...``: the connection as the app sees it."""
        keys = [key for key in _SCOPE_ORDER if key in scope]
        keys += sorted(
            key for key in scope if key not in _SCOPE_ORDER and key not in _SCOPE_SKIPPED
        )
        fields = " ".join(f"{key}={self.value(key, scope[key])}" for key in keys)
        return f"scope {scope.get('type')} {fields}".rstrip()

    def message(self, direction: str, message: Message) -> str:
        """``send http.response.start status=200 headers=[...]``; direction is receive/send."""
        fields = " ".join(
            f"{key}={self.value(key, value)}" for key, value in message.items() if key != "type"
        )
        return f"{direction} {message.get('type')} {fields}".rstrip()

    def value(self, key: str, value: Any) -> str:
        """One field: headers redacted, bodies and texts as their length, the rest as repr."""
        if key == "headers" and isinstance(value, (list, tuple)):
            return self.headers(value)
        if isinstance(value, (bytes, bytearray, memoryview)) and key in ("body", "bytes"):
            data = bytes(value)
            shown = f"<{len(data)} bytes>"
            if self.include_bodies and data:
                shown += " " + _cut(repr(data[:PREVIEW_SIZE]), len(data) > PREVIEW_SIZE)
            return shown
        if isinstance(value, str) and key == "text":
            shown = f"<{len(value)} chars>"
            if self.include_bodies and value:
                shown += " " + _cut(repr(value[:PREVIEW_SIZE]), len(value) > PREVIEW_SIZE)
            return shown
        text = repr(value)
        return _cut(text[:_MAX_VALUE_REPR], len(text) > _MAX_VALUE_REPR)

    def headers(self, headers: Iterable[Any]) -> str:
        """Raw headers as ``[('name', 'value'), ...]``, credentials redacted."""
        shown = []
        for header in headers:
            name, value = bytes(header[0]), bytes(header[1])
            text = _REDACTED if name.lower() in self.redact_headers else value.decode("latin-1")
            shown.append((name.decode("latin-1"), text))
        return repr(shown)


def _cut(text: str, truncated: bool) -> str:
    return text + "..." if truncated else text


def _log_function(log: Callable[[str], object] | logging.Logger) -> Callable[[str], object]:
    if isinstance(log, logging.Logger):
        return log.info
    return log


class TraceMiddleware:
    """Log the scope and every received and sent message of each connection, in order.

    Works for ``http``, ``websocket`` and ``lifespan`` scopes; the messages pass through
    unchanged. Each line starts with ``[n]`` (the connection's number, from 1) and the time
    since the connection started; the last line is ``end`` or ``raised <error>`` (the error
    is re-raised). A send that fails is logged as ``send failed`` before its error goes on.

    Args:
        app: the ASGI app to wrap.
        log: where lines go: a callable taking a line (default ``print``) or a
            ``logging.Logger`` (lines logged at INFO).
        include_bodies: also show the start of each body and websocket message.
        redact_headers: header names whose values are never logged.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        log: Callable[[str], object] | logging.Logger = print,
        include_bodies: bool = False,
        redact_headers: Iterable[str] = REDACTED_HEADERS,
    ) -> None:
        self.app = app
        self.log = _log_function(log)
        self.formatter = TraceFormatter(
            include_bodies=include_bodies, redact_headers=redact_headers
        )
        self._connections = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        prefix = f"[{next(self._connections)}]"
        log = self.log
        formatter = self.formatter

        def emit(line: str) -> None:
            log(f"{prefix} +{(time.perf_counter() - started) * 1000:.3f}ms {line}")

        async def traced_receive() -> Message:
            message = await receive()
            emit(formatter.message("receive", message))
            return message

        async def traced_send(message: Message) -> None:
            emit(formatter.message("send", message))
            try:
                await send(message)
            except Exception as exc:
                emit(f"send failed {exc!r}")
                raise

        emit(formatter.scope(scope))
        try:
            await self.app(scope, traced_receive, traced_send)
        except BaseException as exc:
            # BaseException: a cancellation (timeout, client gone) ends the trace too.
            emit(f"raised {exc!r}")
            raise
        emit("end")
