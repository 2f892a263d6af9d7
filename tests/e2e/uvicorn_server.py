"""Run an app under a real uvicorn on 127.0.0.1 for end-to-end tests, stopped by its PID."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def uvicorn_serving(
    app_path: str,
    log: Path,
    environment: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
) -> Iterator[int]:
    """Serve ``module:app`` with uvicorn; yield its port once it listens; stop it by its PID.

    ``options`` go to uvicorn's command line (``--workers 2``). uvicorn's output goes to
    ``log``, shown when it exits before listening.
    """
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app_path, *options]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, **(environment or {})}
    with log.open("wb") as output:
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_listening(port, server, log)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=STOP_TIMEOUT)


def _wait_until_listening(port: int, server: "subprocess.Popen[bytes]", log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"uvicorn exited early with code {server.returncode}:\n{log.read_text()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"uvicorn did not listen on 127.0.0.1:{port} within {STARTUP_TIMEOUT} s")
