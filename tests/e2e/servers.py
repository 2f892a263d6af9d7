"""Start any ASGI server command on 127.0.0.1 for end-to-end tests; stop it by its PID."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A port nothing listens on now (the server binds it right after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(
    command: Sequence[str],
    port: int,
    log: Path,
    environment: Mapping[str, str] | None = None,
) -> Iterator["subprocess.Popen[bytes]"]:
    """Run ``command`` (which must listen on 127.0.0.1:``port``) from the project root.

    Yields the process once the port accepts connections. On leaving, the process is sent
    SIGINT (the servers' graceful stop: lifespan shutdown runs), then killed if it has not
    exited within ``STOP_TIMEOUT``. Its output goes to ``log``.
    """
    env = {**os.environ, **(environment or {})}
    with log.open("wb") as output:
        server = subprocess.Popen(
            list(command), cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_until_listening(port, server, log)
        yield server
    finally:
        stop(server)


def stop(server: "subprocess.Popen[bytes]") -> None:
    """SIGINT, then SIGKILL after ``STOP_TIMEOUT``: always by the process's own PID."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=STOP_TIMEOUT)


def wait_until_listening(port: int, server: "subprocess.Popen[bytes]", log: Path) -> None:
    """Poll the port until it accepts; fail when the process exits or the time runs out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited early ({server.returncode}):\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {STARTUP_TIMEOUT} s")
