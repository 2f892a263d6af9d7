"""Attacks sent over raw sockets to real servers, for what an HTTP client would normalise
away: odd paths, duplicate and malformed headers, bare CRs. Each runs under uvicorn with
both HTTP parsers (h11, httptools) and under hypercorn; whichever layer refuses (the
server's parser or microasgi), the answer is a 4xx, never a 500.
"""

from collections.abc import Iterator

import pytest

from tests.security.servers import RawResponse, raw_request, serving

pytestmark = pytest.mark.e2e

SERVERS = ["uvicorn-h11", "uvicorn-httptools", "hypercorn"]
DIGITS = "9" * 5000


@pytest.fixture(scope="module", params=SERVERS)
def port(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp(request.param)
    static = root / "static"
    static.mkdir()
    (static / "hello.txt").write_bytes(b"hello")
    with serving(request.param, static, root / "server.log") as listening:
        yield listening


def send(port: int, head: str, body: bytes = b"", host: str | None = "127.0.0.1") -> RawResponse:
    lines = [head]
    if host is not None:
        lines.append(f"Host: {host}")
    lines.append("Connection: close")
    return raw_request(port, ("\r\n".join(lines) + "\r\n").encode("latin-1") + b"\r\n" + body)


def send_lines(port: int, *lines: str, body: bytes = b"") -> RawResponse:
    text = "\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n"
    return raw_request(port, text.encode("latin-1") + body)


def test_the_plain_file_is_served(port: int) -> None:
    response = send(port, "GET /static/hello.txt HTTP/1.1")
    assert (response.status, response.body) == (200, b"hello")


@pytest.mark.parametrize(
    "path",
    [
        "/static/%ed%a0%80.txt",  # a lone surrogate once decoded
        "/static/hello.txt%00",
        "/static/%00/hello.txt",
        "/static/..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..\\..\\etc\\passwd",
        "/static/%5c..%5chello.txt",
    ],
)
def test_hostile_static_paths_are_404_or_400(port: int, path: str) -> None:
    assert send(port, f"GET {path} HTTP/1.1").status in (400, 404)


def test_a_5000_digit_int_path_param_is_404(port: int) -> None:
    assert send(port, f"GET /items/{DIGITS} HTTP/1.1").status == 404


@pytest.mark.parametrize(
    "path", ["//evil.com/edit/", "/\\evil.com/edit/", "///evil.com/edit/", "/%2F%2Fevil.com/edit/"]
)
def test_slash_redirect_never_leaves_the_site(port: int, path: str) -> None:
    response = send(port, f"GET {path} HTTP/1.1")
    assert response.status != 500
    location = response.header("location") or ""
    assert not location.startswith(("//", "/\\", "http")), location


def test_slash_redirect_still_works_for_a_local_path(port: int) -> None:
    response = send(port, "GET /a/b/edit/ HTTP/1.1")
    assert (response.status, response.header("location")) == (307, "/a/b/edit")


def test_two_different_content_lengths_are_400(port: int) -> None:
    response = send_lines(
        port,
        "POST /echo HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Length: 3",
        "Content-Length: 30",
        body=b"abc",
    )
    assert response.status == 400


def test_two_host_headers_are_400(port: int) -> None:
    response = send_lines(port, "GET /url HTTP/1.1", "Host: 127.0.0.1", "Host: evil.com")
    assert response.status == 400


def test_a_5000_digit_host_port_is_400(port: int) -> None:
    assert send(port, "GET /url HTTP/1.1", host=f"localhost:{DIGITS}").status == 400


def test_a_missing_host_is_not_a_500(port: int) -> None:
    assert send(port, "GET /url HTTP/1.1", host=None).status == 400


def test_a_5000_digit_forwarded_port_is_not_a_500(port: int) -> None:
    response = send_lines(
        port, "GET /client HTTP/1.1", "Host: 127.0.0.1", f"X-Forwarded-For: 1.2.3.4:{DIGITS}"
    )
    assert (response.status, response.body) == (200, b"1.2.3.4:0")


def test_a_5000_digit_range_is_not_a_500(port: int) -> None:
    response = send_lines(
        port, "GET /static/hello.txt HTTP/1.1", "Host: 127.0.0.1", f"Range: bytes=0-{DIGITS}"
    )
    assert response.status in (200, 206, 416)


def test_a_bare_cr_inside_a_header_is_refused_or_harmless(port: int) -> None:
    response = raw_request(
        port, b"GET /url HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\rb\r\nConnection: close\r\n\r\n"
    )
    assert response.status in (200, 400)


def test_a_nameless_cookie_does_not_shadow_a_host_cookie(port: int) -> None:
    response = send_lines(
        port, "GET /cookies HTTP/1.1", "Host: 127.0.0.1", "Cookie: =__Host-sid=evil; __Host-sid"
    )
    assert (response.status, response.body) == (200, b"{}")


def test_a_bare_lf_inside_a_multipart_header_is_400(port: int) -> None:
    body = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="a"\nContent-Type: text/html\r\n'
        b"\r\nvalue\r\n--b--\r\n"
    )
    response = send_lines(
        port,
        "POST /form HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: multipart/form-data; boundary=b",
        f"Content-Length: {len(body)}",
        body=body,
    )
    assert response.status == 400
