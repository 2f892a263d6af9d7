"""Server-Sent Events: the ``text/event-stream`` format and a response that streams it.

``ServerSentEvent`` encodes one event (WHATWG HTML, "Server-sent events"); fields that
could break the framing are refused. ``EventSourceResponse`` sends events from a sync or
async iterable, a ping comment when the stream has been quiet, and stops, closing the
iterable, when the client disconnects. Every ``send`` happens in the response's own task;
a child task only pulls the next event. This module knows the ASGI channels, not routing.
"""

import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

import anyio

from microasgi._concurrency import iterate_in_threadpool, run_in_threadpool, run_until_disconnect
from microasgi.background import BackgroundTask
from microasgi.responses import Response
from microasgi.responsestate import note_start, records_its_start
from microasgi.types import Receive, Scope, Send

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
PING = b": ping\n\n"


class ServerSentEvent:
    """One event of a ``text/event-stream``.

    Args:
        data: the event's text; line breaks become several ``data:`` lines, which the
            browser joins back with ``\\n``.
        event: the event type (``message`` when absent); no CR or LF.
        id: the event id the browser sends back as ``Last-Event-ID``; no CR, LF or NUL.
        retry: the reconnection delay in milliseconds, a non-negative int.
        comment: a comment (browsers ignore it; proxies see traffic); may span lines.

    Raises:
        ValueError: a field holds a character that would break the event framing.
        TypeError: a field has the wrong type (encode other data, e.g. with json.dumps).
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: str | None = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        for label, text in (("data", data), ("event", event), ("id", id), ("comment", comment)):
            if text is not None and not isinstance(text, str):
                raise TypeError(
                    f"ServerSentEvent {label} must be str, got {type(text).__name__}; "
                    "encode it first (for example with json.dumps)."
                )
        if event is not None and ("\r" in event or "\n" in event):
            raise ValueError(f"ServerSentEvent event must not contain CR or LF: {event!r}")
        if id is not None and ("\r" in id or "\n" in id or "\0" in id):
            # The spec makes browsers ignore an id holding NUL; refuse it rather than lose it.
            raise ValueError(f"ServerSentEvent id must not contain CR, LF or NUL: {id!r}")
        if retry is not None and (type(retry) is not int or retry < 0):
            raise ValueError(f"ServerSentEvent retry must be a non-negative int, got {retry!r}")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        """The event as UTF-8 bytes, ending with the blank line that dispatches it."""
        lines: list[str] = []
        if self.comment is not None:
            lines += [f": {line}" if line else ":" for line in _LINE_BREAK.split(self.comment)]
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            lines += [f"data: {line}" for line in _LINE_BREAK.split(self.data)]
        return ("\n".join(lines) + "\n\n").encode("utf-8")

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("data", "event", "id", "retry", "comment")
            if getattr(self, name) is not None
        )
        return f"{type(self).__name__}({fields})"


EventItem = ServerSentEvent | Mapping[str, Any] | str
EventSource = AsyncIterable[EventItem] | Iterable[EventItem]


def encode_event(item: EventItem) -> bytes:
    """Encode an item of an event source: an event, a mapping of its fields, or data text."""
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, str):
        return ServerSentEvent(data=item).encode()
    if isinstance(item, Mapping):
        return ServerSentEvent(**item).encode()
    raise TypeError(
        f"An event source must yield ServerSentEvent, dict or str, got {type(item).__name__}."
    )


@records_its_start
class EventSourceResponse(Response):
    """Stream Server-Sent Events from a sync or async iterable.

    Args:
        events: yields ``ServerSentEvent``, a dict of its fields, or a str (the data).
            Sync iterables run in a worker thread.
        ping: seconds without an event after which a ``: ping`` comment is sent, so
            proxies keep the connection open; ``None`` or ``0`` sends none. A negative
            or NaN value is a ``ValueError``.
        status_code, headers, background: as for ``Response``; ``headers`` may override
            the defaults (``Cache-Control: no-cache``, ``X-Accel-Buffering: no``).

    When the client disconnects, the iterable is closed (a generator's ``finally`` runs)
    and the response ends quietly. A failing iterable's error is re-raised as is.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: EventSource,
        *,
        ping: float | None = 15.0,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if ping is not None and not ping >= 0:
            raise ValueError(f"ping must be None or a number of seconds >= 0, got {ping!r}.")
        self.status_code = status_code
        self.background = background
        self.events = events
        self.ping = ping or None
        merged = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        for name, value in (headers or {}).items():
            for default in [key for key in merged if key.lower() == name.lower()]:
                del merged[default]
            merged[name] = value
        self.raw_headers = self._initial_headers(merged)

    def _iterate(self) -> AsyncIterator[EventItem]:
        if isinstance(self.events, AsyncIterable):
            return aiter(self.events)
        return iterate_in_threadpool(self.events)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        note_start(scope)
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") == "HEAD":
            await _close_source(self.events)
            await send({"type": "http.response.body", "body": b""})
        elif not await self._stream(scope, receive, send):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.background is not None:
            await self.background()

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Send the events until the source ends; True if the client left first."""
        disconnected = False
        failures: list[Exception] = []
        # Zero buffer: the producer pulls the next event only once the last one was sent.
        sender, receiver = anyio.create_memory_object_stream[bytes](0)
        # Its own scope, so finishing normally cancels only the producer, never this task.
        producing = anyio.CancelScope()

        async def produce() -> None:
            with producing:
                events = self._iterate()
                try:
                    async for item in events:
                        await sender.send(encode_event(item))
                except Exception as exc:  # re-raised by the response task, outside the group
                    failures.append(exc)
                finally:
                    sender.close()
                    aclose = getattr(events, "aclose", None)
                    if aclose is not None:
                        with anyio.CancelScope(shield=True):
                            await aclose()

        async def send_events() -> None:
            nonlocal disconnected
            try:
                while True:
                    data = PING
                    with anyio.move_on_after(self.ping):
                        data = await receiver.receive()
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            except anyio.EndOfStream:
                pass
            except OSError:  # ASGI 2.4: send() raises once the client is gone
                disconnected = True

        with sender, receiver:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(produce)
                if await run_until_disconnect(scope, receive, send_events):
                    disconnected = True
                producing.cancel()
        if failures:
            raise failures[0]
        return disconnected


async def _close_source(events: EventSource) -> None:
    """Close an event source that will not be iterated (a HEAD request)."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(events, "close", None)
    if close is not None:
        await run_in_threadpool(close)
