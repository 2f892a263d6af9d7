"""Form bodies: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

Both parsers consume the request body chunk by chunk as it arrives and check their limits
as they go, so a hostile body is refused with 400 before the rest of it is read. Multipart
parsing is driven through the ``multipart`` package's push parser; file parts go to
``UploadFile`` objects over a ``SpooledTemporaryFile`` that moves to disk past 1 MiB (its
disk writes run in a worker thread). This module knows the body stream and the form types,
not the request or the router.
"""

import binascii
import re
import tempfile
from collections.abc import AsyncIterator

import anyio
import multipart

from microasgi.datastructures import FormData, Headers, UploadFile
from microasgi.exceptions import HTTPException

# Files stay in memory up to this size, then roll over to a temporary file on disk.
SPOOL_MAX_SIZE = 1024 * 1024
# One header line of a part (the Content-Disposition with its filename, usually).
MAX_PART_HEADER_SIZE = 4 * 1024
# Headers per part; RFC 7578 needs at most three.
MAX_PART_HEADER_COUNT = 8
# RFC 2046 section 5.1.1: 1 to 70 characters from this set, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# A urlencoded field name, as sent; the value is bounded by max_part_size.
MAX_FIELD_NAME_SIZE = 4 * 1024
# A "%" that does not start an escape: kept as is, as unquote_to_bytes keeps it.
_LONE_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_LINE_BREAK = frozenset("\r\n")
# The push parser's state once the closing boundary was read (see _MultipartReader).
_PARSER_COMPLETE = getattr(multipart, "_COMPLETE", object())

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
        max_part_size: the largest non-file field value, in bytes as sent (a urlencoded
            ``%XX`` escape counts three; files are not bounded here: they go to disk,
            bounded by ``max_body_size``).

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


def percent_decode(text: bytes) -> bytes:
    """Decode ``+`` and ``%XX`` escapes as ``unquote_to_bytes`` does, at C speed.

    ``unquote_to_bytes`` builds one bytes object per escape: a 3 MB body of ``%41`` cost
    over 200 MB and a third of a second. Here ``%`` escapes are rewritten as the ``=XX``
    escapes of quoted-printable and decoded by ``binascii``; a ``%`` not followed by two
    hex digits (which both decoders keep as is) is escaped first, by a regex pass only when
    the cheap length check shows there is one.
    """
    text = text.replace(b"+", b" ")  # bytes.replace returns the same object when no match
    if b"%" not in text:
        return text
    # Every "=" must start an escape, and a2b_qp treats bare line breaks after "=" specially.
    prepared = text.replace(b"=", b"=3D").replace(b"\r", b"=0D").replace(b"\n", b"=0A")
    prepared = prepared.replace(b"%", b"=")
    decoded = binascii.a2b_qp(prepared)
    if len(decoded) == len(prepared) - 2 * prepared.count(b"="):
        return decoded  # each "=" took two hex digits: no lone "%"
    return percent_decode(_LONE_PERCENT.sub(b"%25", text))


def _unquote(text: bytes) -> str:
    # Decode percent-escapes to bytes first, then UTF-8, so multi-byte characters survive.
    return percent_decode(text).decode("utf-8", "replace")


def _split_pair(pair: bytes | bytearray, max_part_size: int) -> tuple[bytes, bytes]:
    """The raw name and value of ``name=value``, each copied once, limits checked."""
    equals = pair.find(b"=")
    if equals < 0:
        equals = len(pair)
    # Slices of a view copy nothing: the value is copied once, into bytes.
    with memoryview(pair) as view:
        raw_name, raw_value = bytes(view[:equals]), bytes(view[equals + 1 :])
    if len(raw_value) > max_part_size:  # counted as sent: an escape is three bytes
        raise _field_too_large(_unquote(raw_name[:100]), max_part_size)
    if len(raw_name) > MAX_FIELD_NAME_SIZE:
        raise HTTPException(
            400, f"Form field name too long: the limit is {MAX_FIELD_NAME_SIZE} bytes."
        )
    return raw_name, raw_value


async def _parse_urlencoded(
    stream: AsyncIterator[bytes], max_fields: int, max_part_size: int
) -> FormData:
    """Split ``name=value&...`` as it arrives, counting fields as they complete.

    Only the new chunk is searched for ``&``, and the pending pair grows in place, so a
    pair arriving in many small chunks costs linear time.
    """
    items: list[FormItem] = []
    pending = bytearray()
    # The longest encoded pair a value within max_part_size can need (plus its name).
    max_pending = max_part_size + MAX_FIELD_NAME_SIZE

    def add(pair: bytes | bytearray) -> None:
        if pair:
            if len(items) >= max_fields:
                raise _too_many_fields(max_fields)
            raw_name, raw_value = _split_pair(pair, max_part_size)
            if isinstance(pair, bytearray):
                pair.clear()  # the pending buffer: freed before the value is decoded
            items.append((_unquote(raw_name), _unquote(raw_value)))

    async for chunk in stream:
        if b"&" in chunk:
            first, *complete, last = chunk.split(b"&")
            pending += first
            add(pending)
            for pair in complete:
                add(pair)
            pending = bytearray(last)
        else:
            pending += chunk
        if len(pending) > max_pending:
            name = _unquote(bytes(pending[:100]).partition(b"=")[0])
            raise _field_too_large(name, max_part_size)
    add(pending)
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
        self.skipping = False  # inside a part without a name

    async def read(self, stream: AsyncIterator[bytes]) -> FormData:
        try:
            async for chunk in stream:
                await self._feed(chunk)
                if self._complete():
                    # The closing boundary: the epilogue is never read (RFC 2046 says to
                    # ignore it, and it may be endless).
                    return FormData(self.items)
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

    def _complete(self) -> bool:
        # The push parser has no public "complete" flag (it sets `closed` only on close());
        # its state after the closing boundary is the module's _COMPLETE marker.
        return getattr(self.parser, "_state", None) is _PARSER_COMPLETE

    async def _feed(self, chunk: bytes) -> None:
        for event in self.parser.parse(chunk):
            if event is None:
                await self._end_part()
            elif isinstance(event, bytes | bytearray):
                await self._on_data(event)
            else:
                self._start_part(event)

    def _start_part(self, segment: multipart.MultipartSegment) -> None:
        for name, value in segment.headerlist:
            # The parser splits header lines on CRLF only: a bare CR or LF would let one
            # header smuggle another (a Content-Type) into its value.
            if not _LINE_BREAK.isdisjoint(name) or not _LINE_BREAK.isdisjoint(value):
                raise multipart.MultipartError("bare CR or LF inside a part header line")
        self.name = segment.name or ""
        self.charset = segment.charset or "utf-8"
        self.skipping = not self.name
        if self.skipping:
            # A part without a name is no form field (RFC 7578 section 4.2): its data is
            # dropped, but it still counts, so that empty parts cannot be sent without end.
            self.field_count += 1
            if self.field_count > self.max_fields:
                raise _too_many_fields(self.max_fields)
            return
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
        if self.skipping:
            return
        if self.upload is not None:
            await self.upload.write(bytes(data))
            return
        self.value += data
        if len(self.value) > self.max_part_size:
            raise _field_too_large(self.name, self.max_part_size)

    async def _end_part(self) -> None:
        if self.skipping:
            return
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
