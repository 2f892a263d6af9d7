"""Long polling: ``GET /poll`` waits up to N seconds for a message posted to ``/send``.

Clients poll with ``?since=<next>`` (the ``next`` of the previous answer) and get every
message from there on, at once if some are waiting, else as soon as one arrives, or an
empty list when the wait runs out. Run it with ``uvicorn examples.longpoll:app``, then::

    curl "http://127.0.0.1:8000/poll?since=0&wait=30" &
    curl -X POST http://127.0.0.1:8000/send -H "content-type: application/json" -d '{"text": "hi"}'
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from microasgi import App, HTTPException, Request

MAX_WAIT_SECONDS = 30.0


class Mailbox:
    """Messages in order, and an event set (then replaced) whenever one arrives."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._arrived = anyio.Event()

    def post(self, text: str) -> None:
        self.messages.append(text)
        self._arrived.set()
        self._arrived = anyio.Event()

    async def wait_since(self, since: int, seconds: float) -> list[str]:
        if since >= len(self.messages):
            with anyio.move_on_after(seconds):
                await self._arrived.wait()
        return self.messages[since:]


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    # Made here, on the server's event loop, which its anyio.Event belongs to.
    yield {"mailbox": Mailbox()}


app = App(lifespan=lifespan)


def number_param(request: Request, name: str, default: str) -> float:
    text = request.query_params.get(name, default)
    try:
        value = float(text)
    except ValueError:
        raise HTTPException(400, f"Query parameter {name!r} must be a number.") from None
    if not 0 <= value < float("inf"):
        raise HTTPException(400, f"Query parameter {name!r} must be 0 or more.")
    return value


@app.get("/poll")
async def poll(request: Request) -> dict[str, Any]:
    since = int(number_param(request, "since", "0"))
    wait = min(number_param(request, "wait", str(MAX_WAIT_SECONDS)), MAX_WAIT_SECONDS)
    mailbox: Mailbox = request.state.mailbox
    messages = await mailbox.wait_since(since, wait)
    return {"messages": messages, "next": since + len(messages)}


@app.post("/send")
async def send(request: Request) -> dict[str, int]:
    payload = await request.json()
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
        raise HTTPException(400, 'Send a JSON object like {"text": "hello"}.')
    mailbox: Mailbox = request.state.mailbox
    mailbox.post(payload["text"])
    return {"count": len(mailbox.messages)}
