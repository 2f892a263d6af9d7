"""HTTPConnection (what HTTP requests and websockets share) and Request.

Everything here parses lazily: a request that never looks at its headers,
query string or cookies pays nothing for them. The body is read only when
asked, bounded by the limit the router put in the scope.
This module knows the ASGI scope and the receive channel, not routing or responses.
"""

import json
import re
from collections.abc import AsyncIterator, Generator, Mapping
from functools import cached_property
from typing import Any

from microasgi._concurrency import receive_nowait
from microasgi.datastructures import URL, Address, FormData, Headers, QueryParams, State
from microasgi.exceptions import ClientDisconnect, HTTPException
from microasgi.formparsers import parse_form
from microasgi.types import Message, Receive, Scope

# Scope keys microasgi adds; namespaced so they never clash with the ASGI spec's.
MAX_BODY_SIZE_KEY = "microasgi.max_body_size"
MAX_MESSAGE_SIZE_KEY = "microasgi.max_message_size"
# Set once the request body has been read to its end, so receive() may be watched.
BODY_READ_KEY = "microasgi.body_read"


def parse_cookies(cookie_header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header into a dict, tolerating junk.

    Pairs with an empty name (``=v``, or ``flag`` without ``=``) are discarded: kept as the
    name ``""`` they could stand in for another cookie (``=__Host-sid=evil``). Surrounding
    whitespace and double quotes are stripped (with the backslash escapes inside quotes
    that ``set_cookie`` writes), and the first of duplicate names wins (RFC 6265
    section 5.4: the most specific cookie is listed first). Never raises.
    """
    cookies: dict[str, str] = {}
    for chunk in cookie_header.split(";"):
        name, separator, value = chunk.partition("=")
        name = name.strip()
        if not separator or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
            if "\\" in value:
                value = _COOKIE_ESCAPE.sub(_unescape, value)
        cookies.setdefault(name, value)
    return cookies


# Backslash escapes inside a quoted value, as SimpleCookie writes them (Response.set_cookie):
# three octal digits for a byte, or a backslash before any other character.
_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7]{2})|(.))")


def _unescape(match: re.Match[str]) -> str:
    octal = match[1]
    return chr(int(octal, 8)) if octal else match[2]


def body_size_limit(scope: Scope) -> int | None:
    """The body limit of this request: a route's or mount's ``max_body_size`` (in the
    scope under ``MAX_BODY_SIZE_KEY``), else the App's (None: no limit). Looked up when a
    body is read, so that no request pays for storing it."""
    if MAX_BODY_SIZE_KEY in scope:
        limit: int | None = scope[MAX_BODY_SIZE_KEY]
        return limit
    app_limit: int | None = getattr(scope.get("app"), "max_body_size", None)
    return app_limit


def route_path(scope: Scope) -> str:
    """The part of ``scope["path"]`` left to route: the path minus ``root_path``.

    ASGI puts the full path in ``path`` and the mount point in ``root_path``.
    """
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :]
    return path


class HTTPConnection(Mapping[str, Any]):
    """What HTTP requests and websockets share; a read-only view of the scope."""

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        self.scope = scope
        self._receive = receive

    def __getitem__(self, key: str) -> Any:
        return self.scope[key]

    def __iter__(self) -> Any:
        return iter(self.scope)

    def __len__(self) -> int:
        return len(self.scope)

    # Connections are compared by identity, not by their scope's content.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def app(self) -> Any:
        return self.scope["app"]

    @cached_property
    def url(self) -> URL:
        """The request URL; its host comes from the ``Host`` header.

        Raises:
            HTTPException: 400 when the request has more than one ``Host`` header (RFC 9112
                section 3.2): which one a proxy routed by is unknowable.
        """
        hosts = [value for name, value in self.scope.get("headers", ()) if name.lower() == b"host"]
        if len(hosts) > 1:
            raise HTTPException(400, "Invalid request: more than one Host header.")
        return URL(scope=self.scope)

    @cached_property
    def base_url(self) -> URL:
        """The URL of the app's root: scheme, host and ``root_path``, ending in ``/``."""
        root_path = self.scope.get("app_root_path", self.scope.get("root_path", ""))
        return self.url.replace(path=root_path.rstrip("/") + "/", query="", fragment="")

    @cached_property
    def headers(self) -> Headers:
        return Headers(scope=self.scope)

    @cached_property
    def query_params(self) -> QueryParams:
        return QueryParams(self.scope.get("query_string", b""))

    @property
    def path_params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.scope.get("path_params", {})
        return params

    @cached_property
    def cookies(self) -> dict[str, str]:
        # HTTP/2 may split the cookies over several headers (RFC 9113 section 8.2.3).
        headers = self.headers.getlist("cookie")
        return parse_cookies("; ".join(headers)) if headers else {}

    @property
    def client(self) -> Address | None:
        client = self.scope.get("client")
        return Address(client[0], client[1]) if client else None

    @cached_property
    def state(self) -> State:
        # The server hands each connection a shallow copy of the lifespan state; keep
        # using that dict so middleware and endpoint share what they set on it.
        state: dict[str, Any] = self.scope.setdefault("state", {})
        return State(state)

    @property
    def session(self) -> dict[str, Any]:
        if "session" not in self.scope:
            raise RuntimeError(
                "request.session needs SessionMiddleware: add "
                "Middleware(SessionMiddleware, secret_key=...) to the app's middleware."
            )
        session: dict[str, Any] = self.scope["session"]
        return session

    @property
    def user(self) -> Any:
        """Who the client is (a ``BaseUser``), as AuthenticationMiddleware found."""
        return self._authentication("user")

    @property
    def auth(self) -> Any:
        """What the client may do (``AuthCredentials``), as AuthenticationMiddleware found."""
        return self._authentication("auth")

    def _authentication(self, key: str) -> Any:
        if key not in self.scope:
            raise RuntimeError(
                f"request.{key} needs AuthenticationMiddleware: add "
                "Middleware(AuthenticationMiddleware, backend=...) to the app's middleware."
            )
        return self.scope[key]

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        """The absolute URL of the route called ``name``, honouring scheme, host and root_path."""
        router = self.scope.get("router")
        if router is None:
            raise RuntimeError("url_for() needs a router in the scope; serve the app with App.")
        url_path = router.url_path_for(name, **path_params)
        absolute: URL = url_path.make_absolute_url(base_url=self.base_url)
        return absolute


class Request(HTTPConnection):
    """An HTTP request: the scope plus a lazily read, size-bounded body.

    The body is bounded by ``scope["microasgi.max_body_size"]`` (set by the app, a
    route or a mount; absent or None means no limit).
    """

    # Per-request state starts as these class-level defaults, set on the instance when it
    # first changes. What function middleware and routes read on every request is also
    # set in __init__: a class attribute read through an instance is a slow lookup in 3.11.
    _json: Any = None
    _has_json = False
    _disconnected = False
    _body: bytes | None = None
    _stream_consumed = False
    # Body messages taken off the channel by is_disconnected(), replayed by stream().
    _pending: list[Message] | None = None
    _form: FormData | None = None

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Request needs an 'http' scope, got {scope['type']!r}.")
        self.scope = scope
        self._receive = receive
        self._body = None
        self._stream_consumed = False
        self._pending = None
        self._form = None
        # Whether form() parsed a form here, whose files close() must release: a caller
        # skips awaiting close() for the many requests that read none.
        self.holds_form = False

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def receive(self) -> Receive:
        if self._receive is None:
            raise RuntimeError("This Request was built without a receive channel.")
        return self._receive

    def _body_limit(self) -> int | None:
        """The body limit, checked first against the declared ``Content-Length``.

        Raises:
            HTTPException: 400 for a Content-Length that is not plain ASCII digits or two
                that differ, 413 when it declares more than the limit (nothing is read).
        """
        limit = body_size_limit(self.scope)
        values = self.headers.getlist("content-length")
        if len(set(values)) > 1:
            # Two framings: a proxy may have read another body than ours (request smuggling).
            raise HTTPException(400, f"Conflicting Content-Length headers: {values!r}.")
        if values:
            header = values[0]
            # str.isdigit() alone accepts "١٢" and "²": only ASCII digits are HTTP digits.
            if not (header.isascii() and header.isdigit()):
                raise HTTPException(
                    400, f"Invalid Content-Length header {header!r}: expected plain digits."
                )
            # int() refuses over 4,300 digits; past 18 the length is beyond any limit.
            digits = header.lstrip("0")
            if limit is not None and (len(digits) > 18 or int(digits or "0") > limit):
                raise _too_large(limit)
        return limit

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks as they arrive (only once, unless ``body()`` cached it).

        Raises:
            HTTPException: 400 for a malformed Content-Length, 413 past the size limit.
            ClientDisconnect: the client left before the body was complete.
            RuntimeError: the stream was already consumed.
        """
        if self._body is not None:
            if self._body:  # like a live stream, never yield an empty chunk
                yield self._body
            return
        if self._stream_consumed:
            raise RuntimeError(
                "The request body stream was already consumed; read it once, "
                "or call body() first, which keeps a copy."
            )
        self._stream_consumed = True
        limit = self._body_limit()
        receive = self.receive
        received = 0
        while True:
            if self._pending:
                message = self._pending.pop(0)
            elif self._disconnected:
                raise ClientDisconnect()
            else:
                message = await receive()
            if message["type"] == "http.request":
                chunk: bytes = message.get("body", b"")
                received += len(chunk)
                if limit is not None and received > limit:
                    raise _too_large(limit)
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    self.scope[BODY_READ_KEY] = True
                    return
            elif message["type"] == "http.disconnect":
                self._disconnected = True
                raise ClientDisconnect()

    async def body(self) -> bytes:
        """The whole body, read once and cached (later calls and ``stream()`` reuse it).

        Raises:
            HTTPException: 400 for a malformed Content-Length, 413 past the size limit.
            ClientDisconnect: the client left before the body was complete.
        """
        if self._body is None:
            chunks = [chunk async for chunk in self.stream()]
            self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        """The body parsed as JSON (cached); invalid JSON is a 400, never a 500.

        Raises:
            HTTPException: 400 for a body that is not JSON (bad syntax, bad UTF-8,
                nesting too deep to parse), and as ``body()`` does.
        """
        if not self._has_json:
            body = await self.body()
            try:
                self._json = json.loads(body)
            except (ValueError, RecursionError) as exc:
                # UnicodeDecodeError and JSONDecodeError are both ValueErrors.
                raise HTTPException(400, f"Invalid JSON body: {exc}") from None
            self._has_json = True
        return self._json

    async def is_disconnected(self) -> bool:
        """True once the client has gone; checks without waiting.

        A body message it takes off the channel is kept and replayed by ``stream()``
        and ``body()``, so calling it never loses body bytes.
        """
        if not self._disconnected and self._receive is not None:
            message = await receive_nowait(self._receive)
            if message is not None:
                if message["type"] == "http.disconnect":
                    self._disconnected = True
                else:
                    if self._pending is None:
                        self._pending = []
                    self._pending.append(message)
        return self._disconnected

    def form(
        self,
        *,
        max_files: int = 1000,
        max_fields: int = 1000,
        max_part_size: int = 1_048_576,
    ) -> "_FormReader":
        """Parse the body as a form: ``await request.form()`` or ``async with request.form()``.

        urlencoded and multipart bodies are parsed as they stream in; limits fail
        fast with 400. The form is cached; its files are closed by ``close()``,
        which the router calls when the response is done.
        """
        return _FormReader(self, max_files, max_fields, max_part_size)

    async def _read_form(self, max_files: int, max_fields: int, max_part_size: int) -> FormData:
        if self._form is None:
            self._form = await parse_form(
                self.headers.get("content-type", ""),
                self.stream(),
                max_files=max_files,
                max_fields=max_fields,
                max_part_size=max_part_size,
            )
            self.holds_form = True
        form: FormData = self._form
        return form

    def receive_for_next_app(self) -> Receive:
        """The receive channel for an app that reads this body after this request did (the
        app behind function middleware): the real channel when the body is untouched,
        else one that replays what ``body()`` read or ``is_disconnected()`` took off it.

        The channel it returns after ``stream()`` consumed the body raises RuntimeError:
        nothing is left to replay.
        """
        receive = self._receive
        if receive is None:
            return self.receive  # raises: built without a channel
        pending = self._pending
        if pending:

            async def replay_pending() -> Message:
                return pending.pop(0) if pending else await receive()

            return replay_pending
        body = self._body
        if body is not None:
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return replay
        if not self._stream_consumed:
            return receive

        async def consumed() -> Message:
            raise RuntimeError(
                "The middleware consumed the request body with stream(); use "
                "await request.body() in middleware so the endpoint can read it again."
            )

        return consumed

    async def close(self) -> None:
        """Release what the request holds (the parsed form's temporary files)."""
        if self._form is not None:
            await self._form.close()


class _FormReader:
    """What ``Request.form()`` returns: awaitable, or an async context manager that
    closes the form's files on exit."""

    def __init__(self, request: Request, max_files: int, max_fields: int, max_part_size: int):
        self._request = request
        self._limits = (max_files, max_fields, max_part_size)

    def __await__(self) -> Generator[Any, None, FormData]:
        return self._request._read_form(*self._limits).__await__()

    async def __aenter__(self) -> FormData:
        return await self._request._read_form(*self._limits)

    async def __aexit__(self, *exc_info: object) -> None:
        await self._request.close()


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"Request body too large: the limit is {limit} bytes.")
