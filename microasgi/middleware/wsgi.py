"""WSGIMiddleware: serve a WSGI (PEP 3333) application from ASGI.

The WSGI app runs in a worker thread. Its request body is pulled from the ASGI
``receive`` channel as it reads ``wsgi.input`` (never buffered whole, bounded by the
scope's body limit), and each chunk its iterable yields is sent as it is produced: the
thread hands messages to the event loop with ``anyio.from_thread.run``.
This module knows the ASGI scope and messages and PEP 3333, not routing or responses.
"""

import io
import re
import sys
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

import anyio.from_thread

from microasgi._concurrency import run_in_threadpool
from microasgi.exceptions import ClientDisconnect
from microasgi.lifespan import serve_empty_lifespan
from microasgi.requests import body_size_limit, route_path
from microasgi.types import Message, RawHeaders, Receive, Scope, Send

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], None]]
# The foreign app: PEP 3333 callables are loosely typed by nature (environ, start_response).
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

# RFC 9110 5.6.2: a header name is a token; a status line is 3 digits, a space, a reason.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS = re.compile(r"([1-9][0-9]{2}) [^\r\n\0]*")
_FORBIDDEN_VALUE_CHARS = re.compile(r"[\r\n\0]")


def _wsgi_str(text: str) -> str:
    """PEP 3333 "native strings": the UTF-8 bytes of a decoded path, as latin-1 text."""
    return text.encode("utf-8").decode("latin-1")


def build_environ(scope: Scope, body: "WSGIInput") -> Environ:
    """The WSGI environ for an ASGI http scope (PEP 3333, "environ Variables").

    Header names holding ``_`` are dropped: as ``HTTP_*`` keys they would be
    indistinguishable from their ``-`` twins, which lets a client spoof headers a proxy set.
    Duplicate headers are joined with ``,`` (``Cookie`` with ``; ``, RFC 9113 8.2.3).
    """
    server = scope.get("server") or ("localhost", 80)
    environ: Environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": _wsgi_str(scope.get("root_path", "")),
        "PATH_INFO": _wsgi_str(route_path(scope)),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        # The end of wsgi.input is the end of the body, with or without Content-Length.
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "asgi.scope": scope,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    joined: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper()
        if "_" in name:
            continue
        value = raw_value.decode("latin-1")
        key = name.replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        if key in joined:
            separator = "; " if key == "HTTP_COOKIE" else ","
            joined[key] = joined[key] + separator + value
        else:
            joined[key] = value
    environ.update(joined)
    return environ


class BodyTooLarge(Exception):
    """Raised by ``wsgi.input`` when the request body passes the size limit (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body too large: the limit is {limit} bytes.")
        self.limit = limit


class WSGIInput(io.RawIOBase):
    """``wsgi.input``: a read-only binary stream pulling ASGI body messages on demand.

    Read from the worker thread only; each pull blocks on ``receive`` in the event loop.

    Raises:
        BodyTooLarge: from a read, once the bytes received pass ``limit``.
        ClientDisconnect: from a read, when the client leaves before the body's end.
    """

    def __init__(self, receive: Receive, limit: int | None) -> None:
        super().__init__()
        self._receive = receive
        self._limit = limit
        self._buffer = bytearray()
        self._more = True
        self._received = 0
        self.too_large = False

    def readable(self) -> bool:
        return True

    async def _next_message(self) -> Message:
        # from_thread.run wants a coroutine function; receive is any awaitable-returning one.
        return await self._receive()

    def _pull(self) -> None:
        message = anyio.from_thread.run(self._next_message)
        if message["type"] == "http.disconnect":
            self._more = False
            raise ClientDisconnect()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            self._received += len(chunk)
            if self._limit is not None and self._received > self._limit:
                self._more = False
                self.too_large = True
                raise BodyTooLarge(self._limit)
            self._buffer += chunk
            self._more = bool(message.get("more_body", False))

    def _fill(self, enough: Callable[[], bool]) -> None:
        if self.too_large:
            raise BodyTooLarge(self._limit or 0)
        while self._more and not enough():
            self._pull()

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative); fewer only at the end."""
        wanted = -1 if size is None else size
        self._fill(lambda: 0 <= wanted <= len(self._buffer))
        return self._take(len(self._buffer) if wanted < 0 else wanted)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        """One line, ``\\n`` included, or up to ``size`` bytes of it."""
        wanted = -1 if size is None else size
        self._fill(lambda: b"\n" in self._buffer or 0 <= wanted <= len(self._buffer))
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        return self._take(end if wanted < 0 else min(end, wanted))


def _check_headers(headers: object) -> RawHeaders:
    """WSGI response headers as ASGI raw headers.

    Raises:
        TypeError: not a list of ``(str, str)`` tuples.
        ValueError: a name that is not a token, a value holding CR, LF or NUL, or a
            character outside latin-1.
    """
    if not isinstance(headers, list):
        raise TypeError(f"WSGI response headers must be a list, got {type(headers).__name__}.")
    raw: RawHeaders = []
    for header in headers:
        if not (
            isinstance(header, tuple)
            and len(header) == 2
            and isinstance(header[0], str)
            and isinstance(header[1], str)
        ):
            raise TypeError(f"A WSGI response header must be a (str, str) tuple, got {header!r}.")
        name, value = header
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"Invalid WSGI response header name {name!r}.")
        if _FORBIDDEN_VALUE_CHARS.search(value):
            raise ValueError(f"WSGI response header {name!r} holds CR, LF or NUL: {value!r}.")
        try:
            raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise ValueError(
                f"WSGI response header {name!r} is not latin-1: {value!r} (PEP 3333)."
            ) from None
    return raw


class _Responder:
    """One WSGI call in the worker thread: ``start_response``, ``write`` and the iterable."""

    def __init__(self, outbox: Callable[[Message], Awaitable[None]]) -> None:
        # The event loop's side reads the outbox and does the sends, from the task that
        # called the middleware (function middleware in front needs that).
        self._outbox = outbox
        self.status: int | None = None
        self.headers: RawHeaders = []
        self.started = False

    async def _forward(self, message: Message) -> None:
        await self._outbox(message)

    def _emit(self, message: Message) -> None:
        anyio.from_thread.run(self._forward, message)

    def _send_start(self) -> None:
        if self.status is None:
            raise RuntimeError("The WSGI app produced a body before calling start_response().")
        self.started = True
        self._emit({"type": "http.response.start", "status": self.status, "headers": self.headers})

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        """PEP 3333 ``start_response``: may be called again only with ``exc_info``."""
        if exc_info is not None:
            if self.started:
                # Too late to change the response: re-raise the app's error (PEP 3333).
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise RuntimeError("start_response() was already called; pass exc_info to replace.")
        if not isinstance(status, str) or not _STATUS.fullmatch(status):
            raise ValueError(f"Invalid WSGI status {status!r}: expected like '200 OK'.")
        self.headers = _check_headers(headers)
        self.status = int(status[:3])
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: sends the headers, then ``data`` at once."""
        if not isinstance(data, bytes):
            raise TypeError(f"WSGI body data must be bytes, got {type(data).__name__}.")
        if not self.started:
            self._send_start()
        if data:
            self._emit({"type": "http.response.body", "body": data, "more_body": True})

    def run(self, app: WSGIApp, environ: Environ) -> None:
        result = app(environ, self.start_response)
        try:
            for chunk in result:
                # The headers wait for the first non-empty chunk (PEP 3333, "Buffering").
                if chunk:
                    self.write(chunk)
                elif not isinstance(chunk, bytes):
                    raise TypeError(f"WSGI body data must be bytes, got {type(chunk).__name__}.")
            if not self.started:
                self._send_start()
            self._emit({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


class WSGIMiddleware:
    """Serve a WSGI application (PEP 3333) as an ASGI app, e.g. under ``app.mount``.

    HTTP only: a websocket is refused (closed before accept, which servers answer with
    403) and a lifespan is acknowledged, since WSGI has neither. The request body is bounded
    by the scope's ``microasgi.max_body_size`` (413 when it is passed before the response
    started). Errors raised by the WSGI app propagate for the framework to answer 500.

    Args:
        app: the WSGI callable ``app(environ, start_response)``.
    """

    def __init__(self, app: WSGIApp) -> None:
        if not callable(app):
            raise TypeError(f"WSGIMiddleware needs a WSGI callable, got {app!r}.")
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1000})
        elif scope["type"] == "lifespan":
            await serve_empty_lifespan(scope, receive, send)
        else:
            raise ValueError(
                f"WSGIMiddleware serves 'http' scopes, got scope type {scope['type']!r}."
            )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = body_size_limit(scope)
        if limit is not None:
            declared = _content_length(scope["headers"])
            if declared is not None and declared > limit:
                await _send_too_large(send, limit)
                return
        body = WSGIInput(receive, limit)
        outbox_in, outbox_out = anyio.create_memory_object_stream[Message](0)
        responder = _Responder(outbox_in.send)
        environ = build_environ(scope, body)
        errors: list[Exception] = []

        async def run_app() -> None:
            with outbox_in:  # closing it ends the loop below
                try:
                    await run_in_threadpool(responder.run, self.app, environ)
                except Exception as exc:
                    errors.append(exc)

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(run_app)
            with outbox_out:
                async for message in outbox_out:
                    await send(message)
        if errors:
            # BodyTooLarge, or another error once the app caught it: a 413 while we still can.
            if not body.too_large or responder.started:
                raise errors[0]
            await _send_too_large(send, limit or 0)


def _content_length(headers: RawHeaders) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length" and value.isdigit():
            digits = value.lstrip(b"0") or b"0"
            # int() refuses over 4,300 digits; past 18 the length is beyond any limit.
            return int(digits) if len(digits) <= 18 else 10**18
    return None


async def _send_too_large(send: Send, limit: int) -> None:
    body = f"Request body too large: the limit is {limit} bytes.".encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
