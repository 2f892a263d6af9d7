"""The Response family. Every response is an ASGI app: it sends the start, then the body.

Headers are encoded once, when the response is built, and checked there: a name
or value holding CR, LF or NUL is a ValueError, never sent. This module knows
the ASGI send channel; it knows nothing of routing or requests.
"""

import contextlib
import functools
import re
import time
from collections.abc import AsyncIterable, Callable, Container, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, formatdate
from functools import cached_property, lru_cache
from http.cookies import CookieError, SimpleCookie
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from microasgi import encoders
from microasgi._concurrency import (
    PACE_MESSAGES,
    aclose_quietly,
    iterate_in_threadpool,
    let_loop_run,
    run_until_disconnect,
)
from microasgi.background import BackgroundTask
from microasgi.datastructures import URL, MutableHeaders
from microasgi.headers import _encode_header as encode_header  # the one header checker
from microasgi.requests import BODY_READ_KEY
from microasgi.responsestate import note_start, records_its_start
from microasgi.types import RawHeaders, Receive, Scope, Send

__all__ = [
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
    "encode_header",
]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN = re.compile(r"[\r\n\x00]")
# Statuses that never carry a body, so they get no Content-Length (RFC 9110 section 8.6).
_BODYLESS_STATUS = frozenset({204, 304})
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


@lru_cache(maxsize=64)
def _content_type(media_type: str, charset: str) -> bytes:
    """The encoded Content-Type value; cached, as a few media types serve every response."""
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type = f"{media_type}; charset={charset}"
    return encode_header("content-type", media_type)[1]


# The Content-Type header of the media types a UTF-8 response names most, built once.
_CONTENT_TYPES: dict[str, tuple[bytes, bytes]] = {
    media: (b"content-type", _content_type(media, "utf-8"))
    for media in ("text/plain", "text/html", "application/json")
}


@records_its_start
class Response:
    """A complete response body sent in one message.

    Args:
        content: ``bytes`` as is, ``str`` encoded with ``charset``; ``None`` for no body.
        status_code: the HTTP status.
        headers: extra headers; checked and encoded now.
        media_type: the Content-Type (``charset`` is appended for ``text/*``).
        background: a task to run after the body is sent.
    """

    media_type: str | None = None
    charset = "utf-8"
    # True while render() is Response's own: __init__ then takes bytes as they are without
    # calling it (the common case, on every request).
    _renders_bytes_as_is: ClassVar[bool] = True

    _sends_two_messages: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._renders_bytes_as_is = cls.render is Response.render
        cls._sends_two_messages = cls.__call__ is Response.__call__

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.background = background
        if type(content) is bytes and self._renders_bytes_as_is:
            body = content
        else:
            body = self.render(content)
        self.body = body
        media = self.media_type
        if headers is None and status_code == 200 and media is not None:
            # The common case, built without the general checks of _initial_headers.
            content_type = _CONTENT_TYPES.get(media)
            if content_type is None or self.charset != "utf-8":
                content_type = b"content-type", _content_type(media, self.charset)
            self.raw_headers = [(b"content-length", b"%d" % len(body)), content_type]
        else:
            self.raw_headers = self._initial_headers(headers)

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into the body bytes; subclasses override this."""
        if isinstance(content, str):
            return content.encode(self.charset)
        if isinstance(content, bytes):
            return content
        if content is None:
            return b""
        if isinstance(content, bytearray | memoryview):
            return bytes(content)
        raise TypeError(
            f"{type(self).__name__} content must be bytes or str, got {type(content).__name__}."
        )

    def _initial_headers(self, headers: Mapping[str, str] | None) -> RawHeaders:
        """Encode ``headers`` and add Content-Length and Content-Type unless given."""
        given: Container[bytes] = ()
        if headers:
            raw = [encode_header(name, value) for name, value in headers.items()]
            given = {name for name, _ in raw}
        else:
            raw = []
        body: bytes | None = getattr(self, "body", None)
        status_code = self.status_code
        if (
            body is not None
            and status_code >= 200
            and status_code not in _BODYLESS_STATUS
            and b"content-length" not in given
        ):
            raw.append((b"content-length", b"%d" % len(body)))
        media_type = self.media_type
        if media_type is not None and b"content-type" not in given:
            raw.append((b"content-type", _content_type(media_type, self.charset)))
        return raw

    @cached_property
    def headers(self) -> MutableHeaders:
        """The response headers; edits are checked like constructor headers."""
        return MutableHeaders(raw=self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | str | int | float | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header.

        Args:
            key: the cookie name, an HTTP token.
            value: quoted as needed (spaces, ``;``, ``,``, ``"``, non-ASCII latin-1).
            max_age: seconds until it expires; 0 or less drops it at once.
            expires: a ``datetime`` (naive means UTC), seconds from now (``int``), or a
                preformatted HTTP date (``str``).
            path, domain: the cookie's scope; ``None`` leaves the attribute out.
            secure, httponly, partitioned: add those flags (``Partitioned`` is CHIPS).
            samesite: ``"lax"``, ``"strict"``, ``"none"`` (any case) or ``None`` for none.

        Raises:
            ValueError: the key is not a token or is a reserved attribute name; a value,
                path, domain or expires holds CR, LF or NUL, or ``;`` where it would end
                the attribute; text is not latin-1; ``samesite`` is unknown.
        """
        if not _TOKEN.fullmatch(key):
            raise ValueError(f"Invalid cookie name {key!r}: it must be an HTTP token.")
        same_site = None
        if samesite is not None:
            same_site = _SAMESITE.get(samesite.lower())
            if same_site is None:
                raise ValueError(
                    f"samesite must be 'strict', 'lax', 'none' or None, got {samesite!r}."
                )
        cookie_date = None if expires is None else _cookie_date(expires)
        if _FORBIDDEN.search(value):
            raise ValueError(f"Cookie value must not contain CR, LF or NUL: {value!r}")
        # The value is quoted by SimpleCookie; these attributes are written as they are.
        for label, text in (("path", path), ("domain", domain), ("expires", cookie_date)):
            if text is not None and (";" in text or _FORBIDDEN.search(text)):
                raise ValueError(f"Cookie {label} must not contain ';', CR, LF or NUL: {text!r}")
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie[key] = value
        except CookieError:
            raise ValueError(
                f"Invalid cookie name {key!r}: it is a reserved attribute name."
            ) from None
        morsel = cookie[key]
        if max_age is not None:
            morsel["max-age"] = str(int(max_age))
        if cookie_date is not None:
            morsel["expires"] = cookie_date
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if same_site is not None:
            morsel["samesite"] = same_site
        header = morsel.OutputString()
        if partitioned:
            header += "; Partitioned"
        self.raw_headers.append(encode_header("set-cookie", header))

    def delete_cookie(
        self,
        key: str,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Tell the client to drop a cookie: empty value, ``Max-Age=0``, expired now.

        ``path``, ``domain`` and ``partitioned`` must match those the cookie was set
        with, or the browser keeps it.
        """
        self.set_cookie(
            key,
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
            partitioned=partitioned,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        note_start(scope)
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body})
        if self.background is not None:
            await self.background()


def _cookie_date(expires: datetime | str | int | float) -> str:
    if isinstance(expires, datetime):
        # format_datetime(usegmt=True) insists on a UTC datetime: convert aware ones,
        # read naive ones as UTC.
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return format_datetime(expires.astimezone(UTC), usegmt=True)
    if isinstance(expires, int | float):
        return formatdate(time.time() + expires, usegmt=True)
    return expires


class HTMLResponse(Response):
    media_type = "text/html"


class PlainTextResponse(Response):
    media_type = "text/plain"


class JSONResponse(Response):
    """Compact UTF-8 JSON, encoded by ``microasgi.encoders``: datetimes, UUIDs, decimals,
    enums, paths, sets and dataclasses included; NaN and infinities are refused.

    ``json_default``, set on a subclass, encodes the types that class should know besides
    those (it raises TypeError for the values it leaves to the built-in formats).
    """

    media_type = "application/json"
    json_default: ClassVar[Callable[[Any], Any] | None] = None

    def render(self, content: Any) -> bytes:
        # Read off the class, so a plain function assigned there is not bound as a method.
        return encoders.json_dumps(content, type(self).json_default)


# Characters kept as they are in a Location: the URL syntax itself (RFC 3986).
_LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;~"


class RedirectResponse(Response):
    """Redirect to ``url`` (307 by default, keeping the method and body)."""

    def __init__(
        self,
        url: str | URL,
        status_code: int = 307,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers, background=background)
        # Quoting also turns CR/LF into %0D%0A, so a URL can never split the header.
        location = quote(str(url), safe=_LOCATION_SAFE)
        self.raw_headers.append((b"location", location.encode("latin-1")))


ContentStream = AsyncIterable[str | bytes] | Iterable[str | bytes]


@records_its_start
class StreamingResponse(Response):
    """Send the body chunk by chunk from a sync or async iterable of ``bytes`` or ``str``.

    Sync iterables run in a worker thread, so a blocking generator never stalls the
    event loop. The stream stops when the client goes away and the iterable is closed,
    so a generator's ``finally`` runs. Background tasks run after the stream ends,
    whether it completed or the client left.
    """

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.background = background
        self.content = content
        if headers is None and self.media_type is not None:  # the common case, built directly
            self.raw_headers = [(b"content-type", _content_type(self.media_type, self.charset))]
        else:
            self.raw_headers = self._initial_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        note_start(scope)
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            await self._close_unsent()
        elif _body_may_be_unread(scope):
            # A watcher would swallow body messages the source may want (a streaming
            # echo); such a source sees the disconnect itself, from request.stream().
            await self._send_body(send)
        else:
            await run_until_disconnect(scope, receive, functools.partial(self._send_body, send))
        if self.background is not None:
            await self.background()

    async def _close_unsent(self) -> None:
        # HEAD never iterates the content; still release what it holds (an open file).
        content = self.content
        if isinstance(content, AsyncIterable):
            await aclose_quietly(content)
        else:
            close = getattr(content, "close", None)
            if close is not None:
                close()

    def _chunks(self) -> AsyncIterable[str | bytes]:
        content = self.content
        # isinstance(content, AsyncIterable), without the ABC machinery on every stream.
        if hasattr(type(content), "__aiter__"):
            return content  # type: ignore[return-value]
        return iterate_in_threadpool(content)  # type: ignore[arg-type]

    async def _send_body(self, send: Send) -> None:
        """Send the chunks, then the final empty body; the iterable is closed either way.

        Once the client has left, ASGI 2.4's send() raises OSError: the stream stops. The
        event loop is let run every ``PACE_MESSAGES`` chunks (``let_loop_run``).
        """
        chunks = aiter(self._chunks())  # the iterator: what holds resources to close
        charset = self.charset
        exhausted = False
        unpaced = 0
        try:
            async for chunk in chunks:
                if type(chunk) is not bytes:
                    chunk = _to_bytes(chunk, charset)
                try:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except OSError:
                    return  # the finally closes the iterable
                unpaced += 1
                if unpaced == PACE_MESSAGES:
                    unpaced = 0
                    await let_loop_run()
            exhausted = True
        finally:
            await aclose_quietly(chunks, exhausted)
        with contextlib.suppress(OSError):  # the client left just before the end
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _body_may_be_unread(scope: Scope) -> bool:
    """Whether part of the request body may still wait on receive()."""
    if scope.get(BODY_READ_KEY):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return bool(value.strip() != b"0")
        if name == b"transfer-encoding":
            return True
    # No length header: HTTP/1.1 means no body, but HTTP/2 may send one without it.
    return scope.get("method") not in _BODYLESS_METHODS


_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})


def _to_bytes(chunk: object, charset: str) -> bytes:
    if isinstance(chunk, str):
        return chunk.encode(charset)
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise TypeError(f"StreamingResponse chunks must be bytes or str, got {type(chunk).__name__}.")
