"""The chat example: several clients in one room, in process through TestClient."""

import anyio

from examples.chat import Room, create_app
from microasgi import WebSocket
from microasgi.testclient import TestClient
from microasgi.types import Message


def test_home_page_connects_with_the_browser_websocket_api() -> None:
    response = TestClient(create_app()).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "new WebSocket(" in response.text


def test_a_message_reaches_every_client_in_the_room() -> None:
    with (
        TestClient(create_app()) as client,
        client.websocket_connect("/ws?name=alice") as alice,
        client.websocket_connect("/ws?name=bob") as bob,
    ):
        alice.send_text("hi bob")
        assert bob.receive_text() == "alice: hi bob"
        assert alice.receive_text() == "alice: hi bob"
        bob.send_text("hi alice")
        assert alice.receive_text() == "bob: hi alice"
        assert bob.receive_text() == "bob: hi alice"


def test_a_client_that_left_is_removed_and_the_rest_still_talk() -> None:
    app = create_app()
    with TestClient(app) as client:
        with client.websocket_connect("/ws?name=carol") as carol:
            with client.websocket_connect("/ws?name=dave") as dave:
                dave.send_text("bye")
                assert carol.receive_text() == "dave: bye"
                assert dave.receive_text() == "dave: bye"
            with client.websocket_connect("/ws?name=erin") as erin:
                erin.send_text("who is here?")
                assert carol.receive_text() == "erin: who is here?"
                assert erin.receive_text() == "erin: who is here?"
                assert len(app.state.room.members) == 2
        assert app.state.room.members == set()


def test_an_unnamed_client_is_anonymous() -> None:
    with TestClient(create_app()) as client, client.websocket_connect("/ws") as session:
        session.send_text("hello")
        assert session.receive_text() == "anonymous: hello"


class Peer:
    """A client's end of one websocket: records what the app sends, or fails like a lost one."""

    def __init__(self, *, lost: bool = False) -> None:
        self.lost = lost
        self.received: list[Message] = []

    async def receive(self) -> Message:
        return {"type": "websocket.connect"}

    async def send(self, message: Message) -> None:
        if self.lost and message["type"] == "websocket.send":
            raise OSError("client gone")  # what an ASGI 2.4 server raises
        self.received.append(message)


def test_a_failing_member_does_not_stop_the_broadcast() -> None:
    lost, healthy = Peer(lost=True), Peer()
    room = Room()

    async def main() -> None:
        for peer in (lost, healthy):
            websocket = WebSocket({"type": "websocket"}, peer.receive, peer.send)
            await websocket.accept()
            room.members.add(websocket)
        await room.broadcast("still here")

    anyio.run(main)
    assert healthy.received[-1] == {"type": "websocket.send", "text": "still here"}
    assert len(room.members) == 1
