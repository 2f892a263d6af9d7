import pytest

from microasgi.middleware.trustedhost import (
    TrustedHostMiddleware,
    redirect_location,
    split_host_port,
)
from microasgi.testclient import TestClient, WebSocketDenialResponse

from .conftest import Result, ScopeRecorder, make_scope, run


def request(
    middleware: TrustedHostMiddleware,
    host: str | None,
    *,
    path: str = "/",
    raw_path: bytes | None = None,
    query_string: bytes = b"",
    scheme: str = "http",
) -> Result:
    headers = [("accept", "*/*")] + ([("host", host)] if host is not None else [])
    scope = make_scope(
        headers=headers, path=path, raw_path=raw_path, query_string=query_string, scheme=scheme
    )
    return run(middleware, scope)


@pytest.mark.parametrize(
    "host",
    ["example.com", "example.com:8000", "example.com.", "EXAMPLE.com", "Example.COM.:443"],
)
def test_allowed_host_reaches_the_app(host: str) -> None:
    recorder = ScopeRecorder()
    result = request(TrustedHostMiddleware(recorder, allowed_hosts=["example.com"]), host)
    assert result.status == 200
    assert len(recorder.scopes) == 1


@pytest.mark.parametrize("host", ["api.example.com", "a.b.example.com:8000"])
def test_wildcard_matches_subdomains(host: str) -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["*.example.com"])
    assert request(middleware, host).status == 200


@pytest.mark.parametrize("host", ["example.com", "evilexample.com", "example.com.evil.net"])
def test_wildcard_does_not_match_other_hosts(host: str) -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["*.example.com"])
    assert request(middleware, host).status == 400


def test_other_host_gets_400_and_never_reaches_the_app() -> None:
    recorder = ScopeRecorder()
    result = request(TrustedHostMiddleware(recorder, allowed_hosts=["example.com"]), "evil.com")
    assert result.status == 400
    assert result.body == b"Invalid host header"
    assert result.header("content-type") == "text/plain; charset=utf-8"
    assert result.header("content-length") == str(len(result.body))
    assert recorder.scopes == []


def test_missing_host_header_is_refused() -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["example.com"])
    assert request(middleware, None).status == 400


@pytest.mark.parametrize(
    "host",
    [
        "example.com:abc",
        "example.com:99999",
        "exa mple.com",
        "user@example.com",
        "example.com/evil",
        "[::1",
        "[::1]x",
        "",
    ],
)
def test_malformed_host_is_refused(host: str) -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["example.com"])
    assert request(middleware, host).status == 400


def test_star_allows_any_host_even_a_missing_one() -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["*"])
    assert request(middleware, None).status == 200


def test_ipv6_host_matches_a_bare_address_pattern() -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["::1"])
    assert request(middleware, "[::1]:8000").status == 200


def test_www_redirect_keeps_port_path_and_query() -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["www.example.com"])
    result = request(
        middleware, "Example.com:8080", path="/a b", raw_path=b"/a%20b", query_string=b"x=1"
    )
    assert result.status == 307
    assert result.header("location") == "http://www.example.com:8080/a%20b?x=1"


def test_www_redirect_without_port_uses_the_request_scheme() -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["www.example.com"])
    result = request(middleware, "example.com", scheme="https")
    assert result.header("location") == "https://www.example.com/"


def test_www_redirect_can_be_turned_off() -> None:
    middleware = TrustedHostMiddleware(
        ScopeRecorder(), allowed_hosts=["www.example.com"], www_redirect=False
    )
    assert request(middleware, "example.com").status == 400


def test_refused_websocket_is_closed_with_1008_before_accept() -> None:
    recorder = ScopeRecorder()
    middleware = TrustedHostMiddleware(recorder, allowed_hosts=["www.example.com"])
    result = run(middleware, make_scope("websocket", headers=[("host", "example.com")]))
    assert result.messages == [{"type": "websocket.close", "code": 1008, "reason": ""}]
    assert recorder.scopes == []


def test_allowed_websocket_reaches_the_app() -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["example.com"])
    result = run(middleware, make_scope("websocket", headers=[("host", "example.com")]))
    assert result.messages[0] == {"type": "websocket.accept"}


def test_lifespan_passes_through() -> None:
    recorder = ScopeRecorder()
    run(TrustedHostMiddleware(recorder, allowed_hosts=["example.com"]), {"type": "lifespan"}, [])
    assert recorder.scope["type"] == "lifespan"


@pytest.mark.parametrize(
    "pattern", ["*example.com", "example.*", "a.*.com", "example.com:80", "a/b", ""]
)
def test_invalid_pattern_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="Invalid allowed_hosts pattern"):
        TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=[pattern])


def test_a_single_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="allowed_hosts must be a list"):
        TrustedHostMiddleware(ScopeRecorder(), allowed_hosts="example.com")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example.COM", ("example.com", None)),
        ("example.com.:8000", ("example.com", 8000)),
        ("example.com:", ("example.com", None)),
        ("[2001:DB8::1]:443", ("[2001:db8::1]", 443)),
        ("[fe80::1%25eth0]", ("[fe80::1%25eth0]", None)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("example.com:+80", None),
        ("example.com:٣", None),
        ("[::1]:", ("[::1]", None)),
        ("[::1]80", None),
        ("bad_host!", None),
    ],
)
def test_split_host_port(value: str, expected: tuple[str, int | None] | None) -> None:
    assert split_host_port(value) == expected


def test_redirect_location_quotes_a_decoded_path_without_raw_path() -> None:
    scope = make_scope(path="/caf\u00e9 x")
    del scope["raw_path"]
    assert redirect_location(scope, "https", "example.com") == b"https://example.com/caf%C3%A9%20x"


def test_redirect_location_escapes_unsafe_query_bytes() -> None:
    scope = make_scope(query_string=b"q=a b&r=<x>")
    location = redirect_location(scope, "https", "example.com")
    assert location == b"https://example.com/?q=a%20b&r=%3Cx%3E"


def test_refused_websocket_is_denied_through_the_test_client() -> None:
    middleware = TrustedHostMiddleware(ScopeRecorder(), allowed_hosts=["example.com"])
    client = TestClient(middleware, base_url="http://evil.com")
    with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
        pass  # pragma: no cover - the handshake is refused
    assert info.value.status_code == 403
    assert client.get("/").status_code == 400
