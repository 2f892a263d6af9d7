"""Real servers on 127.0.0.1 for the raw-socket tests, and a bounded raw HTTP/1.1 client.

Each server runs ``tests.security.raw_app:app`` in its own process, is stopped by its PID,
and every wait (start, connect, read) has a timeout.
"""

import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.servers import free_port
from tests.e2e.servers import serving as serve_command

APP = "tests.security.raw_app:app"
READ_TIMEOUT = 5.0
MAX_RESPONSE = 1024 * 1024


def server_command(name: str, port: int) -> list[str]:
    """The command line serving the app with ``name``: uvicorn-h11, uvicorn-httptools or
    hypercorn."""
    python = [sys.executable, "-m"]
    if name.startswith("uvicorn-"):
        http = name.removeprefix("uvicorn-")
        where = ["--host", "127.0.0.1", "--port", str(port)]
        # microasgi's ProxyHeadersMiddleware is under test, not uvicorn's own.
        quiet = ["--log-level", "warning", "--no-proxy-headers"]
        return [*python, "uvicorn", APP, "--http", http, *where, *quiet]
    if name == "hypercorn":
        where = ["--bind", f"127.0.0.1:{port}"]
        return [*python, "hypercorn", APP, *where, "--log-level", "warning"]
    raise ValueError(f"unknown server {name!r}")


@contextmanager
def serving(name: str, static_dir: Path, log: Path) -> Iterator[int]:
    """Run the server called ``name``; yield its port once it listens; stop it by its PID."""
    port = free_port()
    environment = {"MICROASGI_SECURITY_STATIC": str(static_dir)}
    with serve_command(server_command(name, port), port, log, environment):
        yield port


@dataclass
class RawResponse:
    """A response as read off the socket; status 0 when the server closed without one."""

    status: int
    head: bytes
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == wanted:
                return value.strip().decode("latin-1")
        return None


def raw_request(port: int, request: bytes) -> RawResponse:
    """Send ``request`` as is (no normalising client in between) and read the answer until
    the server closes (the request asks for ``Connection: close``) or the bounds are hit."""
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as connection:
        connection.sendall(request)
        deadline = time.monotonic() + READ_TIMEOUT
        while len(received) < MAX_RESPONSE and time.monotonic() < deadline:
            try:
                chunk = connection.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
            if _complete(received):
                break
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else 0
    return RawResponse(status, head, body)


def _complete(received: bytearray) -> bool:
    head, separator, body = bytes(received).partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value.strip())
    return False
