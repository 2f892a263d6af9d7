"""The Response family: bodies, headers, cookies, redirects, streaming and background tasks."""

import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest

from microasgi import (
    App,
    BackgroundTask,
    BackgroundTasks,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Request,
    Response,
    StreamingResponse,
)
from microasgi.requests import parse_cookies
from microasgi.testclient import TestClient
from microasgi.types import ASGIApp, Message, Receive, Scope, Send
from tests.conftest import HTTPScope, RunApp


def header_list(message: Message) -> list[tuple[str, str]]:
    return [(name.decode(), value.decode("latin-1")) for name, value in message["headers"]]


def set_cookie_header(response: Response) -> str:
    values = [value for name, value in response.raw_headers if name == b"set-cookie"]
    assert len(values) == 1
    return values[0].decode("latin-1")


def serve(
    app: ASGIApp, scope: Scope, receive: Receive, *, fail_after: int | None = None
) -> list[Message]:
    """Run ``app``; its send records messages and raises OSError from message ``fail_after``.

    That is how an ASGI 2.4 server reports a client that went away.
    """
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if fail_after is not None and len(sent) >= fail_after:
            raise OSError("client disconnected")
        sent.append(message)

    async def main() -> None:
        with anyio.fail_after(5):
            await app(scope, receive, send)

    anyio.run(main)
    return sent


async def never_receive() -> Message:
    await anyio.sleep(60)
    raise AssertionError("unreachable")


# Response and its plain subclasses ------------------------------------------------------


def test_response_sends_start_then_the_whole_body(run_app: RunApp, http_scope: HTTPScope) -> None:
    response = Response(b"hello", status_code=201, media_type="application/octet-stream")
    sent = run_app(response, http_scope())
    assert sent == [
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"content-length", b"5"),
                (b"content-type", b"application/octet-stream"),
            ],
        },
        {"type": "http.response.body", "body": b"hello"},
    ]


def test_str_content_is_encoded_with_the_charset() -> None:
    assert Response("caf\xe9").body == b"caf\xc3\xa9"


def test_bytearray_and_memoryview_content_become_bytes() -> None:
    assert Response(bytearray(b"ab")).body == b"ab"
    assert Response(memoryview(b"cd")).body == b"cd"


def test_no_content_is_an_empty_body_with_length_zero() -> None:
    response = Response()
    assert response.body == b""
    assert response.headers["content-length"] == "0"
    assert "content-type" not in response.headers


def test_content_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="content must be bytes or str, got dict"):
        Response({"a": 1})


def test_text_media_types_get_a_charset() -> None:
    assert PlainTextResponse("x").headers["content-type"] == "text/plain; charset=utf-8"
    assert HTMLResponse("x").headers["content-type"] == "text/html; charset=utf-8"
    css = Response("x", media_type="text/css").headers["content-type"]
    assert css == "text/css; charset=utf-8"


def test_a_media_type_naming_its_charset_is_kept() -> None:
    response = Response(b"x", media_type="text/plain; Charset=latin-1")
    assert response.headers["content-type"] == "text/plain; Charset=latin-1"


def test_a_custom_charset_encodes_the_body_and_labels_it() -> None:
    class Latin1Response(PlainTextResponse):
        charset = "latin-1"

    response = Latin1Response("caf\xe9")
    assert response.body == b"caf\xe9"
    assert response.headers["content-type"] == "text/plain; charset=latin-1"


def test_constructor_headers_are_sent_and_win_over_the_defaults() -> None:
    response = Response(
        b"abc",
        headers={"X-Request-Id": "42", "Content-Type": "text/csv", "Content-Length": "3"},
        media_type="text/plain",
    )
    assert response.raw_headers == [
        (b"x-request-id", b"42"),
        (b"content-type", b"text/csv"),
        (b"content-length", b"3"),
    ]


def test_header_edits_reach_the_wire() -> None:
    app = App()

    @app.get("/")
    async def home() -> Response:
        response = PlainTextResponse("hi")
        response.headers["Cache-Control"] = "no-store"
        response.headers.append("Vary", "Accept")
        del response.headers["content-type"]
        return response

    response = TestClient(app).get("/")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["vary"] == "Accept"
    assert "content-type" not in response.headers


@pytest.mark.parametrize("status_code", [204, 304])
def test_bodyless_statuses_have_no_content_length(
    run_app: RunApp, http_scope: HTTPScope, status_code: int
) -> None:
    sent = run_app(Response(status_code=status_code), http_scope())
    assert sent[0]["status"] == status_code
    assert sent[0]["headers"] == []
    assert sent[1]["body"] == b""


def test_head_sends_the_headers_of_get_without_the_body(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    sent = run_app(PlainTextResponse("twelve bytes"), http_scope(method="HEAD"))
    assert ("content-length", "12") in header_list(sent[0])
    assert sent[1] == {"type": "http.response.body", "body": b""}


def test_head_through_the_app_gets_no_body() -> None:
    app = App()

    @app.get("/")
    async def home() -> str:
        return "twelve bytes"

    response = TestClient(app).head("/")
    assert response.status_code == 200
    assert response.headers["content-length"] == "12"
    assert response.content == b""


# JSONResponse --------------------------------------------------------------------------


def test_json_is_compact_utf8() -> None:
    response = JSONResponse({"name": "caf\xe9 \u2603", "tags": [1, 2.5, None, True]})
    assert response.body == '{"name":"caf\xe9 \u2603","tags":[1,2.5,null,true]}'.encode()
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_json_refuses_nan_and_infinities(value: float) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        JSONResponse({"value": value})


def test_json_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        JSONResponse({"what": object()})


def test_json_render_is_overridable() -> None:
    class PrettyJSONResponse(JSONResponse):
        def render(self, content: Any) -> bytes:
            return (repr(sorted(content)) + "\n").encode()

    response = PrettyJSONResponse({"b": 1, "a": 2})
    assert response.body == b"['a', 'b']\n"
    assert response.headers["content-length"] == str(len(response.body))


def test_json_none_is_null() -> None:
    assert JSONResponse(None).body == b"null"


# RedirectResponse ---------------------------------------------------------------------------


def test_redirect_is_307_with_a_location_and_no_body() -> None:
    response = RedirectResponse("/login?next=/a")
    assert response.status_code == 307
    assert response.headers["location"] == "/login?next=/a"
    assert response.body == b""


def test_redirect_status_can_be_chosen() -> None:
    assert RedirectResponse("/", status_code=303).status_code == 303


def test_redirect_quotes_spaces_and_non_ascii_but_keeps_escapes_and_syntax() -> None:
    response = RedirectResponse("https://example.com/caf\xe9 menu/%41?q=a b&r=1#top")
    expected = "https://example.com/caf%C3%A9%20menu/%41?q=a%20b&r=1#top"
    assert response.headers["location"] == expected


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r", "\x00"])
def test_redirect_url_cannot_inject_headers(newline: str) -> None:
    response = RedirectResponse(f"/next{newline}Set-Cookie: evil=1")
    names = [name for name, _ in response.raw_headers]
    assert names == [b"content-length", b"location"]
    location = response.headers["location"]
    assert not set(location) & {"\r", "\n", "\x00"}
    assert location.startswith("/next%")


def test_redirect_through_the_app() -> None:
    app = App()

    @app.get("/old")
    async def old() -> Response:
        return RedirectResponse("/new", headers={"x-moved": "yes"})

    response = TestClient(app).get("/old", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/new"
    assert response.headers["x-moved"] == "yes"


# Header and cookie injection ---------------------------------------------------------------

FORBIDDEN = ["\r", "\n", "\x00", "\r\n"]


@pytest.mark.parametrize("bad", FORBIDDEN)
def test_constructor_header_value_with_cr_lf_or_nul_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Response(b"", headers={"x-next": f"a{bad}Set-Cookie: evil=1"})


@pytest.mark.parametrize("bad", FORBIDDEN)
def test_constructor_header_name_with_cr_lf_or_nul_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="Header name"):
        Response(b"", headers={f"x{bad}y": "1"})


@pytest.mark.parametrize("bad", FORBIDDEN)
def test_setting_a_header_with_cr_lf_or_nul_is_refused(bad: str) -> None:
    response = Response(b"")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.headers["x-next"] = f"a{bad}b"
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.headers.append("x-next", f"a{bad}b")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.headers[f"x{bad}y"] = "1"
    assert "x-next" not in response.headers


def test_a_header_name_that_is_not_a_token_is_refused() -> None:
    with pytest.raises(ValueError, match="HTTP token"):
        Response(b"", headers={"bad name": "1"})


def test_a_header_value_that_is_not_latin1_is_refused() -> None:
    with pytest.raises(ValueError, match="latin-1"):
        Response(b"", headers={"x-snow": "\u2603"})


def test_a_media_type_with_cr_lf_is_refused() -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Response(b"", media_type="text/plain\r\nX-Evil: 1")


@pytest.mark.parametrize("bad", FORBIDDEN)
@pytest.mark.parametrize("field", ["value", "path", "domain", "expires"])
def test_cookie_parts_with_cr_lf_or_nul_are_refused(bad: str, field: str) -> None:
    response = Response()
    kwargs: dict[str, Any] = {field: f"a{bad}b"}
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.set_cookie("session", **kwargs)
    assert b"set-cookie" not in [name for name, _ in response.raw_headers]


@pytest.mark.parametrize("field", ["path", "domain", "expires"])
def test_cookie_attributes_with_a_semicolon_are_refused(field: str) -> None:
    kwargs: dict[str, Any] = {field: "/; Domain=evil.example"}
    with pytest.raises(ValueError, match="';'"):
        Response().set_cookie("session", **kwargs)


@pytest.mark.parametrize("key", ["", "a b", "a;b", "a=b", "a\r\nb", "caf\xe9", "a:b"])
def test_cookie_name_that_is_not_a_token_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="cookie name"):
        Response().set_cookie(key, "v")


@pytest.mark.parametrize("key", ["path", "Expires", "domain", "max-age"])
def test_cookie_name_that_is_an_attribute_name_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="reserved attribute name"):
        Response().set_cookie(key, "v")


def test_cookie_value_that_is_not_latin1_is_refused() -> None:
    with pytest.raises(ValueError, match="latin-1"):
        Response().set_cookie("snow", "\u2603")


# Cookies -----------------------------------------------------------------------------


def test_set_cookie_defaults_to_path_root_and_samesite_lax() -> None:
    response = Response()
    response.set_cookie("session", "abc")
    assert set_cookie_header(response) == "session=abc; Path=/; SameSite=Lax"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"max_age": 3600}, "session=v; Max-Age=3600; Path=/; SameSite=Lax"),
        ({"path": "/app"}, "session=v; Path=/app; SameSite=Lax"),
        ({"path": None}, "session=v; SameSite=Lax"),
        ({"domain": "example.com"}, "session=v; Domain=example.com; Path=/; SameSite=Lax"),
        ({"secure": True}, "session=v; Path=/; SameSite=Lax; Secure"),
        ({"httponly": True}, "session=v; HttpOnly; Path=/; SameSite=Lax"),
        ({"samesite": "strict"}, "session=v; Path=/; SameSite=Strict"),
        ({"samesite": "NONE", "secure": True}, "session=v; Path=/; SameSite=None; Secure"),
        ({"samesite": None}, "session=v; Path=/"),
        (
            {"partitioned": True, "secure": True},
            "session=v; Path=/; SameSite=Lax; Secure; Partitioned",
        ),
        (
            {"expires": "Wed, 21 Oct 2015 07:28:00 GMT"},
            "session=v; expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/; SameSite=Lax",
        ),
    ],
)
def test_set_cookie_attributes(kwargs: dict[str, Any], expected: str) -> None:
    response = Response()
    response.set_cookie("session", "v", **kwargs)
    assert set_cookie_header(response) == expected


def test_set_cookie_refuses_an_unknown_samesite() -> None:
    with pytest.raises(ValueError, match="samesite must be"):
        Response().set_cookie("session", "v", samesite="sometimes")  # type: ignore[arg-type]


def expires_of(response: Response) -> datetime:
    header = set_cookie_header(response)
    attribute = next(part for part in header.split("; ") if part.startswith("expires="))
    return parsedate_to_datetime(attribute.removeprefix("expires="))


def test_set_cookie_expires_in_seconds_from_now() -> None:
    response = Response()
    before = datetime.now(UTC).replace(microsecond=0)
    response.set_cookie("session", "v", expires=120)
    after = datetime.now(UTC)
    assert before + timedelta(seconds=120) <= expires_of(response) <= after + timedelta(seconds=120)
    assert set_cookie_header(response).split("expires=")[1].split(";")[0].endswith(" GMT")


@pytest.mark.parametrize(
    "expires",
    [
        datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2030, 1, 2, 3, 4, 5),  # naive: read as UTC
        datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
    ],
    ids=["utc", "naive", "plus-two-hours"],
)
def test_set_cookie_expires_at_a_datetime_in_gmt(expires: datetime) -> None:
    response = Response()
    response.set_cookie("session", "v", expires=expires)
    assert "expires=Wed, 02 Jan 2030 03:04:05 GMT;" in set_cookie_header(response)


def test_cookie_values_are_quoted_and_parse_back_unchanged() -> None:
    value = 'a b;c,d"e\\f\xe9'
    response = Response()
    response.set_cookie("data", value)
    header = set_cookie_header(response)
    assert ";c" not in header.split("; Path")[0]  # the ; is escaped, not an attribute break
    cookie_pair = header.split("; Path=")[0]
    assert parse_cookies(cookie_pair) == {"data": value}


def test_several_cookies_are_several_headers() -> None:
    app = App()

    @app.get("/")
    async def home() -> Response:
        response = PlainTextResponse("ok")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2", httponly=True)
        return response

    response = TestClient(app).get("/")
    assert response.headers.get_list("set-cookie") == [
        "a=1; Path=/; SameSite=Lax",
        "b=2; HttpOnly; Path=/; SameSite=Lax",
    ]
    assert response.cookies["a"] == "1"


def test_delete_cookie_sends_an_empty_expired_cookie() -> None:
    response = Response()
    before = time.time()
    response.delete_cookie("session")
    header = set_cookie_header(response)
    assert header.startswith('session=""; expires=')
    assert "; Max-Age=0; Path=/; SameSite=Lax" in header
    assert expires_of(response).timestamp() <= before + 1


def test_delete_cookie_matches_the_cookie_scope() -> None:
    response = Response()
    response.delete_cookie(
        "session", path="/app", domain="example.com", secure=True, httponly=True, partitioned=True
    )
    header = set_cookie_header(response)
    for part in ("Domain=example.com", "Path=/app", "Secure", "HttpOnly", "Partitioned"):
        assert f"; {part}" in header


def test_cookies_set_on_a_response_reach_the_test_client() -> None:
    app = App()

    @app.get("/login")
    async def login() -> Response:
        response = RedirectResponse("/home", status_code=303)
        response.set_cookie("session", "token", httponly=True)
        return response

    response = TestClient(app).get("/login", follow_redirects=False)
    assert response.status_code == 303
    assert response.cookies["session"] == "token"


# StreamingResponse ----------------------------------------------------------------------------


def test_streaming_an_async_generator(run_app: RunApp, http_scope: HTTPScope) -> None:
    async def numbers() -> AsyncIterator[str]:
        for number in range(3):
            yield str(number)

    sent = run_app(StreamingResponse(numbers(), media_type="text/plain"), http_scope())
    assert sent[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
    }
    assert [message["body"] for message in sent[1:]] == [b"0", b"1", b"2", b""]
    assert [message["more_body"] for message in sent[1:]] == [True, True, True, False]


def test_streaming_a_sync_generator_runs_it_in_a_worker_thread(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    threads: list[int] = []

    def chunks() -> Iterator[bytes]:
        for chunk in (b"a", b"b"):
            threads.append(threading.get_ident())
            yield chunk

    sent = run_app(StreamingResponse(chunks()), http_scope())
    assert [message["body"] for message in sent[1:]] == [b"a", b"b", b""]
    assert len(threads) == 2
    assert threading.get_ident() not in threads


def test_streaming_a_list_mixing_str_bytearray_and_memoryview(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    content: list[Any] = ["caf\xe9", bytearray(b"ba"), memoryview(b"mv")]
    sent = run_app(StreamingResponse(content), http_scope())
    assert [message["body"] for message in sent[1:]] == [b"caf\xc3\xa9", b"ba", b"mv", b""]


def test_streaming_a_chunk_of_another_type_is_a_type_error(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    with pytest.raises(TypeError, match="chunks must be bytes or str, got int"):
        run_app(StreamingResponse([b"ok", 42]), http_scope())  # type: ignore[list-item]


def test_streaming_response_has_no_content_length() -> None:
    response = StreamingResponse([b"x"], headers={"x-kind": "stream"})
    assert response.raw_headers == [(b"x-kind", b"stream")]


def test_first_chunk_reaches_the_client_before_the_generator_finishes() -> None:
    app = App()
    first_chunk_read = threading.Event()

    @app.get("/events")
    async def events() -> Response:
        def generate() -> Iterator[bytes]:
            yield b"first"
            # Blocks (in its worker thread) until the test has the first chunk in hand.
            if not first_chunk_read.wait(timeout=5):
                raise TimeoutError("the first chunk was held back")
            yield b"second"

        return StreamingResponse(generate())

    with TestClient(app).stream("GET", "/events") as response:
        chunks = response.iter_bytes()
        assert next(chunks) == b"first"
        first_chunk_read.set()
        assert b"".join(chunks) == b"second"


def test_head_does_not_run_the_stream_but_closes_it(run_app: RunApp, http_scope: HTTPScope) -> None:
    events: list[str] = []

    class Source:
        def __iter__(self) -> Iterator[bytes]:
            events.append("iterated")
            yield b"body"

        def close(self) -> None:
            events.append("closed")

    sent = run_app(StreamingResponse(Source()), http_scope(method="HEAD"))
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b""
    assert events == ["closed"]


def test_head_closes_an_async_stream_without_running_it(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    events: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        events.append("started")
        yield b"body"

    generator = chunks()
    sent = run_app(StreamingResponse(generator), http_scope(method="HEAD"))
    assert sent[1] == {"type": "http.response.body", "body": b""}
    assert events == []
    with pytest.raises(StopAsyncIteration):
        anyio.run(generator.__anext__)  # closed: it can never start


def test_head_on_a_streaming_route_through_the_app() -> None:
    app = App()

    @app.get("/download")
    async def download() -> Response:
        return StreamingResponse(iter([b"a", b"b"]), media_type="text/csv")

    response = TestClient(app).head("/download")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content == b""


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_stream_stops_when_send_raises_oserror_under_asgi_2_4(
    http_scope: HTTPScope, kind: str
) -> None:
    cleanup: list[str] = []

    def sync_chunks() -> Iterator[bytes]:
        try:
            while True:
                yield b"tick"
        finally:
            cleanup.append("sync finally")

    async def async_chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"tick"
                await anyio.lowlevel.checkpoint()
        finally:
            cleanup.append("async finally")

    content = sync_chunks() if kind == "sync" else async_chunks()
    background: list[str] = []
    response = StreamingResponse(content, background=BackgroundTask(background.append, "ran"))
    scope = http_scope(asgi={"version": "3.0", "spec_version": "2.4"})
    # The start and two chunks go out, then the client is gone.
    sent = serve(response, scope, never_receive, fail_after=3)
    assert [message.get("body") for message in sent[1:]] == [b"tick", b"tick"]
    assert cleanup == [f"{kind} finally"]
    assert background == ["ran"]


def test_final_empty_body_after_the_client_left_is_not_an_error(http_scope: HTTPScope) -> None:
    response = StreamingResponse([b"only"])
    scope = http_scope(asgi={"version": "3.0", "spec_version": "2.5"})
    sent = serve(response, scope, never_receive, fail_after=2)
    assert [message.get("body") for message in sent] == [None, b"only"]


def test_an_oserror_from_the_stream_itself_is_not_swallowed(http_scope: HTTPScope) -> None:
    def failing() -> Iterator[bytes]:
        yield b"part"
        raise OSError("disk read failed")

    scope = http_scope(asgi={"version": "3.0", "spec_version": "2.4"})
    with pytest.raises(OSError, match="disk read failed"):
        serve(StreamingResponse(failing()), scope, never_receive)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_stream_stops_on_http_disconnect_under_asgi_2_3(http_scope: HTTPScope, kind: str) -> None:
    cleanup: list[str] = []
    messages: list[Message] = [{"type": "http.request", "body": b"", "more_body": False}]

    async def main() -> list[Message]:
        # The client leaves once three chunks have been produced.
        three_produced = anyio.Event()

        def sync_chunks() -> Iterator[bytes]:
            try:
                for count in range(1, 1_000_000):
                    if count == 3:
                        anyio.from_thread.run_sync(three_produced.set)
                    time.sleep(0.001)
                    yield b"tick"
            finally:
                cleanup.append("sync finally")

        async def async_chunks() -> AsyncIterator[bytes]:
            try:
                for count in range(1, 1_000_000):
                    if count == 3:
                        three_produced.set()
                    await anyio.sleep(0.001)
                    yield b"tick"
            finally:
                cleanup.append("async finally")

        async def receive() -> Message:
            if messages:
                return messages.pop()
            await three_produced.wait()
            return {"type": "http.disconnect"}

        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        content = sync_chunks() if kind == "sync" else async_chunks()
        response = StreamingResponse(content, background=BackgroundTask(cleanup.append, "bg"))
        scope = http_scope(asgi={"version": "3.0", "spec_version": "2.3"})
        with anyio.fail_after(5):
            await response(scope, receive, send)
        return sent

    sent = anyio.run(main)
    assert sent[0]["type"] == "http.response.start"
    assert all(message.get("more_body") for message in sent[1:])  # no final message
    assert cleanup == [f"{kind} finally", "bg"]


@pytest.mark.parametrize(
    "asgi", [{"version": "3.0", "spec_version": "2.3"}, {}, {"spec_version": "x"}]
)
def test_stream_completes_normally_when_watching_receive(
    http_scope: HTTPScope, asgi: dict[str, str]
) -> None:
    sent = serve(StreamingResponse([b"a", b"b"]), http_scope(asgi=asgi), never_receive)
    assert [message["body"] for message in sent[1:]] == [b"a", b"b", b""]


def test_stream_raises_the_generator_error_unwrapped_when_watching_receive(
    http_scope: HTTPScope,
) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"a"
        raise LookupError("no more rows")

    scope = http_scope(asgi={"version": "3.0", "spec_version": "2.3"})
    with pytest.raises(LookupError, match="no more rows"):
        serve(StreamingResponse(failing()), scope, never_receive)


def test_closing_the_client_stream_stops_the_generator() -> None:
    app = App()
    cleanup = threading.Event()

    @app.get("/feed")
    async def feed() -> Response:
        async def ticks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"tick"
                    await anyio.sleep(0.001)
            finally:
                cleanup.set()

        return StreamingResponse(ticks())

    with TestClient(app).stream("GET", "/feed", timeout=1) as response:
        assert next(response.iter_bytes()) == b"tick"
    assert cleanup.wait(timeout=5)


# Background tasks --------------------------------------------------------------------------


def test_background_task_runs_after_the_body_is_sent(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    log: list[str] = []

    async def record(message: Message) -> None:
        log.append(message["type"])

    async def audit() -> None:
        log.append("async task")

    response = Response(b"ok", background=BackgroundTask(audit))

    async def main() -> None:
        async def receive() -> Message:
            return {"type": "http.disconnect"}

        await response(http_scope(), receive, record)

    anyio.run(main)
    assert log == ["http.response.start", "http.response.body", "async task"]


def test_sync_background_tasks_run_in_order_after_a_streamed_body(http_scope: HTTPScope) -> None:
    log: list[str] = []
    tasks = BackgroundTasks()
    tasks.add_task(log.append, "first")
    tasks.add_task(log.append, "second")
    response = StreamingResponse([b"a"], background=tasks)

    async def main() -> None:
        async def send(message: Message) -> None:
            log.append(f"sent more_body={message.get('more_body')}")

        await response(http_scope(), never_receive, send)

    anyio.run(main)
    assert log == [
        "sent more_body=None",
        "sent more_body=True",
        "sent more_body=False",
        "first",
        "second",
    ]


def test_background_task_through_the_test_client() -> None:
    app = App()
    done: list[str] = []

    @app.post("/orders")
    async def order(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"queued": True}, background=BackgroundTask(done.append, body.decode()))

    response = TestClient(app).post("/orders", content=b"order-1")
    assert response.json() == {"queued": True}
    assert done == ["order-1"]


# Before ASGI 2.4: ready chunks go out unwatched, a waiting source is watched -------------

OLD_SERVER = {"version": "3.0", "spec_version": "2.3"}


def _bodies(sent: list[Message]) -> list[bytes]:
    return [message["body"] for message in sent if message["type"] == "http.response.body"]


def test_pre_24_stream_of_ready_chunks_needs_no_watcher(http_scope: HTTPScope) -> None:
    async def ready() -> AsyncIterator[bytes]:
        for number in range(3):
            yield b"%d" % number

    async def receive_fails() -> Message:
        raise AssertionError("a source that never waits must not start the watcher")

    sent = serve(StreamingResponse(ready()), http_scope(asgi=OLD_SERVER), receive_fails)
    assert _bodies(sent) == [b"0", b"1", b"2", b""]


def test_pre_24_stream_watches_once_the_source_waits(http_scope: HTTPScope) -> None:
    async def waits() -> AsyncIterator[bytes]:
        yield b"ready"
        await anyio.sleep(0.01)
        yield b"after a wait"
        yield b"then ready again"

    sent = serve(StreamingResponse(waits()), http_scope(asgi=OLD_SERVER), never_receive)
    assert _bodies(sent) == [b"ready", b"after a wait", b"then ready again", b""]
    assert sent[-1]["more_body"] is False


def test_pre_24_stream_that_ends_while_waiting_still_finishes(http_scope: HTTPScope) -> None:
    async def ends_after_a_wait() -> AsyncIterator[bytes]:
        yield b"only"
        await anyio.sleep(0.01)

    sent = serve(StreamingResponse(ends_after_a_wait()), http_scope(asgi=OLD_SERVER), never_receive)
    assert _bodies(sent) == [b"only", b""]


def test_pre_24_long_ready_stream_gets_the_watcher_after_a_while(http_scope: HTTPScope) -> None:
    async def many() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b"x"

    sent = serve(StreamingResponse(many()), http_scope(asgi=OLD_SERVER), never_receive)
    assert b"".join(_bodies(sent)) == b"x" * 200


def test_pre_24_waiting_source_is_closed_when_the_client_leaves(http_scope: HTTPScope) -> None:
    closed: list[bool] = []

    async def forever() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await anyio.sleep(60)
            yield b"never"  # pragma: no cover
        finally:
            closed.append(True)

    async def leaves() -> Message:
        await anyio.sleep(0.01)
        return {"type": "http.disconnect"}

    sent = serve(StreamingResponse(forever()), http_scope(asgi=OLD_SERVER), leaves)
    assert _bodies(sent) == [b"first"]
    assert closed == [True]


def test_pre_24_error_from_a_ready_source_closes_it_and_propagates(
    http_scope: HTTPScope,
) -> None:
    closed: list[bool] = []

    async def broken() -> AsyncIterator[bytes]:
        try:
            yield b"one"
            raise LookupError("source broke")
        finally:
            closed.append(True)

    with pytest.raises(LookupError, match="source broke"):
        serve(StreamingResponse(broken()), http_scope(asgi=OLD_SERVER), never_receive)
    assert closed == [True]


def test_pre_24_text_chunks_are_encoded(http_scope: HTTPScope) -> None:
    async def text() -> AsyncIterator[str]:
        yield "café"

    sent = serve(StreamingResponse(text()), http_scope(asgi=OLD_SERVER), never_receive)
    assert _bodies(sent) == ["café".encode(), b""]


def test_pre_24_send_failing_after_a_wait_stops_the_stream(http_scope: HTTPScope) -> None:
    async def waits() -> AsyncIterator[bytes]:
        await anyio.sleep(0.01)
        yield b"lost"
        yield b"never sent"

    sent = serve(
        StreamingResponse(waits()), http_scope(asgi=OLD_SERVER), never_receive, fail_after=1
    )
    assert [message["type"] for message in sent] == ["http.response.start"]


def test_pre_24_source_with_its_own_cancel_scope_streams(http_scope: HTTPScope) -> None:
    async def timed() -> AsyncIterator[bytes]:
        yield b"a"
        with anyio.fail_after(5):
            await anyio.sleep(0.01)
            yield b"b"

    sent = serve(StreamingResponse(timed()), http_scope(asgi=OLD_SERVER), never_receive)
    assert _bodies(sent) == [b"a", b"b", b""]


def test_pre_24_streaming_echo_of_the_request_body_loses_nothing() -> None:
    app = App()

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return StreamingResponse(request.stream())

    chunks: list[Message] = [
        {"type": "http.request", "body": b"chunk%d" % number, "more_body": number < 4}
        for number in range(5)
    ]
    sent: list[Message] = []

    async def main() -> None:
        sender, inbox = anyio.create_memory_object_stream[Message](10)
        done = anyio.Event()

        async def client() -> None:
            for chunk in chunks:
                await anyio.sleep(0.005)  # the body trickles in while the response streams
                await sender.send(chunk)
            await done.wait()
            await sender.send({"type": "http.disconnect"})

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/echo",
            "headers": [(b"transfer-encoding", b"chunked")],
            "query_string": b"",
            "asgi": OLD_SERVER,
        }
        with sender, inbox, anyio.fail_after(5):
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(client)
                await app(scope, inbox.receive, send)

    anyio.run(main)
    assert b"".join(_bodies(sent)) == b"chunk0chunk1chunk2chunk3chunk4"


# A __call__ or render() brought in by a mixin is honoured (the route sends plain Responses
# itself and takes bytes as they are only while both are Response's own).


class _AddsHeader:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.raw_headers.append((b"x-mixin", b"1"))  # type: ignore[attr-defined]
        await Response.__call__(self, scope, receive, send)  # type: ignore[arg-type]


class _MixedInCallResponse(_AddsHeader, Response):
    media_type = "text/plain"


class _Upper:
    def render(self, content: Any) -> bytes:
        return bytes(content).upper()


class _MixedInRenderResponse(_Upper, Response):
    media_type = "text/plain"


def test_a_mixed_in_call_or_render_is_used() -> None:
    assert _MixedInRenderResponse(b"abc").body == b"ABC"
    app = App()
    app.get("/")(lambda: _MixedInCallResponse(b"hi"))
    response = TestClient(app).get("/")
    assert (response.text, response.headers["x-mixin"]) == ("hi", "1")


def test_stream_closes_the_iterator_an_async_iterable_hands_out(http_scope: HTTPScope) -> None:
    log: list[str] = []

    class Ticks:
        """The iterator: it holds the resource, so it is what must be closed."""

        def __aiter__(self) -> "Ticks":
            return self

        async def __anext__(self) -> bytes:
            return b"tick"

        async def aclose(self) -> None:
            log.append("iterator closed")

    class Feed:
        def __aiter__(self) -> Ticks:
            return Ticks()

    async def main() -> None:
        sent = 0
        left = anyio.Event()

        async def receive() -> Message:
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal sent
            sent += 1
            if sent == 3:
                left.set()
            await anyio.sleep(0.01)  # a slow network write

        response = StreamingResponse(Feed(), background=BackgroundTask(log.append, "background"))
        scope = http_scope("/", asgi={"version": "3.0", "spec_version": "2.3"})
        with anyio.fail_after(5):
            await response(scope, receive, send)

    anyio.run(main)
    assert log == ["iterator closed", "background"]
