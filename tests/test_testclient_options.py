"""TestClient options as Starlette has them: headers, cookies, base_url, root_path, client."""

import asyncio
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from microasgi import App, PlainTextResponse, Request, WebSocket
from microasgi.testclient import TestClient


def echo_app() -> App:
    app = App()

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        client = request.client
        return {
            "headers": dict(request.headers),
            "cookies": request.cookies,
            "url": str(request.url),
            "root_path": request.scope["root_path"],
            "client": [client.host, client.port] if client else None,
        }

    @app.get("/login")
    async def login() -> PlainTextResponse:
        response = PlainTextResponse("in")
        response.set_cookie("session", "abc")
        return response

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("boom")

    return app


def test_client_headers_are_sent_with_every_request() -> None:
    client = TestClient(echo_app(), headers={"x-api-key": "k1"})
    seen = client.get("/echo").json()["headers"]
    assert seen["x-api-key"] == "k1"
    assert seen["user-agent"] == "testclient"
    overriding = TestClient(echo_app(), headers={"User-Agent": "robot"})
    assert overriding.get("/echo").json()["headers"]["user-agent"] == "robot"


def test_client_cookies_are_sent_and_cookies_the_app_sets_are_kept() -> None:
    client = TestClient(echo_app(), cookies={"theme": "dark"})
    assert client.get("/echo").json()["cookies"] == {"theme": "dark"}
    client.get("/login")
    assert client.get("/echo").json()["cookies"] == {"theme": "dark", "session": "abc"}


def test_per_request_cookies_go_with_that_request_only_and_without_a_warning() -> None:
    client = TestClient(echo_app(), cookies={"theme": "dark"})
    # pytest turns warnings into errors: httpx's deprecation warning would fail this test.
    once = client.get("/echo", cookies={"lang": "fr"}).json()["cookies"]
    assert once == {"theme": "dark", "lang": "fr"}
    assert client.get("/echo").json()["cookies"] == {"theme": "dark"}
    posted = client.request("GET", "/echo", cookies=[("lang", "de")]).json()["cookies"]
    assert posted["lang"] == "de"


def test_base_url_root_path_and_client_address_reach_the_scope() -> None:
    client = TestClient(
        echo_app(), base_url="https://api.example:8443", root_path="/v1", client=("10.0.0.7", 4321)
    )
    seen = client.get("/echo").json()
    assert seen["url"] == "https://api.example:8443/v1/echo"
    assert seen["root_path"] == "/v1"
    assert seen["client"] == ["10.0.0.7", 4321]


def test_default_client_address() -> None:
    assert TestClient(echo_app()).get("/echo").json()["client"] == ["testclient", 50000]


def test_raise_server_exceptions() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        TestClient(echo_app()).get("/boom")
    response = TestClient(echo_app(), raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500


def test_websockets_get_the_client_headers_cookies_and_address() -> None:
    app = App()

    @app.websocket("/ws")
    async def socket(websocket: Any) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "key": websocket.headers.get("x-api-key"),
                "cookies": websocket.cookies,
                "client": list(websocket.client),
            }
        )
        await websocket.close()

    client = TestClient(app, headers={"x-api-key": "k"}, cookies={"a": "1"}, client=("1.2.3.4", 5))
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_json() == {
            "key": "k",
            "cookies": {"a": "1"},
            "client": ["1.2.3.4", 5],
        }


def running_backend() -> str:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no asyncio loop: the app runs on trio
        return "trio"
    return "asyncio"


def test_the_app_can_run_on_trio() -> None:
    app = App()
    backends: list[str] = []

    @app.on_startup
    async def startup() -> None:
        backends.append(running_backend())

    @app.get("/backend")
    async def backend() -> str:
        await anyio.lowlevel.checkpoint()
        return running_backend()

    @app.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(running_backend())
        await websocket.close()

    with TestClient(app, backend="trio") as client:
        assert client.get("/backend").text == "trio"
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_text() == "trio"
    assert backends == ["trio"]
    assert TestClient(app, backend="trio").get("/backend").text == "trio"  # a loop per request
    assert TestClient(app, backend_options={"debug": True}).get("/backend").text == "asyncio"
