"""The router's own answers where no route serves: 404, 405, a slash redirect, and the
refusal of a websocket handshake nobody serves.

Each is a ``RouterAnswer``, a route-like object ``Router.match`` returns so that a miss is
served exactly like a match.
"""

from collections.abc import Awaitable
from urllib.parse import quote, unquote

from microasgi._routetable import PATH_SAFE, RouteTable
from microasgi.answering import answer_handled
from microasgi.exceptions import HTTPException
from microasgi.responsestate import hand_over
from microasgi.routes import BaseRoute, Params
from microasgi.types import ASGIApp, Receive, Scope, Send


class RouterAnswer(BaseRoute):
    """The router's own answer where no route serves: ``handle`` runs ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def handle(
        self, scope: Scope, receive: Receive, send: Send, params: Params, rest: str | None
    ) -> Awaitable[None]:
        return self.app(scope, receive, hand_over(scope, send))


async def refuse(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    """A 404 or 405: a handled error, answered by the App's handlers (or in plain text by
    a Router served on its own; raised for another framework's handlers)."""
    await answer_handled(exc, scope, receive, send)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await refuse(HTTPException(404), scope, receive, send)  # a fresh one: it may be raised


async def _deny_missing_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    await deny_websocket(scope, send, 404, b"Not Found")


NOT_FOUND = RouterAnswer(_not_found)
WEBSOCKET_NOT_FOUND = RouterAnswer(_deny_missing_websocket)


def slash_twin(table: RouteTable, path: str, scope: Scope) -> str | None:
    """The Location for a slash/no-slash redirect, when the twin of ``path`` matches.

    ``path`` is the routed part; "" (a mount's own prefix) has the twin "/".
    """
    if path == "/" or (path and not path.startswith("/")):
        return None
    twin = path[:-1] if path.endswith("/") else path + "/"
    if next(table.match(twin), None) is None:
        return None
    full: str = scope["path"]
    raw_path: bytes | None = scope.get("raw_path")
    raw = raw_path.decode("latin-1") if raw_path else ""
    # Keep the client's encoding when raw_path spells the same path (a decoded '%'
    # or '?' would change the URL); otherwise encode the decoded path.
    if raw and raw.endswith("/") == full.endswith("/") and unquote(raw) == full:
        location = raw
    else:
        location = quote(full, safe=PATH_SAFE)
    location = location[:-1] if location.endswith("/") else location + "/"
    # A Location starting with // (or /\, which browsers read alike) is scheme-relative:
    # it would send the client to another host (an open redirect).
    if location.startswith(("//", "/\\")):
        return None
    query: bytes = scope.get("query_string", b"")
    return location + ("?" + query.decode("latin-1") if query else "")


async def deny_websocket(scope: Scope, send: Send, status: int, body: bytes) -> None:
    """Refuse a handshake: an HTTP response where the server supports it, else a close."""
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1000})
