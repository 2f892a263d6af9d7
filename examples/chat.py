"""A chat room over WebSockets: every text message is broadcast to everyone in the room.

Run it with ``uvicorn examples.chat:app``, then open http://127.0.0.1:8000/ in two browser
tabs (add ``?name=alice`` to pick a name) and talk to yourself.

Messages go through ``microasgi.channels``: each process relays the room's channel to its
own connected members. The ``CHANNELS_URL`` environment variable picks the backend:
``memory://`` (the default) for one process; a Redis URL for several workers or machines::

    CHANNELS_URL=redis://127.0.0.1:6379/0 uvicorn examples.chat:app --workers 2
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskStatus

from microasgi import App, HTMLResponse, WebSocket
from microasgi.channels import Channels, PublishError

ROOM_CHANNEL = "chat"

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>microasgi chat</title></head>
<body>
  <ul id="log"></ul>
  <form id="form"><input id="text" autocomplete="off" autofocus><button>Send</button></form>
  <script>
    const log = document.getElementById("log");
    const text = document.getElementById("text");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws" + location.search);
    function show(line) {
      const item = document.createElement("li");
      item.textContent = line;  // textContent, never innerHTML: messages are untrusted
      log.appendChild(item);
    }
    socket.onmessage = (event) => show(event.data);
    socket.onclose = (event) => show("(disconnected: " + event.code + ")");
    document.getElementById("form").onsubmit = (event) => {
      event.preventDefault();
      if (text.value) socket.send(text.value);
      text.value = "";
    };
  </script>
</body>
</html>
"""


class Room:
    """The connected websockets; a broadcast reaches every member still there."""

    def __init__(self) -> None:
        self.members: set[WebSocket] = set()

    async def broadcast(self, text: str) -> None:
        # Iterate over a copy: members leave while we await their sends.
        for member in list(self.members):
            try:
                await member.send_text(text)
            except (OSError, RuntimeError):
                # That member is gone or closed; the others must still get the message.
                self.members.discard(member)


async def relay(
    channels: Channels, room: Room, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Broadcast every message of the room's channel, from any process, to this process's
    members. Started once the subscription is in place, so nothing published after is missed.
    """
    # A member that reads slowly holds up the broadcast; the room then skips old lines.
    async with channels.subscribe(ROOM_CHANNEL, policy="drop_oldest") as subscription:
        task_status.started()
        async for line in subscription:
            await room.broadcast(str(line))


def create_app(channels_url: str | None = None) -> App:
    """A chat app with its own room (tests build a fresh one each).

    ``channels_url`` defaults to the ``CHANNELS_URL`` environment variable, else
    ``memory://``.
    """
    if channels_url is None:
        channels_url = os.environ.get("CHANNELS_URL", "memory://")
    channels = Channels(channels_url)
    room = Room()

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        async with channels, anyio.create_task_group() as task_group:
            await task_group.start(relay, channels, room)
            yield
            task_group.cancel_scope.cancel()

    app = App(lifespan=lifespan)
    app.state.room = room
    app.state.channels = channels

    @app.get("/")
    async def home() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.websocket("/ws")
    async def chat(websocket: WebSocket) -> None:
        name = websocket.query_params.get("name", "anonymous")
        await websocket.accept()
        room.members.add(websocket)
        try:
            async for text in websocket.iter_text():
                try:
                    await channels.publish(ROOM_CHANNEL, f"{name}: {text}")
                except PublishError:
                    await websocket.send_text("(not sent: the chat is unavailable, try again)")
        finally:
            room.members.discard(websocket)

    return app


app = create_app()
