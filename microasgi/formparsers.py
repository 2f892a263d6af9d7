"""Form bodies: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

Both parsers consume the request body chunk by chunk as it arrives and check their limits
as they go, so a hostile body is refused with 400 before the rest of it is read. Multipart
parsing is driven through the ``multipart`` package's push parser; file parts go to
``UploadFile`` objects over a ``SpooledTemporaryFile`` that moves to disk past 1 MiB (its
disk writes run in a worker thread). This module knows the body stream and the form types,
not the request or the router.
"""

import re
import tempfile
from collections.abc import AsyncIterator
from urllib.parse import unquote_to_bytes

import anyio
import multipart

from microasgi.datastructures import FormData, Headers, UploadFile
from microasgi.exceptions import HTTPException

# Files stay in memory up to this size, then roll over to a temporary file on disk.
SPOOL_MAX_SIZE = 1024 * 1024
# One header line of a part (the Content-Disposition with its filename, usually).
MAX_PART_HEADER_SIZE = 8 * 1024
# Headers per part; RFC 7578 needs at most three.
MAX_PART_HEADER_COUNT = 8
# RFC 2046 section 5.1.1: 1 to 70 characters from this set, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# Percent-encoding at most triples a value's size.
_ENCODING_FACTOR = 3

FormItem = tuple[str, str | UploadFile]


async def parse_form(
    content_type: str,
    stream: AsyncIterator[bytes],
    *,
    max_files: int,
    max_fields: int,
    max_part_size: int,
) -> FormData:
    """Parse a form body from ``stream`` according to ``content_type``.

    A body of any other media type gives an empty ``FormData`` and the stream is left
    unread (as a browser form never sends one, the app decides what else to accept).

    Args:
        content_type: the request's Content-Type header ("" when absent).
        stream: the body chunks, already bounded by the route's ``max_body_size``.
        max_files: the most file parts accepted.
        max_fields: the most non-file fields accepted.
        max_part_size: the largest non-file field value, in bytes (files are not bounded
            here: they go to disk, bounded by ``max_body_size``).

    Raises:
        HTTPException: 400 for a malformed body or a missing boundary, and 400 naming
            the limit as soon as one is passed.
    """
    media_type, options = multipart.parse_options_header(content_type)
    if media_type == "application/x-www-form-urlencoded":
        return await _parse_urlencoded(stream, max_fields, max_part_size)
    if media_type == "multipart/form-data":
        boundary: str = options.get("boundary", "")
        if not _BOUNDARY.fullmatch(boundary):
            raise HTTPException(
                400,
                "Invalid multipart/form-data body: the Content-Type needs a boundary of "
                "1 to 70 characters (RFC 2046).",
            )
        return await _MultipartReader(boundary, max_files, max_fields, max_part_size).read(stream)
    return FormData()


def _too_many_fields(max_fields: int) -> HTTPException:
    return HTTPException(400, f"Too many form fields: the limit is max_fields={max_fields}.")


def _field_too_large(name: str, max_part_size: int) -> HTTPException:
    return HTTPException(
        400, f"Form field {name!r} is too large: the limit is max_part_size={max_part_size} bytes."
    )


def _unquote(text: bytes) -> str:
    # Decode percent-escapes to bytes first, then UTF-8, so multi-byte characters survive.
    return unquote_to_bytes(text.replace(b"+", b" ")).decode("utf-8", "replace")


def _decode_pair(pair: bytes, max_part_size: int) -> FormItem:
    raw_name, _, raw_value = pair.partition(b"=")
    name, value = _unquote(raw_name), _unquote(raw_value)
    if len(value.encode("utf-8")) > max_part_size:
        raise _field_too_large(name, max_part_size)
    return name, value


async def _parse_urlencoded(
    stream: AsyncIterator[bytes], max_fields: int, max_part_size: int
) -> FormData:
    """Split ``name=value&...`` as it arrives, counting fields as they complete."""
    items: list[FormItem] = []
    pending = b""
    # The longest encoded pair a value within max_part_size can need (plus its name).
    max_pending = _ENCODING_FACTOR * max_part_size + MAX_PART_HEADER_SIZE
    async for chunk in stream:
        *complete, pending = (pending + chunk).split(b"&")
        for pair in complete:
            if pair:
                if len(items) >= max_fields:
                    raise _too_many_fields(max_fields)
                items.append(_decode_pair(pair, max_part_size))
        if len(pending) > max_pending:
            name = _unquote(pending.partition(b"=")[0][:100])
            raise _field_too_large(name, max_part_size)
    if pending:
        if len(items) >= max_fields:
            raise _too_many_fields(max_fields)
        items.append(_decode_pair(pending, max_part_size))
    return FormData(items)


class _MultipartReader:
    """Feeds body chunks to the push parser and turns its events into form items."""

    def __init__(self, boundary: str, max_files: int, max_fields: int, max_part_size: int):
        self.parser = multipart.PushMultipartParser(
            boundary,
            max_header_size=MAX_PART_HEADER_SIZE,
            max_header_count=MAX_PART_HEADER_COUNT,
        )
        self.max_files = max_files
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self.items: list[FormItem] = []
        self.files: list[UploadFile] = []  # every file opened, to close them on errors
        self.field_count = 0
        self.name = ""
        self.upload: UploadFile | None = None
        self.value = bytearray()
        self.charset = "utf-8"

    async def read(self, stream: AsyncIterator[bytes]) -> FormData:
        try:
            async for chunk in stream:
                await self._feed(chunk)
            await self._feed(b"")  # end of input: the parser checks the body was complete
        except multipart.ParserLimitReached as exc:
            await self._close_files()
            raise HTTPException(
                400,
                f"Multipart part headers too large ({exc}): the limits are "
                f"{MAX_PART_HEADER_SIZE} bytes per line and {MAX_PART_HEADER_COUNT} lines.",
            ) from None
        except multipart.MultipartError as exc:
            await self._close_files()
            raise HTTPException(400, f"Invalid multipart/form-data body: {exc}.") from None
        except BaseException:
            # Limits, 413, a client gone, cancellation: no temporary file outlives the request.
            await self._close_files()
            raise
        return FormData(self.items)

    async def _feed(self, chunk: bytes) -> None:
        for event in self.parser.parse(chunk):
            if event is None:
                await self._end_part()
            elif isinstance(event, bytes | bytearray):
                await self._on_data(event)
            else:
                self._start_part(event)

    def _start_part(self, segment: multipart.MultipartSegment) -> None:
        self.name = segment.name or ""
        self.charset = segment.charset or "utf-8"
        if segment.filename is None:
            self.field_count += 1
            if self.field_count > self.max_fields:
                raise _too_many_fields(self.max_fields)
            self.value = bytearray()
            return
        if len(self.files) >= self.max_files:
            raise HTTPException(
                400, f"Too many files in the form: the limit is max_files={self.max_files}."
            )
        # The parser decoded the header bytes as UTF-8; encode them back to the wire bytes.
        headers = Headers(
            raw=[
                (name.lower().encode("utf-8"), value.encode("utf-8"))
                for name, value in segment.headerlist
            ]
        )
        # Closed by FormData.close(), or by _close_files() on errors.
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_SIZE)  # noqa: SIM115
        self.upload = UploadFile(spool, size=0, filename=segment.filename, headers=headers)
        self.files.append(self.upload)

    async def _on_data(self, data: bytes | bytearray) -> None:
        if self.upload is not None:
            await self.upload.write(bytes(data))
            return
        self.value += data
        if len(self.value) > self.max_part_size:
            raise _field_too_large(self.name, self.max_part_size)

    async def _end_part(self) -> None:
        if self.upload is not None:
            await self.upload.seek(0)
            self.items.append((self.name, self.upload))
            self.upload = None
            return
        try:
            text = self.value.decode(self.charset, "replace")
        except LookupError:  # an unknown charset named by the client
            text = self.value.decode("utf-8", "replace")
        self.items.append((self.name, text))

    async def _close_files(self) -> None:
        with anyio.CancelScope(shield=True):
            for upload in self.files:
                await upload.close()
