"""A small ASGI driver for middleware tests: scripted receive messages, recorded sends.

Middleware tests look at exact ASGI messages and raw header bytes, so they drive the app
directly instead of going through an HTTP client. Every run is bounded by a timeout.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from microasgi.types import ASGIApp, Message, Receive, Scope, Send

RUN_TIMEOUT = 5.0


@dataclass
class Result:
    """Everything an app sent for one connection."""

    messages: list[Message]

    @property
    def start(self) -> Message:
        starts = [m for m in self.messages if m["type"].endswith("response.start")]
        assert len(starts) == 1, self.messages
        return starts[0]

    @property
    def status(self) -> int:
        status: int = self.start["status"]
        return status

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [(bytes(k), bytes(v)) for k, v in self.start.get("headers", ())]

    def header(self, name: str) -> str | None:
        """The first value of a response header, or None."""
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        wanted = name.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self.raw_headers if k.lower() == wanted]

    @property
    def body_messages(self) -> list[Message]:
        return [m for m in self.messages if m["type"].endswith("response.body")]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.body_messages)


def make_scope(
    scope_type: str = "http",
    *,
    method: str = "GET",
    path: str = "/",
    query_string: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    scheme: str | None = None,
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int | None] | None = ("testserver", 80),
    root_path: str = "",
    raw_path: bytes | None = None,
    extensions: dict[str, Any] | None = None,
) -> Scope:
    """An ASGI scope with lowercased latin-1 header names, as servers build them."""
    scope: Scope = {
        "type": scope_type,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": scheme or ("http" if scope_type == "http" else "ws"),
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode("utf-8"),
        "query_string": query_string,
        "root_path": root_path,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": client,
        "server": server,
        "extensions": extensions or {},
    }
    if scope_type == "http":
        scope["method"] = method
    return scope


def run(app: ASGIApp, scope: Scope, receive_messages: Iterable[Message] | None = None) -> Result:
    """Run ``app`` for one connection and return what it sent.

    After the scripted messages run out, receive answers with a disconnect.
    """
    if receive_messages is None:
        if scope["type"] == "http":
            receive_messages = [{"type": "http.request", "body": b"", "more_body": False}]
        else:
            receive_messages = [{"type": "websocket.connect"}]
    inbox = list(receive_messages)
    disconnect = "http.disconnect" if scope["type"] == "http" else "websocket.disconnect"
    sent: list[Message] = []

    async def receive() -> Message:
        if inbox:
            return inbox.pop(0)
        return {"type": disconnect, "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        with anyio.fail_after(RUN_TIMEOUT):
            await app(scope, receive, send)

    anyio.run(main)
    return Result(sent)


def text_app(
    body: bytes = b"ok",
    *,
    status: int = 200,
    headers: Sequence[tuple[bytes, bytes]] = (),
    content_type: bytes | None = b"text/plain; charset=utf-8",
) -> ASGIApp:
    """An app answering ``body`` in one message, with Content-Length and extra headers."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response_headers = [(b"content-length", str(len(body)).encode("ascii")), *headers]
        if content_type is not None:
            response_headers.append((b"content-type", content_type))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    return app


def streaming_app(
    chunks: Sequence[bytes], *, headers: Sequence[tuple[bytes, bytes]] = ()
) -> ASGIApp:
    """An app streaming ``chunks`` (more_body=True on all but the last)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        start_headers = [(b"content-type", b"text/plain"), *headers]
        await send({"type": "http.response.start", "status": 200, "headers": start_headers})
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


class ScopeRecorder:
    """An app that records the scope it was called with and answers 200 ``ok``."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    @property
    def scope(self) -> Scope:
        assert len(self.scopes) == 1
        return self.scopes[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            return
        if scope["type"] == "lifespan":
            return
        await text_app()(scope, receive, send)
