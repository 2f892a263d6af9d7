"""The Quick start example answers as its docstring promises."""

from examples.hello import app
from microasgi.testclient import TestClient


def test_hello_routes() -> None:
    client = TestClient(app)
    assert client.get("/").text == "Hello, world!"
    assert client.get("/users/42").json() == {"id": 42, "url": "http://testserver/users/42"}
    assert client.post("/echo", json={"hello": "world"}).json() == {"hello": "world"}


def test_hello_errors() -> None:
    client = TestClient(app)
    assert client.get("/users/abc").status_code == 404
    not_allowed = client.delete("/")
    assert (not_allowed.status_code, not_allowed.headers["allow"]) == (405, "GET, HEAD")
    assert client.post("/echo", content=b"{not json").status_code == 400
    redirect = client.get("/users/42/?x=1", follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (307, "/users/42?x=1")
    head = client.head("/")
    assert (head.content, head.headers["content-length"]) == (b"", "13")
