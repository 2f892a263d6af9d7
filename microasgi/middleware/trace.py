"""TraceMiddleware: record the scope and every ASGI message of each connection, in order.

Each connection becomes a :class:`Trace`: its scope, then one :class:`TraceEvent` per
message received or sent, each timed from the start of the connection
(``time.perf_counter``). When the connection ends the finished trace goes to a callback,
or by default to the ``microasgi.trace`` logger as a compact timeline::

    [1] +0.000ms scope http method='GET' path='/' ... headers=[('host', 'testserver')]
    [1] +0.041ms receive http.request body=<0 bytes> more_body=False
    [1] +0.350ms send http.response.start status=200 headers=[('content-length', '13')]
    [1] +0.402ms send http.response.body body=<13 bytes>
    [1] +0.430ms end

Every value is a capped preview: credentials in headers are masked, bodies show their
length only unless asked for, and control characters are escaped, so nothing a client
sends can forge a log line. The ``python -m microasgi trace`` command prints the same
timeline. This module knows ASGI messages, not requests, responses or routing.
"""

import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from microasgi.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "PREVIEW_SIZE",
    "REDACTED_HEADERS",
    "Trace",
    "TraceEvent",
    "TraceFormatter",
    "TraceMiddleware",
    "escape_controls",
    "format_line",
    "log_trace",
]

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
# C0 and C1 controls and the Unicode line breaks: a log line must hold none of them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

logger = logging.getLogger("microasgi.trace")

Direction = Literal["receive", "send"]


def escape_controls(text: str) -> str:
    """``text`` with every control character written as a Python escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda match: repr(match[0])[1:-1], text)


@dataclass(slots=True)
class TraceEvent:
    """One message of a connection, as a preview.

    Attributes:
        direction: ``"receive"`` (the app got it) or ``"send"`` (the app sent it).
        type: the message's ``type``, e.g. ``"http.response.start"``.
        time: seconds since the connection reached the middleware.
        fields: the message's other keys, each value a capped, redacted preview (text).
        error: for a send the server refused, the error it raised (``repr``), else None.
    """

    direction: Direction
    type: str
    time: float
    fields: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-serialisable data (``json.dumps`` takes it as it is)."""
        return {
            "direction": self.direction,
            "type": self.type,
            "time": round(self.time, 6),
            "fields": dict(self.fields),
            "error": self.error,
        }

    def describe(self) -> str:
        """``send http.response.start status=200 headers=[...]``: the event in one line."""
        fields = "".join(f" {key}={value}" for key, value in self.fields.items())
        return f"{self.direction} {self.type}{fields}"


@dataclass(slots=True)
class Trace:
    """One connection (an HTTP request, a websocket session or a lifespan) as recorded.

    Attributes:
        number: the connection's number for the middleware that saw it, from 1.
        type: the scope's type: ``"http"``, ``"websocket"`` or ``"lifespan"``.
        scope: the scope's keys as previews (credentials masked, noise such as ``state``
            left out), in reading order.
        started_at: wall-clock time (``time.time()``) the connection reached the middleware.
        clock: ``time.perf_counter()`` at that moment, to order the events of several
            traces of one process (event times are relative to it).
        events: the messages, in the order they happened.
        duration: seconds from the start to the app's return (None while it runs).
        error: what the app raised (``repr``), or None when it returned.
    """

    number: int
    type: str
    scope: dict[str, str]
    started_at: float
    clock: float = 0.0
    events: list[TraceEvent] = field(default_factory=list)
    duration: float | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        """True once the app returned or raised."""
        return self.duration is not None

    def to_dict(self) -> dict[str, Any]:
        """The trace as JSON-serialisable data, events in order (times in seconds, rounded
        to the microsecond)."""
        return {
            "number": self.number,
            "type": self.type,
            "scope": dict(self.scope),
            "started_at": self.started_at,
            "duration": None if self.duration is None else round(self.duration, 6),
            "events": [event.to_dict() for event in self.events],
            "error": self.error,
        }

    def timeline(self) -> list[tuple[float, str]]:
        """``(time, text)`` for the scope, every event and the end, in order."""
        scope = "".join(f" {key}={value}" for key, value in self.scope.items())
        lines = [(0.0, f"scope {self.type}{scope}")]
        for event in self.events:
            lines.append((event.time, event.describe()))
            if event.error is not None:
                lines.append((event.time, f"send failed {event.error}"))
        if self.duration is not None:
            ending = "end" if self.error is None else f"raised {self.error}"
            lines.append((self.duration, ending))
        return lines

    def lines(self) -> list[str]:
        """The timeline as text: ``[n] +T.TTTms EVENT`` per line, no control characters."""
        return [format_line(self.number, at, text) for at, text in self.timeline()]


def format_line(number: int, at: float, text: str) -> str:
    """``[number] +milliseconds text``: one timeline line."""
    return f"[{number}] +{at * 1000:.3f}ms {text}"


class TraceFormatter:
    """Turns scopes and messages into previews (pure: no clock, no I/O).

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

    def scope_fields(self, scope: Scope) -> dict[str, str]:
        """The scope's keys worth reading, as previews, in reading order."""
        keys = [key for key in _SCOPE_ORDER if key in scope]
        keys += sorted(
            str(key) for key in scope if key not in _SCOPE_ORDER and key not in _SCOPE_SKIPPED
        )
        return {escape_controls(key): self.value(key, scope[key]) for key in keys}

    def message_fields(self, message: Message) -> dict[str, str]:
        """A message's keys other than ``type``, as previews."""
        return {
            escape_controls(str(key)): self.value(key, value)
            for key, value in message.items()
            if key != "type"
        }

    def value(self, key: str, value: Any) -> str:
        """One preview: headers redacted, bodies and texts as their length, the rest as repr."""
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
            return escape_controls(shown)
        return _capped_repr(value)

    def headers(self, headers: Iterable[Any]) -> str:
        """Raw headers as ``[('name', 'value'), ...]``, credentials redacted."""
        try:
            pairs = [(bytes(name), bytes(value)) for name, value in headers]
        except (TypeError, ValueError):
            return _capped_repr(headers)
        shown = [
            (
                name.decode("latin-1"),
                _REDACTED if name.lower() in self.redact_headers else value.decode("latin-1"),
            )
            for name, value in pairs
        ]
        return escape_controls(repr(shown))


def _capped_repr(value: Any) -> str:
    text = repr(value)
    return escape_controls(_cut(text[:_MAX_VALUE_REPR], len(text) > _MAX_VALUE_REPR))


def _cut(text: str, truncated: bool) -> str:
    return text + "..." if truncated else text


def log_trace(trace: Trace) -> None:
    """The default callback: the trace's timeline as one INFO record on ``microasgi.trace``.

    The record carries the trace itself as ``record.trace`` for handlers that want it.
    """
    if logger.isEnabledFor(logging.INFO):
        logger.info("%s", "\n".join(trace.lines()), extra={"trace": trace})


class TraceMiddleware:
    """Record the scope and every received and sent message of each connection, in order.

    Works for ``http``, ``websocket`` and ``lifespan`` scopes; the messages pass through
    unchanged. When the app returns or raises (a cancellation included; the error goes
    on), the finished :class:`Trace` is handed to ``callback``.

    Args:
        app: the ASGI app to wrap.
        callback: called with each finished trace; by default the trace is logged as a
            timeline at INFO on the ``microasgi.trace`` logger (and nothing is recorded
            while that logger is not enabled for INFO). A callback that raises
            fails the connection, so keep it simple (append to a list, put on a queue).
        include_bodies: also show the start of each body and websocket message.
        redact_headers: header names whose values are masked; by default
            ``Authorization``, ``Proxy-Authorization``, ``Cookie`` and ``Set-Cookie``.
    """

    def __init__(
        self,
        app: ASGIApp,
        callback: Callable[[Trace], object] | None = None,
        *,
        include_bodies: bool = False,
        redact_headers: Iterable[str] = REDACTED_HEADERS,
    ) -> None:
        self.app = app
        self.callback: Callable[[Trace], object] = log_trace if callback is None else callback
        self.formatter = TraceFormatter(
            include_bodies=include_bodies, redact_headers=redact_headers
        )
        self._connections = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.callback is log_trace and not logger.isEnabledFor(logging.INFO):
            # Nobody would read the trace: do not pay for recording it.
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        formatter = self.formatter
        trace = Trace(
            number=next(self._connections),
            type=escape_controls(str(scope.get("type"))),
            scope=formatter.scope_fields(scope),
            started_at=time.time(),
            clock=started,
        )
        events = trace.events

        def record(direction: Direction, message: Message) -> TraceEvent:
            event = TraceEvent(
                direction,
                escape_controls(str(message.get("type"))),
                time.perf_counter() - started,
                formatter.message_fields(message),
            )
            events.append(event)
            return event

        async def traced_receive() -> Message:
            message = await receive()
            record("receive", message)
            return message

        async def traced_send(message: Message) -> None:
            event = record("send", message)
            try:
                await send(message)
            except Exception as exc:
                event.error = _capped_repr(exc)
                raise

        try:
            await self.app(scope, traced_receive, traced_send)
        except BaseException as exc:
            # BaseException: a cancellation (timeout, client gone) ends the trace too.
            trace.error = _capped_repr(exc)
            raise
        finally:
            trace.duration = time.perf_counter() - started
            self.callback(trace)
