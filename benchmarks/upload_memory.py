"""Memory and early refusal under uvicorn: a 1 GiB multipart upload, a 10,000-field form.

Run it with ``python benchmarks/upload_memory.py`` (about a minute; not part of the tests).
It serves this module's ``app`` with uvicorn on 127.0.0.1, measures the server's idle RSS
(``VmRSS`` in ``/proc/PID/status``), streams a generated 1 GiB file upload while sampling
the server's RSS, checks the server stored every byte, then sends a 10,000-field urlencoded
form and checks it is refused with 400 quickly. Exits non-zero if a check fails or the
peak RSS grew more than 50 MiB over idle.
"""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: import the microasgi beside this folder
    sys.path.insert(0, str(ROOT))

from benchmarks.server import free_port  # noqa: E402
from microasgi import App, Request, UploadFile  # noqa: E402

UPLOAD_SIZE = 1024**3
CHUNK = bytes(range(256)) * 4096  # 1 MiB that cannot contain the boundary
BOUNDARY = "benchmark-boundary-7d1f2c"
FIELD_COUNT = 10_000
MAX_RSS_GROWTH_MIB = 50
STARTUP_TIMEOUT = 15.0

app = App()


@app.post("/upload", max_body_size=None)
async def receive_upload(request: Request) -> dict[str, int]:
    form = await request.form()
    upload = form["file"]
    if not isinstance(upload, UploadFile) or upload.size is None:
        return {"size": -1}
    return {"size": upload.size}


@app.post("/form")
async def receive_form(request: Request) -> dict[str, int]:
    return {"fields": len((await request.form()).multi_items())}


def wait_until_listening(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn exited early with code {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"uvicorn did not listen on 127.0.0.1:{port} within {STARTUP_TIMEOUT} s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class PeakSampler(threading.Thread):
    """Samples a process's RSS every few milliseconds and keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = rss_mib(pid)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.02):
            self.peak = max(self.peak, rss_mib(self.pid))


def multipart_upload() -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    for _ in range(UPLOAD_SIZE // len(CHUNK)):
        yield CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def main() -> int:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "benchmarks.upload_memory:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    failures: list[str] = []
    try:
        wait_until_listening(port, server)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120.0) as client:
            # Warm up: imports and first-request caches are part of "idle".
            client.post("/upload", files={"file": ("warm.bin", b"x" * 2_000_000)})
            client.post("/form", data={"a": "1"})
            time.sleep(0.5)
            idle = rss_mib(server.pid)

            sampler = PeakSampler(server.pid)
            sampler.start()
            started = time.monotonic()
            response = client.post(
                "/upload",
                content=multipart_upload(),
                headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
            )
            upload_seconds = time.monotonic() - started
            sampler.stopped.set()
            sampler.join()
            stored = response.json().get("size") if response.status_code == 200 else None
            growth = sampler.peak - idle
            print(f"idle RSS:          {idle:8.1f} MiB")
            print(f"peak RSS (upload): {sampler.peak:8.1f} MiB")
            print(f"peak - idle:       {growth:8.1f} MiB (limit {MAX_RSS_GROWTH_MIB} MiB)")
            print(
                f"1 GiB upload:      {upload_seconds:8.1f} s "
                f"({UPLOAD_SIZE / 1024**2 / upload_seconds:.0f} MiB/s), "
                f"status {response.status_code}, stored {stored} bytes"
            )
            if stored != UPLOAD_SIZE:
                failures.append(f"the server stored {stored} bytes, not {UPLOAD_SIZE}")
            if growth > MAX_RSS_GROWTH_MIB:
                failures.append(f"RSS grew {growth:.1f} MiB during the upload")

            body = "&".join(f"field{index}=value{index}" for index in range(FIELD_COUNT))
            started = time.monotonic()
            refused = client.post(
                "/form",
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            form_seconds = time.monotonic() - started
            print(
                f"{FIELD_COUNT}-field form:  status {refused.status_code} in "
                f"{form_seconds * 1000:.1f} ms: {refused.text!r}"
            )
            if refused.status_code != 400:
                failures.append(f"the {FIELD_COUNT}-field form got {refused.status_code}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
