"""Try a request: run one HTTP request, websocket session or lifespan against the app, in
process, and hand back its trace.

The form's input is checked first (a clear ValueError says what is wrong). Every wait is
bounded: a response that streams on (server-sent events) has its client leave after
``LISTEN_SECONDS``, and the whole exchange is cancelled after ``MAX_SECONDS``.
"""

import re
from typing import Any
from urllib.parse import unquote

import anyio

from microasgi.middleware.trace import Trace, TraceMiddleware
from microasgi.protocol import HTTP, WEBSOCKET, ProtocolGuard
from microasgi.types import ASGIApp, Message, Scope

LISTEN_SECONDS = 1.5  # how long the client listens to a response that does not end
MAX_SECONDS = 5.0  # past this, the exchange is cancelled
MAX_MESSAGES = 20
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_KINDS = ("http", "websocket", "lifespan")


def check_form(form: Any) -> dict[str, Any]:
    """The try-a-request form, checked: kind, method, path, headers (``Name: value`` lines),
    body, and for a websocket the texts to send.

    Raises:
        ValueError: a field is missing or malformed; the message names it.
    """
    if not isinstance(form, dict):
        raise ValueError("the form must be a JSON object")
    kind = form.get("kind", "http")
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}")
    method = str(form.get("method", "GET")).upper()
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"bad method {method!r}: expected an HTTP method such as GET")
    path = form.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/") or not path.isprintable():
        raise ValueError("path must start with '/' and hold no control characters")
    headers = []
    for line in str(form.get("headers", "")).splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name.strip()) or not value.isprintable():
            raise ValueError(f"bad header {line!r}: expected Name: value")
        headers.append((name.strip().lower().encode(), value.strip().encode("latin-1", "replace")))
    messages = form.get("messages", [])
    if not isinstance(messages, list) or not all(isinstance(text, str) for text in messages):
        raise ValueError("messages must be a list of texts")
    if len(messages) > MAX_MESSAGES:
        raise ValueError(f"at most {MAX_MESSAGES} websocket messages")
    body = form.get("body", "")
    if not isinstance(body, str):
        raise ValueError("body must be text")
    return {
        "kind": kind,
        "method": method,
        "path": path,
        "headers": headers,
        "body": body.encode(),
        "messages": messages,
    }


async def try_request(app: ASGIApp, form: dict[str, Any]) -> dict[str, Any]:
    """Run the checked ``form`` against ``app``; the trace as data (bodies shown)."""
    traces: list[Trace] = []
    traced = TraceMiddleware(app, traces.append, include_bodies=True)
    with anyio.move_on_after(MAX_SECONDS):
        try:
            if form["kind"] == "lifespan":
                await _run_lifespan(traced)
            elif form["kind"] == "websocket":
                await _run_websocket(traced, _scope(form, "websocket"), form["messages"])
            else:
                await _run_http(traced, _scope(form, "http"), form["body"])
        except Exception:
            pass  # the trace records what the app raised
    if not traces:  # pragma: no cover - TraceMiddleware reports even a cancelled run
        raise RuntimeError("the exchange left no trace")
    return traces[0].to_dict()


def _scope(form: dict[str, Any], kind: str) -> Scope:
    raw_path, _, query = form["path"].partition("?")
    headers = [(b"host", b"playground"), *form["headers"]]
    scope: Scope = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws" if kind == "websocket" else "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("playground", 80),
        "state": {},
    }
    if kind == "http":
        scope["method"] = form["method"]
    else:
        scope["subprotocols"] = []
    return scope


async def _run_http(app: ASGIApp, scope: Scope, body: bytes) -> None:
    guard = ProtocolGuard(HTTP)
    done = anyio.Event()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        with anyio.move_on_after(LISTEN_SECONDS):
            await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        guard.check(message)
        if guard.state == "response complete":
            done.set()

    await app(scope, receive, send)


async def _run_websocket(app: ASGIApp, scope: Scope, texts: list[str]) -> None:
    guard = ProtocolGuard(WEBSOCKET)
    answered = anyio.Event()
    pending = [{"type": "websocket.receive", "text": text} for text in texts]
    connected = False

    async def receive() -> Message:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await answered.wait()
        if guard.state == "connected" and pending:
            return pending.pop(0)
        await anyio.sleep(0.2)  # time for the last answers before the client leaves
        return {"type": "websocket.disconnect", "code": 1000, "reason": ""}

    async def send(message: Message) -> None:
        guard.check(message)
        answered.set()

    await app(scope, receive, send)


async def _run_lifespan(app: ASGIApp) -> None:
    """Startup, then shutdown once the startup was answered."""
    answered = anyio.Event()
    asked: list[str] = []

    async def receive() -> Message:
        if not asked:
            asked.append("startup")
            return {"type": "lifespan.startup"}
        await answered.wait()
        if len(asked) > 1:
            await anyio.sleep_forever()  # bounded by the caller's MAX_SECONDS
        asked.append("shutdown")
        return {"type": "lifespan.shutdown"}

    async def send(message: Message) -> None:
        answered.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    await app(scope, receive, send)
