"""The Response family. Every response is an ASGI app: it sends the start, then the body.

Headers are encoded once, when the response is built, and checked there: a name
or value holding CR, LF or NUL is a ValueError, never sent. This module knows
the ASGI send channel; it knows nothing of routing or requests.
"""

import contextlib
import json
import re
import time
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime
from email.utils import format_datetime, formatdate
from functools import cached_property
from http.cookies import SimpleCookie
from typing import Any, Literal
from urllib.parse import quote

import anyio

from microasgi._concurrency import iterate_in_threadpool
from microasgi.background import BackgroundTask
from microasgi.datastructures import URL, MutableHeaders
from microasgi.types import RawHeaders, Receive, Scope, Send

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN = re.compile(r"[\r\n\x00]")
# Statuses that never carry a body, so they get no Content-Length (RFC 9110 section 8.6).
_BODYLESS_STATUS = frozenset({204, 304})


def encode_header(name: str, value: str) -> tuple[bytes, bytes]:
    """Check and encode one header for the wire.

    Raises:
        ValueError: the name is not a token, or the value holds CR, LF or NUL
            (header injection) or is not latin-1 encodable.
    """
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"Invalid header name {name!r}: it must be an HTTP token.")
    if _FORBIDDEN.search(value):
        raise ValueError(f"Header {name!r} must not contain CR, LF or NUL: {value!r}")
    try:
        return name.lower().encode("latin-1"), value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"Header {name!r} value {value!r} is not latin-1; percent-encode it."
        ) from None


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
        self.body = self.render(content)
        self.raw_headers = self._initial_headers(headers)

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into the body bytes; subclasses override this."""
        if content is None:
            return b""
        if isinstance(content, bytes | bytearray | memoryview):
            return bytes(content)
        if isinstance(content, str):
            return content.encode(self.charset)
        raise TypeError(
            f"{type(self).__name__} content must be bytes or str, got {type(content).__name__}."
        )

    def _content_type(self) -> bytes | None:
        media_type = self.media_type
        if media_type is None:
            return None
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            media_type = f"{media_type}; charset={self.charset}"
        return encode_header("content-type", media_type)[1]

    def _initial_headers(self, headers: Mapping[str, str] | None) -> RawHeaders:
        raw: RawHeaders = []
        has_length = has_type = False
        if headers:
            for name, value in headers.items():
                pair = encode_header(name, value)
                raw.append(pair)
                has_length = has_length or pair[0] == b"content-length"
                has_type = has_type or pair[0] == b"content-type"
        body = getattr(self, "body", None)
        if (
            body is not None
            and not has_length
            and self.status_code >= 200
            and self.status_code not in _BODYLESS_STATUS
        ):
            raw.append((b"content-length", str(len(body)).encode()))
        if not has_type:
            content_type = self._content_type()
            if content_type is not None:
                raw.append((b"content-type", content_type))
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
        expires: datetime | str | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header.

        Raises:
            ValueError: the key is not a token, or a value holds CR, LF, NUL or ``;``
                where it would end the attribute, or ``samesite`` is unknown.
        """
        if not _TOKEN.fullmatch(key):
            raise ValueError(f"Invalid cookie name {key!r}: it must be an HTTP token.")
        for label, text in (("value", value), ("path", path), ("domain", domain)):
            if text is not None and _FORBIDDEN.search(text):
                raise ValueError(f"Cookie {label} must not contain CR, LF or NUL: {text!r}")
        for label, text in (("path", path), ("domain", domain)):
            if text is not None and ";" in text:
                raise ValueError(f"Cookie {label} must not contain ';': {text!r}")
        cookie: SimpleCookie = SimpleCookie()
        cookie[key] = value
        morsel = cookie[key]
        if max_age is not None:
            morsel["max-age"] = str(int(max_age))
        if expires is not None:
            morsel["expires"] = _cookie_date(expires)
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            if samesite.lower() not in ("strict", "lax", "none"):
                raise ValueError("samesite must be 'strict', 'lax' or 'none'.")
            morsel["samesite"] = samesite.capitalize()
        header = morsel.OutputString()
        if partitioned:
            header += "; Partitioned"
        self.raw_headers.append(encode_header("set-cookie", header))

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Tell the client to drop a cookie (empty value, expired)."""
        self.set_cookie(
            key,
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body})
        if self.background is not None:
            await self.background()


def _cookie_date(expires: datetime | str | int) -> str:
    if isinstance(expires, datetime):
        return format_datetime(expires, usegmt=True)
    if isinstance(expires, int):
        return formatdate(time.time() + expires, usegmt=True)
    return expires


class HTMLResponse(Response):
    media_type = "text/html"


class PlainTextResponse(Response):
    media_type = "text/plain"


class JSONResponse(Response):
    """Compact UTF-8 JSON; NaN and infinities are refused (they are not JSON)."""

    media_type = "application/json"
    _encode = json.JSONEncoder(
        ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode

    def render(self, content: Any) -> bytes:
        return self._encode(content).encode("utf-8")


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


class StreamingResponse(Response):
    """Send the body chunk by chunk from a sync or async iterable.

    Sync iterables run in a worker thread. The stream stops when the client goes
    away and the iterable is closed, so a generator's ``finally`` runs.
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
        self.raw_headers = self._initial_headers(headers)

    def _chunks(self) -> AsyncIterable[str | bytes]:
        if isinstance(self.content, AsyncIterable):
            return self.content
        return iterate_in_threadpool(self.content)

    async def _send_body(self, send: Send) -> None:
        chunks = self._chunks()
        try:
            async for chunk in chunks:
                data = chunk if isinstance(chunk, bytes) else chunk.encode(self.charset)
                await send({"type": "http.response.body", "body": data, "more_body": True})
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") == "HEAD":
            await _close_unused(self._chunks())
            await send({"type": "http.response.body", "body": b""})
        elif _send_raises_on_disconnect(scope):
            # ASGI 2.4: send() raises OSError once the client is gone, so no watcher task.
            # The client leaving is no error: stop quietly, the iterable was closed.
            with contextlib.suppress(OSError):
                await self._send_body(send)
        else:
            await self._send_body_watching(receive, send)
        if self.background is not None:
            await self.background()

    async def _send_body_watching(self, receive: Receive, send: Send) -> None:
        # Before ASGI 2.4, the only way to learn the client left is receive(): watch it
        # beside the stream and cancel the stream when http.disconnect arrives.
        async with anyio.create_task_group() as task_group:

            async def watch_for_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                task_group.cancel_scope.cancel()

            task_group.start_soon(watch_for_disconnect)
            await self._send_body(send)
            task_group.cancel_scope.cancel()


async def _close_unused(chunks: AsyncIterable[str | bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def _send_raises_on_disconnect(scope: Scope) -> bool:
    version: str = scope.get("asgi", {}).get("spec_version", "2.0")
    major, _, minor = version.partition(".")
    return (int(major), int(minor or 0)) >= (2, 4)
