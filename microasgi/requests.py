"""HTTPConnection (what HTTP requests and websockets share) and Request.

Everything here parses lazily: a request that never looks at its headers,
query string or cookies pays nothing for them. The body is read only when
asked, bounded by the limit the router put in the scope.
This module knows the ASGI scope and the receive channel, not routing or responses.
"""

import json
from collections.abc import AsyncIterator, Mapping
from functools import cached_property
from typing import Any

import anyio

from microasgi.datastructures import URL, Address, Headers, QueryParams, State
from microasgi.exceptions import ClientDisconnect, HTTPException
from microasgi.types import Message, Receive, Scope

# Scope keys microasgi adds; namespaced so they never clash with the ASGI spec's.
MAX_BODY_SIZE_KEY = "microasgi.max_body_size"
MAX_MESSAGE_SIZE_KEY = "microasgi.max_message_size"


def parse_cookies(cookie_header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header into a dict, tolerating junk.

    Pairs without ``=`` are kept with an empty name (browsers send them), surrounding
    whitespace and double quotes are stripped, and the first of duplicate names wins
    (RFC 6265 section 5.4: the most specific cookie is listed first).
    """
    cookies: dict[str, str] = {}
    for chunk in cookie_header.split(";"):
        name, separator, value = chunk.partition("=")
        if not separator:
            name, value = "", name
        name, value = name.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name or value:
            cookies.setdefault(name, value)
    return cookies


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
        header = self.headers.get("cookie")
        return parse_cookies(header) if header else {}

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

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        """The absolute URL of the route called ``name``, honouring scheme, host and root_path."""
        router = self.scope.get("router")
        if router is None:
            raise RuntimeError("url_for() needs a router in the scope; serve the app with App.")
        url_path = router.url_path_for(name, **path_params)
        absolute: URL = url_path.make_absolute_url(base_url=self.base_url)
        return absolute


class Request(HTTPConnection):
    """An HTTP request: the scope plus a lazily read, size-bounded body."""

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Request needs an 'http' scope, got {scope['type']!r}.")
        super().__init__(scope, receive)
        self._body: bytes | None = None
        self._json: Any = _UNSET
        self._stream_consumed = False
        self._disconnected = False
        # Body messages taken off the channel by is_disconnected(), replayed by stream().
        self._pending: list[Message] = []
        self._form: Any = None

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
        limit: int | None = self.scope.get(MAX_BODY_SIZE_KEY)
        if limit is None:
            return None
        header = self.headers.get("content-length")
        if header is not None:
            if not header.isascii() or not header.isdigit():
                raise HTTPException(400, "Invalid Content-Length header: expected plain digits.")
            if int(header) > limit:
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
            yield self._body
            return
        if self._stream_consumed:
            raise RuntimeError(
                "The request body stream was already consumed; read it once, "
                "or call body() first, which keeps a copy."
            )
        self._stream_consumed = True
        limit = self._body_limit()
        received = 0
        while True:
            message = self._pending.pop(0) if self._pending else await self.receive()
            if message["type"] == "http.request":
                chunk: bytes = message.get("body", b"")
                received += len(chunk)
                if limit is not None and received > limit:
                    raise _too_large(limit)
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return
            elif message["type"] == "http.disconnect":
                self._disconnected = True
                raise ClientDisconnect()

    async def body(self) -> bytes:
        """The whole body, read once and cached."""
        if self._body is None:
            chunks = [chunk async for chunk in self.stream()]
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        """The body parsed as JSON; invalid JSON is a 400, never a 500."""
        if self._json is _UNSET:
            body = await self.body()
            try:
                self._json = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise HTTPException(400, f"Invalid JSON body: {exc}") from None
        return self._json

    async def is_disconnected(self) -> bool:
        """True once the client has gone; checks without waiting."""
        if not self._disconnected and self._receive is not None:
            message: Message | None = None
            # A cancelled scope makes receive() return at once if nothing is queued.
            with anyio.CancelScope() as cancel_scope:
                cancel_scope.cancel()
                message = await self._receive()
            if message is not None:
                if message["type"] == "http.disconnect":
                    self._disconnected = True
                else:
                    self._pending.append(message)
        return self._disconnected

    async def close(self) -> None:
        """Release what the request holds (the parsed form's temporary files)."""
        if self._form is not None:
            await self._form.close()


class _Unset:
    pass


_UNSET: Any = _Unset()


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"Request body too large: the limit is {limit} bytes.")
