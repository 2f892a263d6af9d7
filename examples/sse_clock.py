"""A live clock over Server-Sent Events: a page whose EventSource shows the server's time.

Run it with ``uvicorn examples.sse_clock:app`` and open http://127.0.0.1:8000/, or::

    curl -N http://127.0.0.1:8000/clock

A reconnecting browser sends ``Last-Event-ID``; the stream resumes its tick count from it.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio

from microasgi import App, EventSourceResponse, HTMLResponse, Request, ServerSentEvent

TICK_SECONDS = 1.0

app = App()

PAGE = """<!doctype html>
<title>SSE clock</title>
<h1 id="clock">waiting for the server...</h1>
<script>
  const source = new EventSource("/clock");
  source.addEventListener("tick", (event) => {
    document.getElementById("clock").textContent = event.data;
  });
</script>
"""


@app.get("/")
async def page() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.get("/clock")
async def clock(request: Request) -> EventSourceResponse:
    last_id = request.headers.get("last-event-id", "")
    start = int(last_id) + 1 if last_id.isdigit() else 1

    async def ticks() -> AsyncIterator[ServerSentEvent]:
        number = start
        while True:
            now = datetime.now(UTC).strftime("%H:%M:%S UTC")
            yield ServerSentEvent(data=now, event="tick", id=str(number))
            number += 1
            await anyio.sleep(TICK_SECONDS)

    return EventSourceResponse(ticks())
