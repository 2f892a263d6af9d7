"""Shared fixtures for protocol-level tests: run an app on scripted messages, build scopes."""

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import anyio
import pytest

from microasgi.types import ASGIApp, Message, Scope
from tests.redis_server import RedisServer, redis_serving

# What receive() returns once the scripted messages have run out, per scope type.
_CLIENT_GONE: dict[str, Message] = {
    "http": {"type": "http.disconnect"},
    "websocket": {"type": "websocket.disconnect", "code": 1000},
}


class RunApp(Protocol):
    def __call__(
        self,
        app: ASGIApp,
        scope: Scope,
        messages: Sequence[Message] = (),
        *,
        sent: list[Message] | None = None,
    ) -> list[Message]: ...


class HTTPScope(Protocol):
    def __call__(
        self,
        path: str = "/",
        method: str = "GET",
        headers: Iterable[tuple[str | bytes, str | bytes]] = (),
        query_string: bytes = b"",
        **overrides: Any,
    ) -> Scope: ...


@pytest.fixture
def run_app() -> RunApp:
    """Run ``app`` on ``scope``; receive() returns ``messages`` in order, then the client leaves.

    Returns the messages the app sent. Pass ``sent=[]`` to keep them when the app raises.
    The run fails with TimeoutError after 5 s, so a stuck app cannot hang the suite.
    """

    def run(
        app: ASGIApp,
        scope: Scope,
        messages: Sequence[Message] = (),
        *,
        sent: list[Message] | None = None,
    ) -> list[Message]:
        pending = deque(messages)
        record: list[Message] = [] if sent is None else sent

        async def receive() -> Message:
            if pending:
                return pending.popleft()
            if scope["type"] not in _CLIENT_GONE:
                raise RuntimeError(f"The scripted {scope['type']} messages ran out.")
            return dict(_CLIENT_GONE[scope["type"]])

        async def send(message: Message) -> None:
            record.append(message)

        async def main() -> None:
            with anyio.fail_after(5):
                await app(scope, receive, send)

        anyio.run(main)
        return record

    return run


def _encode(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


@pytest.fixture
def http_scope() -> HTTPScope:
    """Build an HTTP scope shaped as uvicorn builds it; keyword overrides replace any key."""

    def build(
        path: str = "/",
        method: str = "GET",
        headers: Iterable[tuple[str | bytes, str | bytes]] = (),
        query_string: bytes = b"",
        **overrides: Any,
    ) -> Scope:
        raw_headers = [(_encode(name).lower(), _encode(value)) for name, value in headers]
        if all(name != b"host" for name, _ in raw_headers):
            raw_headers.insert(0, (b"host", b"testserver"))
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": method,
            "root_path": "",
            "path": path,
            "raw_path": quote(path).encode("ascii"),
            "query_string": query_string,
            "headers": raw_headers,
            "state": {},
        }
        scope.update(overrides)
        return scope

    return build


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, on 127.0.0.1 and a free port (see tests/redis_server)."""
    with redis_serving(tmp_path) as server:
        yield server
