"""FileResponse: a file from disk, with the validators and ranges browsers and CDNs use.

The pure part parses the request's conditional and ``Range`` headers into a decision
(RFC 9110 sections 13 and 14); the thin part stats and reads the file in worker threads
and sends it. A hop to a worker thread costs far more than reading a few hundred KiB, so
hops are few: a plain GET stats, opens and reads the first chunk (1 MiB) in one hop, closing
a file that fits in that same hop, and each later hop reads one chunk (seek and read
together); memory per response stays bounded by the chunk size. This module knows the
ASGI channels and the filesystem, not routing or static folders (``staticfiles`` decides
which file to serve).
"""

import contextlib
import functools
import mimetypes
import os
import secrets
import stat
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from typing import BinaryIO, Literal
from urllib.parse import quote

import anyio

from microasgi._concurrency import run_file_io, run_until_disconnect
from microasgi.background import BackgroundTask
from microasgi.datastructures import Headers
from microasgi.responses import Response, encode_header
from microasgi.responsestate import note_start, records_its_start
from microasgi.types import Message, RawHeaders, Receive, Scope, Send

# Bytes read per worker-thread hop and sent per body message: memory per response.
CHUNK_SIZE = 1024 * 1024
# More distinct ranges than this (after merging overlaps) and the Range header is ignored:
# a request must not turn one file into many small parts (RFC 9110 section 14.2).
MAX_RANGES = 16
# Range specs read from one header, before merging; past this the header is ignored.
MAX_RANGE_SPECS = 100

# Offsets longer than this many digits are past the end of any file a disk can hold.
_OFFSET_DIGITS = 18
_BEYOND_ANY_FILE = 10**_OFFSET_DIGITS

Span = tuple[int, int]  # first and last byte offsets, inclusive, as in Content-Range


@dataclass(frozen=True)
class RangeDecision:
    """What to answer a request for a file: 200 full, 206 with ``spans``, 304 or 416."""

    status: Literal[200, 206, 304, 416]
    spans: tuple[Span, ...] = ()


def parse_range(header: str, size: int) -> tuple[Span, ...] | None:
    """The byte ranges of a ``Range`` header, sorted and merged, for a file of ``size`` bytes.

    Returns ``None`` when the header must be ignored (malformed, another unit, or too many
    ranges), and ``()`` when it is well formed but no range is satisfiable (416).
    """
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if specs.count(",") >= MAX_RANGE_SPECS:  # counted before split() builds the parts
        return None
    parts = specs.split(",")
    spans: list[Span] = []
    for part in parts:
        first_text, dash, last_text = part.strip().partition("-")
        if not dash or not _is_digits(first_text or "0") or not _is_digits(last_text or "0"):
            return None
        if not first_text:  # suffix range "-N": the last N bytes
            if not last_text:
                return None
            length = _offset(last_text)
            if length > 0 and size > 0:
                spans.append((max(0, size - length), size - 1))
            continue
        first = _offset(first_text)
        if last_text and _offset(last_text) < first:
            return None  # RFC 9110 14.1.1: invalid, so the whole header is ignored
        if first < size:
            last = _offset(last_text) if last_text else size - 1
            spans.append((first, min(last, size - 1)))
    merged = _merge(spans)
    if len(merged) > MAX_RANGES:
        return None
    return tuple(merged)


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _offset(digits: str) -> int:
    """A byte offset from ASCII digits; past any file size, ``_BEYOND_ANY_FILE``.

    ``int()`` refuses more than 4,300 digits (and would spend quadratic time below that), so
    a number too long to be an offset is never converted.
    """
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _OFFSET_DIGITS else _BEYOND_ANY_FILE


def _merge(spans: list[Span]) -> list[Span]:
    """Sort spans and merge the overlapping or adjacent ones."""
    merged: list[Span] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _http_date_seconds(text: str) -> int | None:
    try:
        return int(parsedate_to_datetime(text).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): ``W/`` is ignored on both sides."""
    strong = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == strong:
            return True
    return False


def evaluate_request(
    headers: Headers, method: str, size: int, etag: str, mtime: int
) -> RangeDecision:
    """Decide the answer from the request's validators and ``Range`` (RFC 9110 13.2.2).

    If-None-Match takes precedence over If-Modified-Since; If-Range must match the
    current ETag (strongly) or Last-Modified date exactly, or the range is ignored.
    """
    if method not in ("GET", "HEAD"):
        return RangeDecision(200)
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag):
            return RangeDecision(304)
    else:
        since = headers.get("if-modified-since")
        seconds = _http_date_seconds(since) if since is not None else None
        if seconds is not None and mtime <= seconds:
            return RangeDecision(304)
    range_header = headers.get("range")
    if range_header is None:
        return RangeDecision(200)
    if_range = headers.get("if-range")
    if if_range is not None:
        if_range = if_range.strip()
        if if_range.startswith(('"', "W/")):
            if if_range != etag or etag.startswith("W/"):
                return RangeDecision(200)
        elif _http_date_seconds(if_range) != mtime:
            return RangeDecision(200)
    spans = parse_range(range_header, size)
    if spans is None:
        return RangeDecision(200)
    if not spans:
        return RangeDecision(416)
    return RangeDecision(206, spans)


def content_disposition(disposition_type: str, filename: str) -> str:
    """A Content-Disposition value. Names that are not printable ASCII get the RFC 5987
    ``filename*`` form, plus an ASCII ``filename`` fallback for old clients."""
    if filename.isascii() and filename.isprintable():
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'{disposition_type}; filename="{escaped}"'
    fallback = "".join(
        char if char.isascii() and char.isprintable() and char not in '"\\' else "_"
        for char in filename
    )
    encoded = quote(filename, safe="")
    return f"{disposition_type}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def make_etag(stat_result: os.stat_result) -> str:
    """A validator that changes whenever the file's size or modification time does."""
    return f'"{stat_result.st_mtime_ns:x}-{stat_result.st_size:x}"'


@records_its_start
class FileResponse(Response):
    """Send the file at ``path``, honouring conditional and range requests.

    Args:
        path: the file to send; it must exist when the response is sent.
        status_code: the status of a full response (ranges and 304 apply only to 200).
        headers: extra headers.
        media_type: the Content-Type; guessed from ``filename`` or ``path`` when None.
        background: a task to run after the body is sent.
        filename: offered as the download name in ``Content-Disposition``.
        stat_result: the file's ``os.stat`` result, when the caller already has it.
        content_disposition_type: ``"attachment"`` (download) or ``"inline"``.
        chunk_size: bytes read per worker-thread hop and sent per body message (at most
            this much of the file is in memory per response).

    Raises:
        RuntimeError: when sent, if ``path`` is missing or not a regular file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        content_disposition_type: Literal["attachment", "inline"] = "attachment",
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if content_disposition_type not in ("attachment", "inline"):
            raise ValueError(
                f"content_disposition_type must be 'attachment' or 'inline', "
                f"got {content_disposition_type!r}."
            )
        # Absolute now, as the pathsend extension needs it.
        self.path = os.path.abspath(path)
        self.status_code = status_code
        self.filename = filename
        self.stat_result = stat_result
        self.background = background
        self.chunk_size = chunk_size
        if media_type is None:
            media_type = mimetypes.guess_type(filename or self.path)[0]
        self.media_type = media_type or "application/octet-stream"
        self.raw_headers = self._initial_headers(headers)
        if filename is not None:
            value = content_disposition(content_disposition_type, filename)
            self.raw_headers.append(encode_header("content-disposition", value))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope.get("method", "GET")
        pathsend = "http.response.pathsend" in scope.get("extensions", {})
        opened: _Opened | None = None
        stat_result = self.stat_result
        if method != "HEAD" and not pathsend and self._whole_file_whatever_the_stat(scope):
            # One hop: stat, open and read the first chunk (all of a file up to chunk_size).
            opened = await run_file_io(_open_and_read, self.path, stat_result, self.chunk_size)
            stat_result = opened.stat_result
        elif stat_result is None:
            stat_result = await run_file_io(_stat_file, self.path)
        try:
            await self._answer(scope, receive, send, stat_result, opened)
        finally:
            if opened is not None and not opened.file.closed:
                with anyio.CancelScope(shield=True):
                    await run_file_io(opened.file.close)
        if self.background is not None:
            await self.background()

    def _whole_file_whatever_the_stat(self, scope: Scope) -> bool:
        """True when no validator or range can change the answer from the whole file."""
        if self.status_code != 200 or scope.get("method", "GET") != "GET":
            return True
        return not any(name in _DECIDING_HEADERS for name, _ in scope.get("headers", ()))

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        stat_result: os.stat_result,
        opened: "_Opened | None",
    ) -> None:
        """Send the status, headers and body the request's validators and Range decide."""
        size = stat_result.st_size
        etag = make_etag(stat_result)
        method: str = scope.get("method", "GET")
        decision = RangeDecision(200)
        if self.status_code == 200:
            headers = Headers(scope=scope)
            decision = evaluate_request(headers, method, size, etag, int(stat_result.st_mtime))
        raw = [pair for pair in self.raw_headers if pair[0] != b"content-length"]
        raw += [
            (b"accept-ranges", b"bytes"),
            (b"last-modified", formatdate(stat_result.st_mtime, usegmt=True).encode()),
            (b"etag", etag.encode()),
        ]
        with_body = method != "HEAD"
        if decision.status in (304, 416):
            # Neither carries the representation: drop its Content-* fields but the location
            # (RFC 9110 15.4.5).
            raw = [
                pair
                for pair in raw
                if not pair[0].startswith(b"content-") or pair[0] == b"content-location"
            ]
            if decision.status == 416:
                raw += [(b"content-range", f"bytes */{size}".encode()), (b"content-length", b"0")]
            note_start(scope)
            await send({"type": "http.response.start", "status": decision.status, "headers": raw})
            await send({"type": "http.response.body", "body": b""})
        elif len(decision.spans) > 1:
            await self._send_multipart(scope, receive, send, raw, decision.spans, size, with_body)
        else:
            status, (first, last) = self.status_code, (0, size - 1)
            if decision.spans:
                status, (first, last) = 206, decision.spans[0]
                raw.append((b"content-range", f"bytes {first}-{last}/{size}".encode()))
            raw.append((b"content-length", str(last - first + 1).encode()))
            note_start(scope)
            await send({"type": "http.response.start", "status": status, "headers": raw})
            if not with_body:
                await send({"type": "http.response.body", "body": b""})
            elif status != 206 and "http.response.pathsend" in scope.get("extensions", {}):
                # The server sends the file itself (the ASGI pathsend extension).
                await send({"type": "http.response.pathsend", "path": self.path})
            else:
                parts = [(b"", (first, last))]
                sending = functools.partial(self._send_file, parts=parts, opened=opened)
                await _until_disconnect(scope, receive, send, sending)

    async def _send_multipart(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw: RawHeaders,
        spans: tuple[Span, ...],
        size: int,
        with_body: bool,
    ) -> None:
        """A 206 ``multipart/byteranges`` body: one part per span (RFC 9110 14.6)."""
        boundary = secrets.token_hex(16)
        media_type = next((value for name, value in raw if name == b"content-type"), b"")
        # Each part after the first starts with the CRLF that ends the previous part's data.
        parts = [
            ((b"\r\n" if index else b"") + _part_head(boundary, media_type, span, size), span)
            for index, span in enumerate(spans)
        ]
        tail = f"\r\n--{boundary}--\r\n".encode()
        length = sum(len(head) + last - first + 1 for head, (first, last) in parts) + len(tail)
        raw = [pair for pair in raw if pair[0] != b"content-type"]
        raw += [
            (b"content-type", f"multipart/byteranges; boundary={boundary}".encode()),
            (b"content-length", str(length).encode()),
        ]
        note_start(scope)
        await send({"type": "http.response.start", "status": 206, "headers": raw})
        if with_body:
            await _until_disconnect(
                scope, receive, send, functools.partial(self._send_file, parts=parts, tail=tail)
            )
        else:
            await send({"type": "http.response.body", "body": b""})

    async def _send_file(
        self,
        send: Send,
        parts: list[tuple[bytes, Span]],
        tail: bytes = b"",
        opened: "_Opened | None" = None,
    ) -> None:
        """Send each part's head and then its bytes, read ``chunk_size`` per worker-thread hop.

        ``opened`` is the file already open with its first bytes read (one part, from 0).
        The hop that reads the last chunk also closes the file.
        """
        if opened is None:
            file: BinaryIO = await run_file_io(open, self.path, "rb")
            ahead = b""
        else:
            file, ahead = opened.file, opened.head
        try:
            last_part = len(parts) - 1
            for index, (head, (first, last)) in enumerate(parts):
                if head:
                    await send({"type": "http.response.body", "body": head, "more_body": True})
                offset = first
                while offset <= last:
                    wanted = min(self.chunk_size, last - offset + 1)
                    if ahead:  # a short read-ahead is caught by the read that follows it
                        chunk, ahead = ahead, b""
                    else:
                        closing = index == last_part and offset + wanted > last
                        chunk = await run_file_io(_read_at, file, offset, wanted, closing)
                        if len(chunk) < wanted:
                            # The file shrank while being sent: the length promised can't be kept.
                            raise RuntimeError(f"FileResponse: {self.path!r} changed while sent.")
                    offset += len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": tail})
        finally:
            if not file.closed:
                with anyio.CancelScope(shield=True):
                    await run_file_io(file.close)


# Request headers that can turn a GET of a 200 file into a 206, 304 or 416.
_DECIDING_HEADERS = frozenset((b"range", b"if-none-match", b"if-modified-since"))


@dataclass
class _Opened:
    """A file opened by ``_open_and_read``: its stat, and the bytes read from offset 0.

    ``file`` is already closed when ``head`` holds the whole file.
    """

    stat_result: os.stat_result
    file: BinaryIO
    head: bytes


def _open_and_read(path: str, stat_result: os.stat_result | None, read_ahead: int) -> _Opened:
    """Stat (unless known), open and read up to ``read_ahead`` bytes: one worker-thread hop."""
    if stat_result is None:
        stat_result = _stat_file(path)
    file = open(path, "rb")  # noqa: SIM115 - closed here when fully read, else by the sender
    try:
        head = file.read(min(read_ahead, stat_result.st_size))
        if len(head) >= stat_result.st_size:
            file.close()
    except BaseException:
        file.close()
        raise
    return _Opened(stat_result, file, head)


def _read_at(file: BinaryIO, offset: int, size: int, close: bool) -> bytes:
    """Up to ``size`` bytes at ``offset`` (short only at the end of the file); close after
    when ``close``, so the last read and the close share one worker-thread hop."""
    try:
        if file.tell() != offset:
            file.seek(offset)
        return file.read(size)
    finally:
        if close:
            file.close()


class _ClientGone(Exception):
    """send() failed: the client left (told apart from an OSError reading the file)."""


async def _until_disconnect(
    scope: Scope, receive: Receive, send: Send, sending: Callable[[Send], Awaitable[None]]
) -> None:
    """Run ``sending(send)``, stopping quietly if the client leaves first."""

    async def checked_send(message: Message) -> None:
        try:
            await send(message)
        except OSError as exc:  # ASGI 2.4: send() raises once the client is gone
            raise _ClientGone() from exc

    with contextlib.suppress(_ClientGone):
        await run_until_disconnect(scope, receive, functools.partial(sending, checked_send))


def _part_head(boundary: str, media_type: bytes, span: Span, size: int) -> bytes:
    first, last = span
    return (
        f"--{boundary}\r\nContent-Type: {media_type.decode('latin-1')}\r\n"
        f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
    ).encode("latin-1")


def _stat_file(path: str) -> os.stat_result:
    try:
        stat_result = os.stat(path)
    except FileNotFoundError:
        raise RuntimeError(f"FileResponse: the file {path!r} does not exist.") from None
    if not stat.S_ISREG(stat_result.st_mode):
        raise RuntimeError(f"FileResponse: {path!r} is not a regular file.")
    return stat_result
