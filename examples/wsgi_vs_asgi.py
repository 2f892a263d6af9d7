"""Five requests that each wait on I/O, served by WSGI one at a time and by ASGI at once.

Run it (uvicorn is needed: ``pip install microasgi[run]``)::

    python examples/wsgi_vs_asgi.py            # each request waits 1 s
    python examples/wsgi_vs_asgi.py --delay 0.2 --requests 8

Every request waits ``--delay`` seconds, standing in for a database query or a call to
another service. The same batch of simultaneous requests is sent to:

1. a WSGI app under the standard library's ``wsgiref`` server, which serves one request
   at a time: the waits add up;
2. a microasgi ``async def`` endpoint under uvicorn, which ``await``s the wait: one event
   loop overlaps them all;
3. a microasgi plain ``def`` endpoint that calls ``time.sleep``: it runs in a worker
   thread, so the waits overlap as long as there are threads; with the pool limited to
   two threads, the requests queue for them.

Every server listens on 127.0.0.1 on a free port and is stopped before the script ends.
"""

import argparse
import math
import socket
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import anyio

from microasgi import App
from microasgi.concurrency import configure_threads

REQUEST_TIMEOUT = 60.0
START_TIMEOUT = 10.0


@dataclass(frozen=True)
class Row:
    server: str
    endpoint: str
    expected: str
    seconds: float


def wsgi_app(delay: float) -> WSGIApplication:
    """A WSGI app whose every request blocks its thread for ``delay`` seconds."""

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        time.sleep(delay)  # the server's only thread waits here: nobody else is served
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    return application


def asgi_app(delay: float, threads: int | None = None) -> App:
    """``/async`` awaits the delay; ``/sync`` blocks a worker thread for it.

    ``threads`` limits the worker-thread pool of sync endpoints (40 threads by default).
    """

    async def limit_threads() -> None:
        if threads is not None:
            configure_threads(workers=threads)

    app = App(on_startup=[limit_threads])

    @app.get("/async")
    async def waits_on_the_loop() -> str:
        await anyio.sleep(delay)  # the event loop serves other requests meanwhile
        return "done"

    @app.get("/sync")
    def blocks_a_thread() -> str:
        time.sleep(delay)  # runs in a worker thread, so the event loop stays free
        return "done"

    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log in the middle of the table


@contextmanager
def wsgiref_serving(app: WSGIApplication) -> Iterator[int]:
    """wsgiref's single-threaded server in a background thread; yields its port."""
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    server.request_queue_size = 64  # let every simultaneous client wait in the backlog
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=START_TIMEOUT)


@contextmanager
def uvicorn_serving(app: App) -> Iterator[int]:
    """uvicorn in a background thread with its own event loop; yields its port."""
    try:
        import uvicorn
    except ImportError:
        raise SystemExit("this example needs uvicorn: pip install microasgi[run]") from None
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)


def fetch(url: str) -> None:
    with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT) as response:
        if response.read() != b"done":
            raise RuntimeError(f"unexpected answer from {url}")


def simultaneous(url: str, count: int) -> float:
    """Send ``count`` requests at once (one thread each); the wall time until all answered."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        started = time.perf_counter()
        for future in [pool.submit(fetch, url) for _ in range(count)]:
            future.result(timeout=REQUEST_TIMEOUT)
        return time.perf_counter() - started


def measure(delay: float, count: int) -> list[Row]:
    """Time the same batch against each server; one row each."""
    rows = []
    with wsgiref_serving(wsgi_app(delay)) as port:
        seconds = simultaneous(f"http://127.0.0.1:{port}/", count)
    rows.append(Row("wsgiref (WSGI)", "def + time.sleep", f"{count} x {delay:g} s", seconds))

    overlapped, two_rounds = f"~{delay:g} s", f"{math.ceil(count / 2)} x {delay:g} s"
    runs: list[tuple[int | None, str, str, str]] = [
        (None, "/async", "async def + await", overlapped),
        (None, "/sync", "def + time.sleep, 40 threads", overlapped),
        (2, "/sync", "def + time.sleep, 2 threads", two_rounds),
    ]
    for threads, path, endpoint, expected in runs:
        with uvicorn_serving(asgi_app(delay, threads)) as port:
            seconds = simultaneous(f"http://127.0.0.1:{port}{path}", count)
        rows.append(Row("uvicorn + microasgi", endpoint, expected, seconds))
    return rows


def table(rows: list[Row], count: int, delay: float) -> str:
    header = ("server", "endpoint", "expected", "wall time")
    cells = [header] + [(r.server, r.endpoint, r.expected, f"{r.seconds:.2f} s") for r in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = [f"{count} simultaneous requests, each waiting {delay:g} s on I/O", ""]
    for number, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=float, default=1.0, help="seconds each request waits")
    parser.add_argument("--requests", type=int, default=5, help="simultaneous requests (5)")
    args = parser.parse_args(argv)
    if not 0 < args.delay <= 10 or not 1 <= args.requests <= 50:
        parser.error("--delay must be in (0, 10] and --requests in [1, 50]")
    print(table(measure(args.delay, args.requests), args.requests, args.delay))


if __name__ == "__main__":
    main()
