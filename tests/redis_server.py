"""A real redis-server for the channels tests: 127.0.0.1, a free port, a temp dir, no
persistence, stopped (or killed, to play a crash) by its PID and restartable on its port."""

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.servers import free_port

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def redis_server_binary() -> str:
    """The path of redis-server. Missing: a skip on a developer's machine, a failure in CI
    (where scripts/check.sh installs it), so the Redis tests can never silently vanish there."""
    binary = shutil.which("redis-server")
    if binary is not None:
        return binary
    message = "redis-server is not installed (Debian package redis-server; check.sh installs it)"
    if under_ci():
        pytest.fail(message)
    pytest.skip(message)


class RedisServer:
    """One redis-server process; ``restart`` brings a new one up on the same port."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        command += ["--daemonize", "no", "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.directory / "redis.log"
                raise RuntimeError(f"redis-server exited early:\n{log.read_text()}")
            if self.ping():
                return
            time.sleep(0.02)
        raise TimeoutError(f"redis-server did not answer on port {self.port} in time")

    def ping(self) -> bool:
        """True when the server answers PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, crash: bool = False) -> None:
        """Stop the server by its PID: SIGTERM, or SIGKILL to play a crash."""
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def redis_serving(directory: Path) -> Iterator[RedisServer]:
    """A started ``RedisServer`` in ``directory``, stopped at the end."""
    server = RedisServer(redis_server_binary(), directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
