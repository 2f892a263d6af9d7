"""A chat room over WebSockets: every text message is broadcast to everyone in the room.

Run it with ``uvicorn examples.chat:app``, then open http://127.0.0.1:8000/ in two browser
tabs (add ``?name=alice`` to pick a name) and talk to yourself.
"""

from microasgi import App, HTMLResponse, WebSocket

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


def create_app() -> App:
    """A chat app with its own room (tests build a fresh one each)."""
    app = App()
    room = Room()
    app.state.room = room

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
                await room.broadcast(f"{name}: {text}")
        finally:
            room.members.discard(websocket)

    return app


app = create_app()
