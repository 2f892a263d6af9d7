"""The race: the same one-second wait served by a one-worker WSGI app and by microasgi.

``count`` requests arrive together at an endpoint that waits ``delay`` seconds on I/O. The
WSGI app has one worker thread, so the requests queue for it and the last one finishes after
``count * delay``; the microasgi endpoint awaits the wait, so all of them wait at once and
finish after about ``delay``. Each request becomes a bar: when it arrived, when its handler
began (after queueing, for WSGI), when it finished, all in seconds from the start of its run.
"""

import time
from collections.abc import Callable, Iterable
from typing import Any

import anyio

from microasgi.responses import PlainTextResponse
from microasgi.routes import Route
from microasgi.routing import Router
from microasgi.types import Message

MAX_COUNT = 20
MAX_DELAY = 5.0

Bar = dict[str, float]


def check_race(count: Any, delay: Any) -> tuple[int, float]:
    """``count`` and ``delay`` as numbers, or ValueError saying what is allowed."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be a whole number from 1 to {MAX_COUNT}")
    if isinstance(delay, bool) or not isinstance(delay, (int, float)):
        raise ValueError("delay must be a number of seconds")
    if not 0 < delay <= MAX_DELAY:
        raise ValueError(f"delay must be above 0 and at most {MAX_DELAY} seconds")
    return count, float(delay)


async def race(count: int, delay: float) -> dict[str, Any]:
    """Run both sides, one after the other; their bars and total wall times."""
    wsgi = await _run_wsgi(count, delay)
    asgi = await _run_asgi(count, delay)
    return {
        "count": count,
        "delay": delay,
        "runs": [
            {"name": "WSGI, one worker", "total": _total(wsgi), "bars": wsgi},
            {"name": "microasgi", "total": _total(asgi), "bars": asgi},
        ],
    }


def _total(bars: list[Bar]) -> float:
    return round(max(bar["end"] for bar in bars), 4)


def _wsgi_app(delay: float) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        time.sleep(delay)  # the I/O wait holds the worker thread
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    return app


async def _run_wsgi(count: int, delay: float) -> list[Bar]:
    app = _wsgi_app(delay)
    worker = anyio.CapacityLimiter(1)  # one worker: requests wait their turn
    bars: list[Bar] = [{} for _ in range(count)]
    started = time.perf_counter()

    def handle(bar: Bar) -> None:
        bar["begin"] = time.perf_counter() - started
        body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/wait"}, _ignore))
        if body != b"done":  # pragma: no cover - the app above always answers it
            raise RuntimeError("the WSGI app answered something else")
        bar["end"] = time.perf_counter() - started

    async def request(bar: Bar) -> None:
        bar["start"] = time.perf_counter() - started
        await anyio.to_thread.run_sync(handle, bar, limiter=worker)

    async with anyio.create_task_group() as group:
        for bar in bars:
            group.start_soon(request, bar)
    return [_rounded(bar) for bar in bars]


def _ignore(status: str, headers: list[tuple[str, str]]) -> None:
    """start_response for the race: the status and headers are not looked at."""


async def _run_asgi(count: int, delay: float) -> list[Bar]:
    bars: list[Bar] = [{} for _ in range(count)]
    started = time.perf_counter()

    async def wait(request: Any) -> PlainTextResponse:
        bars[int(request.query_params["n"])]["begin"] = time.perf_counter() - started
        await anyio.sleep(delay)  # the I/O wait frees the event loop for the others
        return PlainTextResponse("done")

    router = Router([Route("/wait", wait)])

    async def request(number: int) -> None:
        bar = bars[number]
        bar["start"] = time.perf_counter() - started
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/wait",
            "raw_path": b"/wait",
            "root_path": "",
            "query_string": f"n={number}".encode(),
            "headers": [],
            "scheme": "http",
            "http_version": "1.1",
            "server": ("playground", 80),
        }

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                bar["end"] = time.perf_counter() - started

        await router(scope, receive, send)

    async with anyio.create_task_group() as group:
        for number in range(count):
            group.start_soon(request, number)
    return [_rounded(bar) for bar in bars]


def _rounded(bar: Bar) -> Bar:
    return {key: round(bar[key], 4) for key in ("start", "begin", "end")}
