"""Header-level attacks: duplicate framing and Host headers, nameless cookies, cache keys
(Vary), and session cookies from the future."""

import time

import pytest

from microasgi import App
from microasgi.middleware import Middleware
from microasgi.middleware.gzip import GZipMiddleware
from microasgi.middleware.httpsredirect import HTTPSRedirectMiddleware
from microasgi.middleware.sessions import SessionMiddleware
from microasgi.middleware.trustedhost import TrustedHostMiddleware
from microasgi.requests import Request, parse_cookies
from microasgi.responses import PlainTextResponse
from microasgi.types import Message
from tests.conftest import HTTPScope, RunApp

BIG = "compressible " * 100


def echo_app(*middleware: Middleware) -> App:
    app = App(middleware=list(middleware))

    @app.post("/echo")
    async def echo(request: Request) -> bytes:
        return await request.body()

    @app.get("/url")
    async def url(request: Request) -> str:
        return str(request.url)

    @app.get("/")
    async def home() -> str:
        return "home"

    @app.get("/big")
    async def big() -> str:
        return BIG

    return app


def status(messages: list[Message]) -> int:
    code: int = messages[0]["status"]
    return code


def header(messages: list[Message], name: bytes) -> list[bytes]:
    return [value for key, value in messages[0].get("headers", ()) if key.lower() == name]


# duplicate Content-Length


def body_messages(body: bytes) -> list[Message]:
    return [{"type": "http.request", "body": body, "more_body": False}]


def test_two_different_content_lengths_are_400(run_app: RunApp, http_scope: HTTPScope) -> None:
    scope = http_scope("/echo", "POST", headers=[("content-length", "3"), ("content-length", "30")])
    assert status(run_app(echo_app(), scope, body_messages(b"abc"))) == 400


def test_two_equal_content_lengths_are_accepted(run_app: RunApp, http_scope: HTTPScope) -> None:
    # RFC 9112 section 6.3 lets a recipient accept a repeated identical value.
    scope = http_scope("/echo", "POST", headers=[("content-length", "3"), ("content-length", "3")])
    sent = run_app(echo_app(), scope, body_messages(b"abc"))
    assert (status(sent), sent[1]["body"]) == (200, b"abc")


def test_duplicate_content_length_is_not_checked_when_the_body_is_not_read(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    scope = http_scope("/", headers=[("content-length", "0"), ("content-length", "1")])
    assert status(run_app(echo_app(), scope)) == 200


# duplicate Host


TWO_HOSTS = [("host", "example.com"), ("host", "evil.com")]


def test_two_host_headers_are_400_when_the_url_is_read(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    assert status(run_app(echo_app(), http_scope("/url", headers=TWO_HOSTS))) == 400


def test_two_host_headers_are_400_through_trustedhost(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = echo_app(Middleware(TrustedHostMiddleware, allowed_hosts=["example.com", "evil.com"]))
    assert status(run_app(app, http_scope("/", headers=TWO_HOSTS))) == 400


def test_two_host_headers_are_400_through_httpsredirect(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = echo_app(Middleware(HTTPSRedirectMiddleware))
    assert status(run_app(app, http_scope("/", headers=TWO_HOSTS))) == 400


def test_one_host_header_still_builds_the_url(run_app: RunApp, http_scope: HTTPScope) -> None:
    sent = run_app(echo_app(), http_scope("/url", headers=[("host", "example.com")]))
    assert sent[1]["body"] == b"http://example.com/url"


# cookies with an empty name


@pytest.mark.parametrize(
    "cookie_header",
    ["=__Host-sid=evil", "__Host-sid", "  =v", "=", "a=1; =__Host-sid=evil; __Host-sid"],
)
def test_cookie_with_an_empty_name_is_discarded(cookie_header: str) -> None:
    cookies = parse_cookies(cookie_header)
    assert "" not in cookies
    assert cookies.get("__Host-sid") is None


def test_a_real_host_cookie_is_not_shadowed() -> None:
    cookies = parse_cookies("=__Host-sid=evil; __Host-sid=good")
    assert cookies == {"__Host-sid": "good"}


# Vary on every variant


@pytest.mark.parametrize("accept", [None, "identity", "br", "gzip;q=0"])
def test_gzip_adds_vary_to_uncompressed_variants(
    run_app: RunApp, http_scope: HTTPScope, accept: str | None
) -> None:
    headers = [("accept-encoding", accept)] if accept is not None else []
    app = echo_app(Middleware(GZipMiddleware))
    sent = run_app(app, http_scope("/big", headers=headers))
    assert header(sent, b"content-encoding") == []
    assert header(sent, b"vary") == [b"Accept-Encoding"]


def test_gzip_vary_is_added_once_to_the_compressed_variant(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = echo_app(Middleware(GZipMiddleware))
    sent = run_app(app, http_scope("/big", headers=[("accept-encoding", "gzip")]))
    assert header(sent, b"content-encoding") == [b"gzip"]
    assert header(sent, b"vary") == [b"Accept-Encoding"]


def test_gzip_leaves_vary_off_responses_it_never_compresses(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = App(middleware=[Middleware(GZipMiddleware)])

    @app.get("/encoded")
    async def encoded() -> PlainTextResponse:
        return PlainTextResponse(BIG, headers={"content-encoding": "br"})

    sent = run_app(app, http_scope("/encoded"))
    assert header(sent, b"vary") == []


# sessions from the future


def session_app() -> SessionMiddleware:
    return SessionMiddleware(App(), secret_key="k" * 32, max_age=60)


def test_session_signed_in_the_future_is_refused() -> None:
    middleware = session_app()
    now = time.time()
    cookie = middleware.encode({"user": "admin"}, now=now + 3600)
    assert middleware.decode(cookie, now=now) is None


def test_session_a_little_in_the_future_from_clock_skew_is_accepted() -> None:
    middleware = session_app()
    now = time.time()
    cookie = middleware.encode({"user": "u"}, now=now + 1)
    assert middleware.decode(cookie, now=now) == {"user": "u"}


def test_session_within_max_age_is_accepted() -> None:
    middleware = session_app()
    now = time.time()
    assert middleware.decode(middleware.encode({"a": 1}, now=now - 30), now=now) == {"a": 1}
