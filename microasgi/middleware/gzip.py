"""GZipMiddleware: compress response bodies for clients that accept gzip.

The response start is held until the first body message shows whether the body is
worth compressing; streamed bodies are compressed chunk by chunk and flushed after each
chunk, so a streaming response keeps streaming. Works on raw ASGI headers only.
"""

import zlib
from collections.abc import Iterable

from microasgi.datastructures import MutableHeaders
from microasgi.types import ASGIApp, Message, RawHeaders, Receive, Scope, Send

# zlib wbits for a gzip container (RFC 1952) instead of a raw zlib stream.
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# Bodies that must not change: no content (204, 304), byte ranges of the identity form (206).
_UNTOUCHED_STATUSES = frozenset({204, 206, 304})
# Headers that describe the uncompressed bytes and are wrong for the gzip ones.
_DROPPED_WHEN_COMPRESSED = frozenset({b"content-length", b"accept-ranges"})


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (RFC 9110 12.5.3, q-values honoured).

    An explicit ``gzip`` (or ``x-gzip``) entry decides; otherwise ``*`` does. A q-value
    of 0, or one that does not parse, means "not acceptable".
    """
    gzip_q: float | None = None
    any_q: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            any_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return any_q is not None and any_q > 0


class GZipMiddleware:
    """Gzip response bodies of at least ``minimum_size`` bytes when the client accepts it.

    Left alone: HEAD requests, 204/206/304 responses, responses that already carry a
    ``Content-Encoding``, ``text/event-stream`` and ``http.response.pathsend`` files.

    Args:
        app: the ASGI app to wrap.
        minimum_size: bodies sent whole in one message and shorter than this stay as is.
        compresslevel: zlib level, 1 (fastest) to 9 (smallest).
    """

    def __init__(self, app: ASGIApp, minimum_size: int = 500, compresslevel: int = 9) -> None:
        if not 1 <= compresslevel <= 9:
            raise ValueError(f"compresslevel must be between 1 and 9, got {compresslevel}.")
        if minimum_size < 0:
            raise ValueError(f"minimum_size must be 0 or more, got {minimum_size}.")
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept = ",".join(
            value.decode("latin-1")
            for name, value in scope["headers"]
            if name.lower() == b"accept-encoding"
        )
        if not accept or not accepts_gzip(accept) or scope["method"] == "HEAD":
            # Another client would get gzip: caches must key this variant on the header too.
            await self.app(scope, receive, _VarySender(send))
            return
        await self.app(scope, receive, _GZipSender(send, self.minimum_size, self.compresslevel))


class _VarySender:
    """The ``send`` for a client that takes no gzip: adds ``Vary: Accept-Encoding`` to the
    start of a response that gzip-accepting clients would get compressed (RFC 9110 12.5.5)."""

    __slots__ = ("send",)

    def __init__(self, send: Send) -> None:
        self.send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and _compressible(message):
            message = {**message, "headers": _with_vary(message.get("headers", ()))}
        await self.send(message)


def _with_vary(headers: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
    varied: RawHeaders = [(bytes(name), bytes(value)) for name, value in headers]
    MutableHeaders(raw=varied).add_vary_header("Accept-Encoding")
    return varied


class _GZipSender:
    """The ``send`` handed to the app for one response: decides, then compresses."""

    def __init__(self, send: Send, minimum_size: int, compresslevel: int) -> None:
        self.send = send
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.start: Message | None = None
        self.compressor: zlib._Compress | None = None
        self.passthrough = False

    async def __call__(self, message: Message) -> None:
        message_type = message["type"]
        if self.passthrough:
            await self.send(message)
        elif message_type == "http.response.start":
            self.start = message
            self.passthrough = not _compressible(message)
            if self.passthrough:
                await self.send(message)
        elif self.compressor is not None and message_type == "http.response.body":
            await self.send_compressed(self.compressor, message)
        elif message_type == "http.response.body" and self.start is not None:
            await self.first_body(self.start, message)
        else:
            # pathsend, zerocopysend and anything else: the body is not ours to rewrite.
            self.passthrough = True
            if self.start is not None and self.compressor is None:
                await self.send(self.start)
            await self.send(message)

    async def first_body(self, start: Message, message: Message) -> None:
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if not more_body and len(body) < self.minimum_size:
            self.passthrough = True
            await self.send({**start, "headers": _with_vary(start.get("headers", ()))})
            await self.send(message)
            return
        compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, _GZIP_WBITS)
        self.compressor = compressor
        headers: RawHeaders = []
        for name, value in start.get("headers", ()):
            lowered = name.lower()
            if lowered in _DROPPED_WHEN_COMPRESSED:
                continue
            if lowered == b"etag" and not value.startswith(b"W/"):
                # gzip bytes are another representation: a strong ETag would lie (RFC 9110 8.8.3).
                value = b"W/" + value
            headers.append((name, value))
        headers.append((b"content-encoding", b"gzip"))
        MutableHeaders(raw=headers).add_vary_header("Accept-Encoding")
        if not more_body:
            body = compressor.compress(body) + compressor.flush(zlib.Z_FINISH)
            headers.append((b"content-length", str(len(body)).encode("ascii")))
            await self.send({**start, "headers": headers})
            await self.send({**message, "body": body})
            return
        await self.send({**start, "headers": headers})
        await self.send_compressed(compressor, message)

    async def send_compressed(self, compressor: "zlib._Compress", message: Message) -> None:
        more_body = message.get("more_body", False)
        # A sync flush ends each chunk on a byte boundary so the client can decode it now.
        mode = zlib.Z_SYNC_FLUSH if more_body else zlib.Z_FINISH
        body = compressor.compress(message.get("body", b"")) + compressor.flush(mode)
        await self.send({**message, "body": body})


def _compressible(start: Message) -> bool:
    if start.get("status", 200) in _UNTOUCHED_STATUSES:
        return False
    for name, value in start.get("headers", ()):
        lowered = name.lower()
        if lowered == b"content-encoding":
            return False
        if lowered == b"content-type" and value.lower().startswith(b"text/event-stream"):
            return False
    return True
