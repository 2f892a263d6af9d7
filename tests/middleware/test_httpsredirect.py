import pytest

from microasgi.middleware.httpsredirect import HTTPSRedirectMiddleware
from microasgi.testclient import TestClient

from .conftest import ScopeRecorder, make_scope, run


@pytest.mark.parametrize(
    ("host", "location"),
    [
        ("example.com", "https://example.com/items?page=2"),
        ("example.com:80", "https://example.com/items?page=2"),
        ("example.com:443", "https://example.com/items?page=2"),
        ("example.com:8080", "https://example.com:8080/items?page=2"),
        ("[::1]:8000", "https://[::1]:8000/items?page=2"),
    ],
)
def test_http_is_redirected_to_https_with_307(host: str, location: str) -> None:
    recorder = ScopeRecorder()
    scope = make_scope(path="/items", query_string=b"page=2", headers=[("host", host)])
    result = run(HTTPSRedirectMiddleware(recorder), scope)
    assert result.status == 307
    assert result.header("location") == location
    assert recorder.scopes == []


def test_https_request_reaches_the_app() -> None:
    recorder = ScopeRecorder()
    result = run(HTTPSRedirectMiddleware(recorder), make_scope(scheme="https"))
    assert result.status == 200
    assert recorder.scope["scheme"] == "https"


def test_without_host_header_the_server_address_is_used() -> None:
    result = run(HTTPSRedirectMiddleware(ScopeRecorder()), make_scope(server=("testserver", 80)))
    assert result.header("location") == "https://testserver/"


def test_ipv6_server_address_is_bracketed() -> None:
    result = run(HTTPSRedirectMiddleware(ScopeRecorder()), make_scope(server=("::1", 8000)))
    assert result.header("location") == "https://[::1]:8000/"


def test_server_address_without_port() -> None:
    result = run(HTTPSRedirectMiddleware(ScopeRecorder()), make_scope(server=("localhost", None)))
    assert result.header("location") == "https://localhost/"


def test_without_host_or_server_the_answer_is_400() -> None:
    result = run(HTTPSRedirectMiddleware(ScopeRecorder()), make_scope(server=None))
    assert result.status == 400
    assert result.body == b"Invalid host header"


def test_malformed_host_header_is_not_echoed_into_location() -> None:
    scope = make_scope(headers=[("host", "evil.com/@example.com")])
    result = run(HTTPSRedirectMiddleware(ScopeRecorder()), scope)
    assert result.status == 400
    assert result.header("location") is None


def test_websocket_is_redirected_to_wss_with_the_denial_extension() -> None:
    scope = make_scope(
        "websocket",
        path="/ws",
        headers=[("host", "example.com")],
        extensions={"websocket.http.response": {}},
    )
    result = run(HTTPSRedirectMiddleware(ScopeRecorder()), scope)
    assert result.messages[0]["type"] == "websocket.http.response.start"
    assert result.status == 307
    assert result.header("location") == "wss://example.com/ws"
    assert result.messages[1] == {"type": "websocket.http.response.body", "body": b""}


def test_websocket_without_the_denial_extension_is_closed_with_1008() -> None:
    recorder = ScopeRecorder()
    scope = make_scope("websocket", headers=[("host", "example.com")])
    result = run(HTTPSRedirectMiddleware(recorder), scope)
    assert result.messages == [{"type": "websocket.close", "code": 1008, "reason": ""}]
    assert recorder.scopes == []


def test_wss_reaches_the_app() -> None:
    recorder = ScopeRecorder()
    result = run(HTTPSRedirectMiddleware(recorder), make_scope("websocket", scheme="wss"))
    assert result.messages[0] == {"type": "websocket.accept"}


def test_lifespan_passes_through() -> None:
    recorder = ScopeRecorder()
    run(HTTPSRedirectMiddleware(recorder), {"type": "lifespan"}, [])
    assert recorder.scope["type"] == "lifespan"


def test_redirect_through_the_test_client() -> None:
    client = TestClient(HTTPSRedirectMiddleware(ScopeRecorder()), follow_redirects=False)
    response = client.get("http://example.com:8080/a?b=1")
    assert response.status_code == 307
    assert response.headers["location"] == "https://example.com:8080/a?b=1"
    assert client.get("https://example.com/a").text == "ok"
