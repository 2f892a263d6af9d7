"""Numbers on request text with thousands of digits: ``int()`` refuses more than 4,300.

Every place that turns request text into an int checks the digit count first, so a
huge number is a clean 400/404/416 or an ignored header, never a 500.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from microasgi import App
from microasgi.fileresponses import FileResponse, parse_range
from microasgi.middleware import Middleware
from microasgi.middleware.httpsredirect import HTTPSRedirectMiddleware
from microasgi.middleware.proxyheaders import ProxyHeadersMiddleware, parse_node
from microasgi.middleware.trustedhost import TrustedHostMiddleware, split_host_port
from microasgi.middleware.wsgi import WSGIMiddleware
from microasgi.requests import MAX_BODY_SIZE_KEY, Request
from microasgi.testclient import TestClient
from tests.conftest import HTTPScope, RunApp

DIGITS = "9" * 5000


def file_app(tmp_path: Path) -> TestClient:
    target = tmp_path / "data.bin"
    target.write_bytes(b"0123456789")
    app = App()

    @app.get("/file")
    async def serve() -> FileResponse:
        return FileResponse(target)

    return TestClient(app)


@pytest.mark.parametrize(
    "header", [f"bytes=0-{DIGITS}", f"bytes={DIGITS}-", f"bytes=-{DIGITS}", f"bytes={DIGITS}-1"]
)
def test_range_with_5000_digit_numbers_is_ignored_or_416(tmp_path: Path, header: str) -> None:
    response = file_app(tmp_path).get("/file", headers={"range": header})
    assert response.status_code in (200, 206, 416)


def test_parse_range_never_raises_on_huge_numbers() -> None:
    assert parse_range(f"bytes={DIGITS}-", 10) == ()
    assert parse_range(f"bytes=-{DIGITS}", 10) == ((0, 9),)
    assert parse_range(f"bytes=2-{DIGITS}", 10) == ((2, 9),)


def host_app(middleware: Middleware) -> TestClient:
    app = App(middleware=[middleware])

    @app.get("/")
    async def home() -> str:
        return "home"

    return TestClient(app, follow_redirects=False)


def test_trustedhost_refuses_a_5000_digit_port_with_400() -> None:
    client = host_app(Middleware(TrustedHostMiddleware, allowed_hosts=["localhost"]))
    response = client.get("/", headers={"host": f"localhost:{DIGITS}"})
    assert response.status_code == 400


def test_httpsredirect_refuses_a_5000_digit_port_with_400() -> None:
    client = host_app(Middleware(HTTPSRedirectMiddleware))
    response = client.get("/", headers={"host": f"localhost:{DIGITS}"})
    assert response.status_code == 400


def test_split_host_port_refuses_long_ports() -> None:
    assert split_host_port(f"localhost:{DIGITS}") is None
    assert split_host_port("localhost:000080") == ("localhost", 80)
    assert split_host_port("localhost:65536") is None
    assert split_host_port("localhost:08080") == ("localhost", 8080)


def client_app() -> TestClient:
    app = App(middleware=[Middleware(ProxyHeadersMiddleware, trusted_hosts="*")])

    @app.get("/")
    async def home(request: Request) -> dict[str, object]:
        client = request.client
        return {"client": list(client) if client else None}

    return TestClient(app)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-forwarded-for", f"1.2.3.4:{DIGITS}"),
        ("forwarded", f'for="1.2.3.4:{DIGITS}"'),
        ("forwarded", f'for="[::1]:{DIGITS}"'),
    ],
)
def test_forwarded_node_with_5000_digit_port_is_not_a_500(name: str, value: str) -> None:
    response = client_app().get("/", headers={name: value})
    assert response.status_code == 200
    # The port is not a port: the node is obfuscated (port 0) as for any other bad port.
    assert response.json()["client"][1] == 0


def test_parse_node_with_huge_port_gives_port_zero() -> None:
    assert parse_node(f"1.2.3.4:{DIGITS}") == ("1.2.3.4", 0)


def test_int_path_param_of_5000_digits_is_404() -> None:
    app = App()

    @app.get("/items/{n:int}")
    async def item(n: int) -> str:
        return str(n)

    @app.get("/pair/{a:int}/{b:int}")
    async def pair(a: int, b: int) -> str:
        return "pair"

    client = TestClient(app)
    assert client.get(f"/items/{DIGITS}").status_code == 404
    assert client.get(f"/pair/1/{DIGITS}").status_code == 404
    assert client.get("/items/42").text == "42"


def test_a_5000_digit_content_length_is_413_not_500(run_app: RunApp, http_scope: HTTPScope) -> None:
    app = App()

    @app.post("/echo")
    async def echo(request: Request) -> bytes:
        return await request.body()

    scope = http_scope("/echo", "POST", headers=[("content-length", DIGITS)])
    sent = run_app(app, scope, [{"type": "http.request", "body": b"abc", "more_body": False}])
    assert sent[0]["status"] == 413


def test_a_5000_digit_content_length_under_wsgi_is_not_a_500(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    def wsgi_app(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = WSGIMiddleware(wsgi_app)
    scope = http_scope("/", "POST", headers=[("content-length", DIGITS)])
    scope[MAX_BODY_SIZE_KEY] = 1024
    sent = run_app(app, scope, [{"type": "http.request", "body": b"abc", "more_body": False}])
    assert sent[0]["status"] == 413


def test_a_float_path_param_too_large_for_a_float_is_404() -> None:
    app = App()

    @app.get("/price/{amount:float}")
    async def price(amount: float) -> str:
        return repr(amount)

    client = TestClient(app)
    assert client.get(f"/price/{DIGITS}").status_code == 404
    assert client.get(f"/price/1.{DIGITS}").text == "2.0"
