"""The ASGI playground: a page at ``/__asgi__`` that shows this app's ASGI conversations.

``App(debug=True, playground=True)`` wraps its stack in :class:`Playground` (never without
debug: the page shows every request). It records each finished connection with
``TraceMiddleware`` into a bounded ring buffer and streams it to the page over Server-Sent
Events; the page steps through a trace event by event, explaining each with the protocol
guard's transition tables (``microasgi.protocol``), runs requests in process ("try a
request") and runs the race (one-worker WSGI against microasgi). Its own page, files and
event stream are served before the recorder, so they are never recorded. The page is plain
HTML, CSS and JavaScript shipped in ``microasgi/playground/static``.
"""

import html
import json
from collections import deque
from importlib import resources
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from microasgi.middleware.trace import Trace, TraceMiddleware
from microasgi.playground.race import check_race, race
from microasgi.playground.tryout import check_form, try_request
from microasgi.protocol import PROTOCOLS
from microasgi.requests import Request
from microasgi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from microasgi.sse import EventSourceResponse, ServerSentEvent
from microasgi.types import ASGIApp, Receive, Scope, Send

__all__ = ["DEFAULT_PATH", "Playground", "check_path"]

DEFAULT_PATH = "/__asgi__"
CAPACITY = 50  # traces kept for a page that opens later
_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
_BACKLOG = 100  # traces a slow page may fall behind by before it misses some


class Playground:
    """Serve the playground under ``path``; record every other connection of ``app``.

    Args:
        app: the app's stack (what the playground records and tries requests against).
        path: where the page lives; everything under it is the playground's.
        capacity: how many finished traces are kept (the oldest go first).
    """

    def __init__(self, app: ASGIApp, path: str = DEFAULT_PATH, capacity: int = CAPACITY) -> None:
        self.app = app
        self.path = check_path(path)
        self.traces: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.recorder = TraceMiddleware(app, self.record)
        self._listeners: set[MemoryObjectSendStream[dict[str, Any]]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and (
            path == self.path or path.startswith(self.path + "/")
        ):
            await self._serve(scope, receive, send)
            return
        await self.recorder(scope, receive, send)

    def record(self, trace: Trace) -> None:
        """Keep a finished trace and hand it to every open page."""
        data = trace.to_dict()
        self.traces.append(data)
        for listener in list(self._listeners):
            try:
                listener.send_nowait(data)
            except anyio.WouldBlock:
                pass  # that page fell behind: it misses this trace, the app goes on
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._listeners.discard(listener)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, receive)
        response = await self._answer(request, scope["path"][len(self.path) :].strip("/"))
        await response(scope, receive, send)

    async def _answer(self, request: Request, name: str) -> Response:
        method = request.method
        if name in ("", *_FILES, "protocol", "events"):
            if method not in ("GET", "HEAD"):
                return PlainTextResponse("Method Not Allowed", 405, {"allow": "GET, HEAD"})
            return self._get(name)
        if name in ("try", "race"):
            if method != "POST":
                return PlainTextResponse("Method Not Allowed", 405, {"allow": "POST"})
            return await self._post(request, name)
        return PlainTextResponse("Not Found", 404)

    def _get(self, name: str) -> Response:
        if name == "":
            page = _static("index.html").replace("{{base}}", html.escape(self.path))
            return HTMLResponse(page, headers={"cache-control": "no-store"})
        if name == "protocol":
            return JSONResponse({key: _protocol_data(key) for key in PROTOCOLS})
        if name == "events":
            return EventSourceResponse(self._events(), ping=10.0)
        return Response(_static(name), media_type=_FILES[name])

    async def _post(self, request: Request, name: str) -> Response:
        try:
            form = json.loads(await request.body())
            if name == "race":
                if not isinstance(form, dict):
                    raise ValueError("the race takes a JSON object: count and delay")
                count, delay = check_race(form.get("count"), form.get("delay"))
                return JSONResponse(await race(count, delay))
            checked = check_form(form)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            return JSONResponse({"error": str(exc)}, 400)
        app = request.scope.get("app") or self.app  # the App: its 500s and lifespan apply
        return JSONResponse(await try_request(app, checked))

    async def _events(self) -> Any:
        """Every kept trace, then each new one as it finishes, as ``trace`` events."""
        sender, receiver = anyio.create_memory_object_stream[dict[str, Any]](_BACKLOG)
        self._listeners.add(sender)
        try:
            for data in list(self.traces):
                yield ServerSentEvent(json.dumps(data), event="trace")
            async with receiver:
                async for data in receiver:
                    yield ServerSentEvent(json.dumps(data), event="trace")
        finally:
            self._listeners.discard(sender)
            sender.close()


def check_path(path: str) -> str:
    """``path`` without its trailing slash; ValueError unless it is a path below ``/``."""
    if not path.startswith("/") or path.rstrip("/") == "" or not path.isprintable():
        raise ValueError(f"playground path must be a path below '/', got {path!r}")
    return path.rstrip("/")


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _protocol_data(name: str) -> dict[str, Any]:
    protocol = PROTOCOLS[name]
    return {
        "initial": protocol.initial,
        "transitions": {state: dict(events) for state, events in protocol.transitions.items()},
        "allows": dict(protocol.allows),
    }
