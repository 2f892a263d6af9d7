"""A JSON body of ten fields validated into a typed parameter: microasgi (a dataclass)
against FastAPI (a pydantic v2 model), in process, on the same requests.

Both endpoints take the validated body and answer ``ok``, so the row prices dispatch,
JSON parsing and validation, not serialisation. FastAPI is optional: without it the row
is skipped (``pip install -r benchmarks/requirements.txt`` installs it).

    python benchmarks/typed.py                 # the timed row, judged: microasgi < FastAPI
    python benchmarks/typed.py --smoke         # one call each, answers checked
"""

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.inprocess import HTTPChannel, http_scope
from microasgi import App, PlainTextResponse
from microasgi.types import ASGIApp, Message

BODY = {
    "name": "Widget",
    "description": "A widget of the finest kind",
    "price": 12.5,
    "tax": 1.25,
    "quantity": 3,
    "in_stock": True,
    "sku": "W-0001",
    "tags": ["tools", "home"],
    "weight": 0.75,
    "rating": 4,
}
BODY_BYTES = json.dumps(BODY).encode()


@dataclasses.dataclass
class Item:
    name: str
    description: str
    price: float
    tax: float
    quantity: int
    in_stock: bool
    sku: str
    tags: list[str]
    weight: float
    rating: int


def microasgi_app() -> ASGIApp:
    app = App()

    @app.post("/items")
    async def create(item: Item) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app


def fastapi_app() -> ASGIApp | None:
    """FastAPI's app for the same body, or None when FastAPI is not installed."""
    if importlib.util.find_spec("fastapi") is None:
        return None
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse as FastAPIPlainText
    from pydantic import BaseModel

    class ItemModel(BaseModel):
        name: str
        description: str
        price: float
        tax: float
        quantity: int
        in_stock: bool
        sku: str
        tags: list[str]
        weight: float
        rating: int

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def create(item: ItemModel) -> FastAPIPlainText:
        return FastAPIPlainText("ok")

    app.post("/items")(create)
    return app


def _call() -> tuple[dict[str, Any], Any]:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY_BYTES)).encode()),
    ]
    return http_scope("POST", "/items", headers), HTTPChannel(BODY_BYTES).receive


async def _answer(app: ASGIApp) -> tuple[int, bytes]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope, receive = _call()
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


async def _discard(message: Message) -> None:
    return None


async def _chunk(app: ASGIApp, calls: int) -> float:
    """Seconds per request over ``calls`` requests."""
    batch = [_call() for _ in range(calls)]
    start = time.perf_counter()
    for scope, receive in batch:
        await app(scope, receive, _discard)
    return (time.perf_counter() - start) / calls


async def measure(apps: dict[str, ASGIApp], calls: int, rounds: int) -> dict[str, float]:
    """Median µs per request of each app, their chunks interleaved round by round."""
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            samples[name].append(await _chunk(app, calls))
    return {name: statistics.median(values) * 1e6 for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one call each, answers checked")
    parser.add_argument("--calls", type=int, default=2000, help="requests per chunk")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved chunks per app")
    options = parser.parse_args(argv)
    apps: dict[str, ASGIApp] = {"microasgi": microasgi_app()}
    fastapi = fastapi_app()
    if fastapi is not None:
        apps["fastapi"] = fastapi
    for name, app in apps.items():
        answer = asyncio.run(_answer(app))
        if answer != (200, b"ok"):
            print(f"ERROR: {name} answered {answer!r}")
            return 1
    calls, rounds = (1, 1) if options.smoke else (options.calls, options.rounds)
    figures = asyncio.run(measure(apps, calls, rounds))
    print("| scenario | microasgi µs | FastAPI µs | microasgi/FastAPI | target | result |")
    print("|---|---|---|---|---|---|")
    ours = f"{figures['microasgi']:.1f}"
    if fastapi is None:
        print(f"| POST ten-field JSON body, typed | {ours} | skipped | - | < 1.00x | - |")
        print("- FastAPI is not installed: pip install -r benchmarks/requirements.txt")
        return 0
    ratio = figures["microasgi"] / figures["fastapi"]
    verdict = "(not judged)" if options.smoke else ("PASS" if ratio < 1.0 else "FAIL")
    print(
        f"| POST ten-field JSON body, typed | {ours} | {figures['fastapi']:.1f} | "
        f"{ratio:.2f}x | < 1.00x | {verdict} |"
    )
    return 0 if options.smoke or ratio < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
