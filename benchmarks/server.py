"""The real-server part: uvicorn (1 worker, uvloop + httptools) and granian on 127.0.0.1,
each app in its own server process, driven in turns by ``wrk`` for a bounded time.

Every server is a subprocess stopped by its PID (terminate, wait, kill); every wait has a
deadline; everything binds and connects to 127.0.0.1 only. Where ``wrk`` is missing, a
Python keep-alive load generator (two processes) stands in: it saturates sooner than the
servers do, so its ratios are compressed, and the output says so.
"""

import asyncio
import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from benchmarks.apps import (
    FILE_SIZE,
    PLAINTEXT,
    SERVER_FILE_VARIABLE,
    Framework,
    starlette_installed,
    user_payload,
)

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Ids for the JSON scenario vary across this many values, as in process.
ID_COUNT = 5000

SCENARIOS = ("plaintext", "json", "file")
PATHS = {"plaintext": "/", "json": "/", "file": "/file"}  # json's paths come from a Lua script
# Only these are served under real servers (microasgi's peers are compared in process).
SERVER_FRAMEWORKS: tuple[Framework, ...] = ("raw", "microasgi", "starlette")
# (server, scenario) -> the median requests/s of each framework (None: it failed).
ServerResults = dict[tuple[str, str], dict[Framework, float | None]]

_WRK_JSON_SCRIPT = f"""
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/users/" .. (counter % {ID_COUNT} + 1))
end
"""


@dataclass(frozen=True)
class ServerSettings:
    """``rounds`` measurements of ``duration`` seconds per app and scenario, after a warm-up."""

    rounds: int = 3
    duration: float = 3.0
    warmup: float = 1.0
    connections: int = 32
    load_generator: Literal["auto", "wrk", "python"] = "auto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def available_servers() -> list[str]:
    return [server for server in ("uvicorn", "granian") if _installed(server)]


def uvicorn_fast_stack() -> bool:
    return _installed("uvloop") and _installed("httptools")


def cpu_pinning() -> tuple[list[str], list[str]] | None:
    """``taskset`` prefixes that put the server on CPU 0 and the load generator on the
    others, so the two never compete for a core; None with one CPU or without taskset."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return None
    rest = ",".join(str(cpu) for cpu in cpus[1:])
    return ["taskset", "-c", str(cpus[0])], ["taskset", "-c", rest]


def _server_prefix() -> list[str]:
    pinning = cpu_pinning()
    return pinning[0] if pinning is not None else []


def _load_prefix() -> list[str]:
    pinning = cpu_pinning()
    return pinning[1] if pinning is not None else []


def server_command(server: str, framework: Framework, port: int) -> list[str]:
    return _server_prefix() + _bare_server_command(server, framework, port)


def _bare_server_command(server: str, framework: Framework, port: int) -> list[str]:
    factory = f"benchmarks.apps:make_{framework}_server_app"
    if server == "uvicorn":
        loop, protocol = ("uvloop", "httptools") if uvicorn_fast_stack() else ("asyncio", "h11")
        return [
            sys.executable, "-m", "uvicorn", factory, "--factory",
            "--host", HOST, "--port", str(port),
            "--loop", loop, "--http", protocol,
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    if server == "granian":
        return [
            sys.executable, "-m", "granian", factory, "--factory",
            "--interface", "asgi", "--host", HOST, "--port", str(port),
            "--workers", "1", "--loop", "uvloop" if _installed("uvloop") else "asyncio",
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    raise ValueError(f"Unknown server {server!r}.")


class RunningServer:
    """A server subprocess in its own session; ``with`` stops it by its PID on the way out."""

    def __init__(self, command: list[str], port: int, file_path: Path | None = None) -> None:
        self.port = port
        self._command = command
        self._file_path = file_path
        # Closed in __exit__, after the server that writes to it is gone.
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "RunningServer":
        self.process = subprocess.Popen(
            self._command,
            cwd=ROOT,
            env=dict(
                os.environ, PYTHONPATH=str(ROOT), **{SERVER_FILE_VARIABLE: str(self._file_path)}
            ),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.process is not None:
                stop_process(self.process)
        finally:
            self._log.close()

    def log_tail(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Return once GET / answers; RuntimeError if the server exits or the deadline passes."""
        if self.process is None:
            raise RuntimeError("The server was not started; use it in a with block.")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}: {self.log_tail()}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                get(self.port, "/", timeout=1.0)
                return
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout:.0f} s: {self.log_tail()}")


def stop_process(process: "subprocess.Popen[bytes]") -> None:
    """Terminate, wait with a deadline, then kill the process group we started."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The server runs in its own session, so its group id is the PID we started:
        # this reaches granian's worker too, and nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_responses(port: int, file_body: bytes) -> None:
    """The served app answers like the in-process one; RuntimeError otherwise."""
    status, body = get(port, "/")
    if (status, body) != (200, PLAINTEXT):
        raise RuntimeError(f"GET / answered {status} {body[:80]!r}")
    status, body = get(port, "/users/42")
    if status != 200 or json.loads(body) != user_payload(42):
        raise RuntimeError(f"GET /users/42 answered {status} {body[:80]!r}")
    status, body = get(port, "/file")
    if (status, body) != (200, file_body):
        raise RuntimeError(f"GET /file answered {status} with {len(body)} bytes")


# Load generators -----------------------------------------------------------------------


def wrk_requests_per_second(port: int, scenario: str, seconds: float, connections: int) -> float:
    command = [
        *_load_prefix(),
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
    ]  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if scenario == "json":
            script.write(_WRK_JSON_SCRIPT)
            script.flush()
            command += ["-s", script.name]
        command.append(f"http://{HOST}:{port}{PATHS[scenario]}")
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    output = completed.stdout + completed.stderr
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {output[-500:]}")
    if "Non-2xx or 3xx responses" in output:
        raise RuntimeError(f"wrk saw error responses: {output[-500:]}")
    return float(match.group(1))


async def _drive_connection(port: int, scenario: str, deadline: float, offset: int) -> int:
    reader, writer = await asyncio.open_connection(HOST, port)
    done = 0
    try:
        while time.monotonic() < deadline:
            path = PATHS[scenario]
            if scenario == "json":
                path = f"/users/{(offset + done) % ID_COUNT + 1}"
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{path} answered {head[:40]!r}")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if length is None:
                raise RuntimeError(f"{path} answered without Content-Length")
            await asyncio.wait_for(reader.readexactly(int(length.group(1))), timeout=5)
            done += 1
    finally:
        writer.close()
    return done


async def _drive(port: int, scenario: str, seconds: float, connections: int) -> int:
    deadline = time.monotonic() + seconds
    counts = await asyncio.gather(
        *(_drive_connection(port, scenario, deadline, index * 997) for index in range(connections))
    )
    return sum(counts)


def _load_worker(port: int, scenario: str, seconds: float, connections: int) -> int:
    return asyncio.run(_drive(port, scenario, seconds, connections))


def python_requests_per_second(port: int, scenario: str, seconds: float, connections: int) -> float:
    """Two processes of keep-alive connections; requests completed per second."""
    workers = 2
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(_load_worker, port, scenario, seconds, connections // workers)
            for _ in range(workers)
        ]
        total = sum(future.result(timeout=seconds + 30) for future in futures)
    return total / seconds


LoadGenerator = Callable[[int, str, float, int], float]


def pick_load_generator(choice: str) -> tuple[str, LoadGenerator]:
    """wrk when asked for or found; the Python generator when asked for or wrk is missing."""
    if choice == "python":
        return (
            "python keep-alive client (as asked; ratios are compressed)",
            python_requests_per_second,
        )
    if shutil.which("wrk") is not None:
        return "wrk", wrk_requests_per_second
    if choice == "wrk":
        raise RuntimeError("wrk was asked for but is not installed (apt-get install wrk).")
    return (
        "python keep-alive client (wrk not found; ratios are compressed)",
        python_requests_per_second,
    )


# The whole part ------------------------------------------------------------------------


def run_servers(
    settings: ServerSettings, progress: Callable[[str], None] = lambda _: None
) -> tuple[ServerResults, list[str], list[str]]:
    """Requests/s of every framework under every installed server, notes, and errors."""
    generator_name, generator = pick_load_generator(settings.load_generator)
    notes = [f"load generator: {generator_name}"]
    if not uvicorn_fast_stack():
        notes.append("uvloop/httptools missing: uvicorn ran with --loop asyncio --http h11")
    frameworks = [
        name for name in SERVER_FRAMEWORKS if name != "starlette" or starlette_installed()
    ]
    pinning = cpu_pinning()
    if pinning is not None:
        notes.append(f"pinned: server `{' '.join(pinning[0])}`, load `{' '.join(pinning[1])}`")
    else:
        notes.append("not pinned (one CPU or no taskset): server and load share the cores")
    results: ServerResults = {}
    errors: list[str] = []
    servers = available_servers()
    if "granian" not in servers:
        notes.append("granian is not installed: skipped")
    with tempfile.TemporaryDirectory() as folder:
        file_path = Path(folder) / "download.bin"
        file_path.write_bytes(os.urandom(FILE_SIZE))
        for server in servers:
            progress(f"{server}: {', '.join(frameworks)}")
            by_scenario = _measure_server(
                server, frameworks, settings, generator, errors, file_path
            )
            _keep_medians(results, server, by_scenario, frameworks)
    return results, notes, errors


def _keep_medians(
    results: ServerResults,
    server: str,
    by_scenario: dict[str, dict[Framework, list[float]]],
    frameworks: list[Framework],
) -> None:
    for scenario, rates in by_scenario.items():
        results[(server, scenario)] = {
            framework: statistics.median(rates[framework]) if rates[framework] else None
            for framework in frameworks
        }


def _measure_server(
    server: str,
    frameworks: list[Framework],
    settings: ServerSettings,
    generator: LoadGenerator,
    errors: list[str],
    file_path: Path,
) -> dict[str, dict[Framework, list[float]]]:
    """Every framework's app served at once (idle ones cost nothing), measured in turns."""
    rates: dict[str, dict[Framework, list[float]]] = {
        scenario: {framework: [] for framework in frameworks} for scenario in SCENARIOS
    }
    with contextlib.ExitStack() as stack:
        running: dict[Framework, RunningServer] = {}
        for framework in frameworks:
            port = free_port()
            command = server_command(server, framework, port)
            running[framework] = stack.enter_context(RunningServer(command, port, file_path))
        healthy: list[Framework] = []
        for framework, instance in running.items():
            try:
                instance.wait_ready()
                check_responses(instance.port, file_path.read_bytes())
                for scenario in SCENARIOS:
                    generator(instance.port, scenario, settings.warmup, settings.connections)
            except Exception as exc:
                errors.append(f"{server} / {framework}: ERROR: {exc}")
            else:
                healthy.append(framework)
        for round_index in range(settings.rounds):
            shift = round_index % max(len(healthy), 1)
            for scenario in SCENARIOS:
                for framework in healthy[shift:] + healthy[:shift]:
                    if framework not in healthy:
                        continue
                    port = running[framework].port
                    try:
                        rate = generator(port, scenario, settings.duration, settings.connections)
                    except Exception as exc:
                        errors.append(f"{server} / {framework} / {scenario}: ERROR: {exc}")
                        healthy.remove(framework)
                        continue
                    rates[scenario][framework].append(rate)
    return rates
