"""Request and HTTPConnection: lazy scope views, the bounded body, JSON, disconnects."""

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import anyio
import pytest

import microasgi.requests
from microasgi import (
    URL,
    Address,
    App,
    ClientDisconnect,
    FormData,
    HTTPConnection,
    HTTPException,
    JSONResponse,
    Mount,
    PlainTextResponse,
    Request,
    Route,
)
from microasgi.requests import MAX_BODY_SIZE_KEY, parse_cookies, route_path
from microasgi.testclient import TestClient
from microasgi.types import ASGIApp, Message, Scope
from tests.conftest import HTTPScope, RunApp

Receive = Callable[[], Awaitable[Message]]


def scripted(messages: Sequence[Message], *, then: str = "fail") -> tuple[Receive, list[int]]:
    """A receive returning ``messages``; after them it fails the test (or reports a disconnect).

    Returns the receive and a one-item list counting the calls.
    """
    pending = list(messages)
    calls = [0]

    async def receive() -> Message:
        calls[0] += 1
        if pending:
            return pending.pop(0)
        if then == "disconnect":
            return {"type": "http.disconnect"}
        raise AssertionError("receive() was called after the scripted messages ran out")

    return receive, calls


def no_receive() -> Receive:
    async def receive() -> Message:
        raise AssertionError("the body was read although the limit had already refused it")

    return receive


def body_messages(*chunks: bytes) -> list[Message]:
    last = len(chunks) - 1
    return [
        {"type": "http.request", "body": chunk, "more_body": index < last}
        for index, chunk in enumerate(chunks)
    ]


def serve(app: ASGIApp, scope: Scope, receive: Receive) -> list[Message]:
    """Run ``app`` once with a custom receive; return what it sent (5 s timeout)."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        with anyio.fail_after(5):
            await app(scope, receive, send)

    anyio.run(main)
    return sent


def status_of(sent: list[Message]) -> int:
    status: int = sent[0]["status"]
    return status


def body_of(sent: list[Message]) -> bytes:
    return b"".join(message.get("body", b"") for message in sent[1:])


def read(request: Request, method: Callable[[Request], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        with anyio.fail_after(5):
            return await method(request)

    return anyio.run(main)


async def read_body(request: Request) -> bytes:
    return await request.body()


async def read_chunks(request: Request) -> list[bytes]:
    return [chunk async for chunk in request.stream()]


# The connection: a lazy, read-only view of the scope ------------------------------------


def test_request_refuses_a_websocket_scope(http_scope: HTTPScope) -> None:
    with pytest.raises(ValueError, match="'http' scope, got 'websocket'"):
        Request(http_scope(type="websocket"))


def test_request_reads_like_its_scope(http_scope: HTTPScope) -> None:
    scope = http_scope("/items", method="PUT")
    request = Request(scope)
    assert request["path"] == "/items"
    assert request.method == "PUT"
    assert len(request) == len(scope)
    assert set(request) == set(scope)


def test_requests_compare_by_identity_not_by_scope(http_scope: HTTPScope) -> None:
    scope = http_scope()
    first, second = Request(scope), Request(scope)
    assert first != second
    assert first == first
    assert len({first, second}) == 2


def test_constructing_a_request_parses_nothing(http_scope: HTTPScope) -> None:
    scope = http_scope(headers=[("cookie", "a=1")], query_string=b"q=1")
    request = Request(scope)
    lazy = {"url", "base_url", "headers", "query_params", "cookies", "state"}
    assert lazy.isdisjoint(vars(request))
    assert request.cookies == {"a": "1"}
    assert {"headers", "cookies"} <= set(vars(request))
    assert {"url", "query_params"}.isdisjoint(vars(request))


def test_request_app_is_the_app_serving_it() -> None:
    app = App()

    @app.get("/")
    async def home(request: Request) -> str:
        return "same" if request.app is app else "other"

    assert TestClient(app).get("/").text == "same"


def test_url_has_scheme_host_path_and_query() -> None:
    app = App()

    @app.get("/search")
    async def search(request: Request) -> str:
        return str(request.url)

    response = TestClient(app).get("/search?q=a%20b", headers={"host": "example.com:8080"})
    assert response.text == "http://example.com:8080/search?q=a%20b"


def test_base_url_is_the_app_root_under_root_path(http_scope: HTTPScope) -> None:
    scope = http_scope("/api/v1/users", root_path="/api", query_string=b"x=1")
    request = Request(scope)
    assert request.base_url == URL("http://testserver/api/")


def test_headers_are_case_insensitive_and_keep_duplicates(http_scope: HTTPScope) -> None:
    scope = http_scope(headers=[("X-Tag", "a"), ("x-tag", "b"), ("Accept", "text/html")])
    request = Request(scope)
    assert request.headers["ACCEPT"] == "text/html"
    assert request.headers["x-tag"] == "a"
    assert request.headers.getlist("X-TAG") == ["a", "b"]


def test_non_utf8_header_bytes_read_as_latin1(http_scope: HTTPScope) -> None:
    request = Request(http_scope(headers=[(b"x-name", b"caf\xe9 \xff\xfe")]))
    assert request.headers["x-name"] == "caf\xe9 \xff\xfe"


def test_query_params_keep_every_value_of_a_repeated_key() -> None:
    app = App()

    @app.get("/")
    async def home(request: Request) -> dict[str, Any]:
        params = request.query_params
        return {"first": params["tag"], "all": params.getlist("tag")}

    assert TestClient(app).get("/?tag=a&tag=b").json() == {"first": "a", "all": ["a", "b"]}


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        (b"a", [("a", "")]),
        (b"=x", [("", "x")]),
        (b"&&a=1&&", [("a", "1")]),
        (b"a=%zz", [("a", "%zz")]),
        (b"a=%ff%fe", [("a", "\ufffd\ufffd")]),
        (b"a=\xff", [("a", "\ufffd")]),
        (b"a=1=2", [("a", "1=2")]),
        (b"a+b=c+d", [("a b", "c d")]),
        (b"%00=%0d%0a", [("\x00", "\r\n")]),
    ],
)
def test_malformed_query_strings_parse_without_raising(
    http_scope: HTTPScope, query_string: bytes, expected: list[tuple[str, str]]
) -> None:
    request = Request(http_scope(query_string=query_string))
    assert request.query_params.multi_items() == expected


def test_path_params_are_the_converted_route_values() -> None:
    app = App()

    @app.get("/users/{user_id:int}/files/{name}")
    async def file(request: Request) -> dict[str, Any]:
        return request.path_params

    assert TestClient(app).get("/users/7/files/a.txt").json() == {"user_id": 7, "name": "a.txt"}


def test_path_params_are_empty_outside_a_route(http_scope: HTTPScope) -> None:
    assert Request(http_scope()).path_params == {}


def test_cookies_are_parsed_from_the_cookie_header() -> None:
    app = App()

    @app.get("/")
    async def home(request: Request) -> dict[str, str]:
        return request.cookies

    response = TestClient(app).get("/", headers={"cookie": "session=abc; theme=dark"})
    assert response.json() == {"session": "abc", "theme": "dark"}


def test_cookies_split_over_several_headers_are_all_read(http_scope: HTTPScope) -> None:
    request = Request(http_scope(headers=[("cookie", "a=1"), ("cookie", "b=2")]))
    assert request.cookies == {"a": "1", "b": "2"}


def test_no_cookie_header_means_no_cookies(http_scope: HTTPScope) -> None:
    assert Request(http_scope()).cookies == {}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", {}),
        (";;;", {}),
        ("a=1; a=2", {"a": "1"}),
        ('name="quoted value"', {"name": "quoted value"}),
        ('name="a\\073b\\"c"', {"name": 'a;b"c'}),
        ('name="tail\\"', {"name": "tail\\"}),
        ("flag", {}),
        ("  spaced  =  out  ", {"spaced": "out"}),
        ("a=b=c", {"a": "b=c"}),
        ("=orphan", {}),
        ('odd="', {"odd": '"'}),
        ("caf\xe9=\xff", {"caf\xe9": "\xff"}),
        ("a=1,b=2", {"a": "1,b=2"}),
    ],
)
def test_malformed_cookie_headers_parse_without_raising(
    header: str, expected: dict[str, str]
) -> None:
    assert parse_cookies(header) == expected


def test_client_is_an_address_or_none(http_scope: HTTPScope) -> None:
    assert Request(http_scope(client=("10.0.0.1", 4321))).client == Address("10.0.0.1", 4321)
    assert Request(http_scope(client=None)).client is None


def test_state_is_the_scope_state_shared_with_middleware(http_scope: HTTPScope) -> None:
    scope = http_scope(state={"db": "pool"})
    request = Request(scope)
    assert request.state.db == "pool"
    request.state.user = "ann"
    assert scope["state"]["user"] == "ann"
    assert Request(scope).state.user == "ann"


def test_state_is_created_when_the_server_gave_none(http_scope: HTTPScope) -> None:
    scope = http_scope()
    del scope["state"]
    Request(scope).state.seen = True
    assert scope["state"] == {"seen": True}


def test_session_without_session_middleware_is_a_clear_error(http_scope: HTTPScope) -> None:
    with pytest.raises(RuntimeError, match="SessionMiddleware"):
        _ = Request(http_scope()).session


def test_session_is_the_scope_session(http_scope: HTTPScope) -> None:
    scope = http_scope(session={"user": 1})
    assert Request(scope).session == {"user": 1}


def test_url_for_is_absolute_and_honours_root_path() -> None:
    app = App()

    @app.get("/users/{user_id:int}", name="user")
    async def user(request: Request) -> str:
        return str(request.url_for("user", user_id=5))

    client = TestClient(app, base_url="https://example.com", root_path="/api")
    assert client.get("/users/1").text == "https://example.com/api/users/5"


def test_url_for_without_a_router_is_a_clear_error(http_scope: HTTPScope) -> None:
    with pytest.raises(RuntimeError, match="router"):
        Request(http_scope()).url_for("home")


def test_route_path_strips_root_path_only_when_it_is_a_prefix() -> None:
    assert route_path({"path": "/api/items", "root_path": "/api"}) == "/items"
    assert route_path({"path": "/items", "root_path": "/api"}) == "/items"
    assert route_path({"path": "/items"}) == "/items"


@pytest.mark.parametrize("path", ["/caf\xe9", "/\ufffd\ufffd", "/a b/%2F"])
def test_non_utf8_or_odd_paths_reach_the_endpoint(path: str) -> None:
    app = App()

    @app.get("/{name:path}")
    async def echo(name: str) -> str:
        return name

    # Every byte percent-encoded, so the path arrives exactly as the server decodes it.
    encoded = "".join(f"%{byte:02X}" for byte in path[1:].encode("utf-8"))
    response = TestClient(app).get("/" + encoded)
    assert response.status_code == 200
    assert response.text == path[1:]


def test_a_path_that_is_not_utf8_becomes_replacement_characters() -> None:
    app = App()

    @app.get("/{name}")
    async def echo(request: Request, name: str) -> str:
        return f"{name}|{request.url.path}"

    response = TestClient(app).get("/%FF%FEok")
    assert response.text == "\ufffd\ufffdok|/%EF%BF%BD%EF%BF%BDok"


# The body --------------------------------------------------------------------------------


def test_receive_without_a_channel_is_a_clear_error(http_scope: HTTPScope) -> None:
    with pytest.raises(RuntimeError, match="without a receive channel"):
        _ = Request(http_scope()).receive


def test_body_joins_the_chunks_and_is_cached(http_scope: HTTPScope) -> None:
    receive, calls = scripted(body_messages(b"he", b"llo"))
    request = Request(http_scope(method="POST"), receive)

    async def twice(request: Request) -> tuple[bytes, bytes]:
        return await request.body(), await request.body()

    assert read(request, twice) == (b"hello", b"hello")
    assert calls == [2]


def test_empty_body_is_empty_bytes(http_scope: HTTPScope) -> None:
    receive, _ = scripted(body_messages(b""))
    assert read(Request(http_scope(method="POST"), receive), read_body) == b""


def test_body_skips_messages_other_than_body_chunks(http_scope: HTTPScope) -> None:
    messages: list[Message] = [{"type": "http.unknown"}, *body_messages(b"a", b"b")]
    receive, _ = scripted(messages)
    assert read(Request(http_scope(method="POST"), receive), read_body) == b"ab"


def test_echo_endpoint_returns_the_posted_body() -> None:
    app = App()

    @app.post("/echo")
    async def echo(request: Request) -> bytes:
        return await request.body()

    assert TestClient(app).post("/echo", content=b"\x00\xffdata").content == b"\x00\xffdata"


def test_stream_yields_each_chunk_before_the_next_arrives(http_scope: HTTPScope) -> None:
    async def main() -> list[str]:
        sender, receiver = anyio.create_memory_object_stream[Message](math.inf)
        request = Request(http_scope(method="POST"), receiver.receive)
        log: list[str] = []
        with sender, receiver, anyio.fail_after(5):
            sender.send_nowait({"type": "http.request", "body": b"one", "more_body": True})
            async for chunk in request.stream():
                log.append(chunk.decode())
                if chunk == b"one":
                    # Only now does the second chunk exist: the first was not held back.
                    sender.send_nowait({"type": "http.request", "body": b"two"})
        return log

    assert anyio.run(main) == ["one", "two"]


def test_stream_skips_empty_chunks(http_scope: HTTPScope) -> None:
    receive, _ = scripted(body_messages(b"", b"a", b"", b"b", b""))
    assert read(Request(http_scope(method="POST"), receive), read_chunks) == [b"a", b"b"]


def test_a_second_stream_consumer_gets_a_clear_error(http_scope: HTTPScope) -> None:
    receive, _ = scripted(body_messages(b"data"))
    request = Request(http_scope(method="POST"), receive)
    assert read(request, read_chunks) == [b"data"]
    with pytest.raises(RuntimeError, match="already consumed"):
        read(request, read_chunks)


def test_body_after_stream_is_a_clear_error(http_scope: HTTPScope) -> None:
    receive, _ = scripted(body_messages(b"data"))
    request = Request(http_scope(method="POST"), receive)
    read(request, read_chunks)
    with pytest.raises(RuntimeError, match="call body\\(\\) first"):
        read(request, read_body)


def test_stream_after_body_replays_the_cached_body(http_scope: HTTPScope) -> None:
    receive, calls = scripted(body_messages(b"ab", b"cd"))
    request = Request(http_scope(method="POST"), receive)
    read(request, read_body)
    assert read(request, read_chunks) == [b"abcd"]
    assert read(request, read_chunks) == [b"abcd"]
    assert calls == [2]


def test_stream_after_an_empty_body_yields_nothing(http_scope: HTTPScope) -> None:
    receive, _ = scripted(body_messages(b""))
    request = Request(http_scope(method="POST"), receive)
    read(request, read_body)
    assert read(request, read_chunks) == []


# json() ------------------------------------------------------------------------------------


def test_json_parses_the_body_once(http_scope: HTTPScope) -> None:
    receive, calls = scripted(body_messages(b'{"a": [1, 2], "b": "\xc3\xa9"}'))
    request = Request(http_scope(method="POST"), receive)

    async def twice(request: Request) -> tuple[Any, Any]:
        return await request.json(), await request.json()

    first, second = read(request, twice)
    assert first == {"a": [1, 2], "b": "\xe9"}
    assert second is first
    assert calls == [1]


def test_json_endpoint_round_trip() -> None:
    app = App()

    @app.post("/items")
    async def create(request: Request) -> dict[str, Any]:
        item: dict[str, Any] = await request.json()
        return {"created": item}

    response = TestClient(app).post("/items", json={"name": "caf\xe9"})
    assert response.json() == {"created": {"name": "caf\xe9"}}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b'{"a": 1',
        b"\xff\xfe\x00",
        b'"\xc3\x28"',
        b"NaN-ish",
        b"[" * 100_000,
    ],
    ids=["empty", "syntax", "truncated", "bad-utf16", "bad-utf8", "garbage", "too-deep"],
)
def test_invalid_json_is_a_400_never_a_500(body: bytes) -> None:
    app = App()

    @app.post("/")
    async def parse(request: Request) -> dict[str, Any]:
        return {"parsed": await request.json()}

    response = TestClient(app).post("/", content=body)
    assert response.status_code == 400
    assert response.text.startswith("Invalid JSON body")


def test_invalid_json_raises_http_exception_400(http_scope: HTTPScope) -> None:
    receive, _ = scripted(body_messages(b"{"))
    request = Request(http_scope(method="POST"), receive)

    async def parse(request: Request) -> Any:
        return await request.json()

    with pytest.raises(HTTPException) as caught:
        read(request, parse)
    assert caught.value.status_code == 400


# The layered max_body_size ---------------------------------------------------------------


def test_content_length_over_the_limit_is_413_before_reading(http_scope: HTTPScope) -> None:
    app = App(max_body_size=10)

    @app.post("/upload")
    async def upload(request: Request) -> str:
        await request.body()
        return "read"

    scope = http_scope("/upload", method="POST", headers=[("content-length", "11")])
    sent = serve(app, scope, no_receive())
    assert status_of(sent) == 413
    assert body_of(sent) == b"Request body too large: the limit is 10 bytes."


def test_request_refuses_a_declared_length_past_the_limit(http_scope: HTTPScope) -> None:
    scope = http_scope(method="POST", headers=[("content-length", "100")])
    scope[MAX_BODY_SIZE_KEY] = 99
    request = Request(scope, no_receive())
    with pytest.raises(HTTPException) as caught:
        read(request, read_body)
    assert caught.value.status_code == 413


def test_chunked_body_passing_the_limit_is_413_without_reading_the_rest(
    http_scope: HTTPScope,
) -> None:
    app = App(max_body_size=10)

    @app.post("/upload")
    async def upload(request: Request) -> str:
        await request.body()
        return "read"

    # No Content-Length: the bytes are counted as they arrive; the third chunk is never read.
    receive, calls = scripted(body_messages(b"123456", b"78901", b"never read"))
    sent = serve(app, http_scope("/upload", method="POST"), receive)
    assert status_of(sent) == 413
    assert calls == [2]


def test_stream_stops_at_the_limit_after_yielding_what_fit(http_scope: HTTPScope) -> None:
    scope = http_scope(method="POST")
    scope[MAX_BODY_SIZE_KEY] = 4
    receive, _ = scripted(body_messages(b"abc", b"de", b"f"))
    request = Request(scope, receive)
    chunks: list[bytes] = []

    async def collect(request: Request) -> None:
        async for chunk in request.stream():
            chunks.append(chunk)

    with pytest.raises(HTTPException) as caught:
        read(request, collect)
    assert caught.value.status_code == 413
    assert chunks == [b"abc"]


def test_a_body_exactly_at_the_limit_is_accepted() -> None:
    app = App(max_body_size=5)

    @app.post("/")
    async def echo(request: Request) -> bytes:
        return await request.body()

    response = TestClient(app).post("/", content=b"12345")
    assert response.status_code == 200
    assert response.content == b"12345"


def test_default_limit_is_ten_mebibytes(http_scope: HTTPScope) -> None:
    app = App()

    @app.post("/")
    async def echo(request: Request) -> bytes:
        return await request.body()

    over = http_scope(method="POST", headers=[("content-length", str(10 * 1024 * 1024 + 1))])
    assert status_of(serve(app, over, no_receive())) == 413
    receive, _ = scripted(body_messages(b"x" * 1000))
    at = http_scope(method="POST", headers=[("content-length", "1000")])
    assert status_of(serve(app, at, receive)) == 200


def test_route_max_body_size_overrides_the_apps(http_scope: HTTPScope) -> None:
    app = App(max_body_size=10)

    @app.post("/big", max_body_size=100)
    async def big(request: Request) -> bytes:
        return await request.body()

    @app.post("/small")
    async def small(request: Request) -> bytes:
        return await request.body()

    client = TestClient(app)
    assert client.post("/big", content=b"x" * 50).status_code == 200
    assert client.post("/big", content=b"x" * 101).status_code == 413
    assert client.post("/small", content=b"x" * 11).status_code == 413


def test_route_max_body_size_none_lifts_the_limit() -> None:
    app = App(max_body_size=10)

    @app.post("/upload", max_body_size=None)
    async def upload(request: Request) -> str:
        return str(len(await request.body()))

    assert TestClient(app).post("/upload", content=b"x" * 5000).text == "5000"


def test_app_max_body_size_none_lifts_the_limit_everywhere(http_scope: HTTPScope) -> None:
    app = App(max_body_size=None)

    @app.post("/")
    async def upload(request: Request) -> str:
        return str(len(await request.body()))

    receive, _ = scripted(body_messages(b"x" * 100))
    huge = http_scope(method="POST", headers=[("content-length", "100")])
    sent = serve(app, huge, receive)
    assert (status_of(sent), body_of(sent)) == (200, b"100")


def test_mount_max_body_size_applies_to_the_routes_beneath_it() -> None:
    async def echo(request: Request) -> bytes:
        return await request.body()

    app = App(
        routes=[
            Mount(
                "/uploads",
                routes=[
                    Route("/any", echo, methods=["POST"]),
                    Route("/tiny", echo, methods=["POST"], max_body_size=2),
                ],
                max_body_size=100,
            ),
            Route("/plain", echo, methods=["POST"]),
        ],
        max_body_size=10,
    )
    client = TestClient(app)
    assert client.post("/uploads/any", content=b"x" * 50).status_code == 200
    assert client.post("/uploads/any", content=b"x" * 101).status_code == 413
    assert client.post("/uploads/tiny", content=b"xxx").status_code == 413
    assert client.post("/plain", content=b"x" * 11).status_code == 413


def test_no_limit_in_the_scope_means_no_limit(http_scope: HTTPScope) -> None:
    receive, _ = scripted(body_messages(b"x" * 100_000))
    request = Request(http_scope(method="POST"), receive)
    assert len(read(request, read_body)) == 100_000


@pytest.mark.parametrize("length", ["12a", "-1", " 1", "1 ", "1e3", "+5", "", "0x10", "١٢", "²"])
def test_content_length_that_is_not_plain_digits_is_400(http_scope: HTTPScope, length: str) -> None:
    app = App()

    @app.post("/")
    async def echo(request: Request) -> bytes:
        return await request.body()

    headers = [(b"content-length", length.encode("utf-8"))]
    sent = serve(app, http_scope(method="POST", headers=headers), no_receive())
    assert status_of(sent) == 400
    assert b"Content-Length" in body_of(sent)


def test_malformed_content_length_is_400_even_without_a_limit(http_scope: HTTPScope) -> None:
    request = Request(http_scope(method="POST", headers=[("content-length", "1;2")]), no_receive())
    with pytest.raises(HTTPException) as caught:
        read(request, read_body)
    assert caught.value.status_code == 400


def test_endpoint_that_never_reads_the_body_is_not_limited(http_scope: HTTPScope) -> None:
    app = App(max_body_size=1)

    @app.post("/")
    async def ignore() -> str:
        return "fine"

    sent = serve(app, http_scope(method="POST", headers=[("content-length", "12a")]), no_receive())
    assert status_of(sent) == 200


# Disconnects ----------------------------------------------------------------------------


def test_client_disconnect_while_reading_the_body(http_scope: HTTPScope) -> None:
    receive, _ = scripted(body_messages(b"part", b"never")[:1], then="disconnect")
    request = Request(http_scope(method="POST"), receive)
    with pytest.raises(ClientDisconnect):
        read(request, read_body)


def test_is_disconnected_is_false_while_the_client_waits(http_scope: HTTPScope) -> None:
    async def waiting() -> Message:
        await anyio.sleep(60)
        raise AssertionError("unreachable")

    request = Request(http_scope(), waiting)

    async def check(request: Request) -> bool:
        return await request.is_disconnected()

    assert read(request, check) is False


def test_is_disconnected_is_true_once_the_client_left(http_scope: HTTPScope) -> None:
    receive, calls = scripted([], then="disconnect")
    request = Request(http_scope(), receive)

    async def check_twice(request: Request) -> tuple[bool, bool]:
        return await request.is_disconnected(), await request.is_disconnected()

    assert read(request, check_twice) == (True, True)
    assert calls == [1]


def test_is_disconnected_without_a_channel_is_false(http_scope: HTTPScope) -> None:
    async def check(request: Request) -> bool:
        return await request.is_disconnected()

    assert read(Request(http_scope()), check) is False


def test_body_message_taken_by_is_disconnected_is_not_lost(http_scope: HTTPScope) -> None:
    receive, _ = scripted(body_messages(b"first", b"second"))
    request = Request(http_scope(method="POST"), receive)

    async def check_then_read(request: Request) -> tuple[bool, bytes]:
        return await request.is_disconnected(), await request.body()

    assert read(request, check_then_read) == (False, b"firstsecond")


def test_stream_after_is_disconnected_saw_the_client_leave_raises_at_once(
    http_scope: HTTPScope,
) -> None:
    receive, calls = scripted(body_messages(b"kept", b"x")[:1], then="disconnect")
    request = Request(http_scope(method="POST"), receive)
    chunks: list[bytes] = []

    async def check_then_read(request: Request) -> None:
        await request.is_disconnected()  # takes the body message
        await request.is_disconnected()  # sees the disconnect
        async for chunk in request.stream():
            chunks.append(chunk)

    with pytest.raises(ClientDisconnect):
        read(request, check_then_read)
    assert chunks == [b"kept"]
    assert calls == [2]


def test_is_disconnected_works_under_the_test_client() -> None:
    app = App()

    @app.post("/")
    async def check(request: Request) -> JSONResponse:
        before = await request.is_disconnected()
        body = await request.body()
        return JSONResponse({"disconnected": before, "body": body.decode()})

    response = TestClient(app).post("/", content=b"payload")
    assert response.json() == {"disconnected": False, "body": "payload"}


def test_client_disconnect_in_an_endpoint_ends_the_request_quietly(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    seen: list[str] = []

    async def endpoint(request: Request) -> PlainTextResponse:
        try:
            await request.body()
        except ClientDisconnect:
            seen.append("gone")
            raise
        return PlainTextResponse("unreachable")

    app = App(routes=[Route("/", endpoint, methods=["POST"])])
    messages = [{"type": "http.request", "body": b"half", "more_body": True}]
    # Nobody is left to answer: the app sends nothing and raises nothing.
    assert run_app(app, http_scope(method="POST"), messages) == []
    assert seen == ["gone"]


def test_two_body_messages_taken_by_is_disconnected_are_replayed_in_order(
    http_scope: HTTPScope,
) -> None:
    receive, _ = scripted(body_messages(b"a", b"b", b"c"))
    request = Request(http_scope(method="POST"), receive)

    async def check_twice_then_read(request: Request) -> bytes:
        await request.is_disconnected()
        await request.is_disconnected()
        return await request.body()

    assert read(request, check_twice_then_read) == b"abc"


# HTTPConnection alone (what websockets build on) ----------------------------------------


def test_http_connection_reads_a_websocket_scope(http_scope: HTTPScope) -> None:
    scope = http_scope("/ws", type="websocket", scheme="ws", query_string=b"room=1")
    connection = HTTPConnection(scope)
    assert str(connection.url) == "ws://testserver/ws?room=1"
    assert connection.query_params["room"] == "1"
    assert connection.headers["host"] == "testserver"


# form(): parsing lives in formparsers; Request caches the form and closes its files ------


class _FakeForm(FormData):
    closed = False

    async def close(self) -> None:
        self.closed = True


def test_form_is_parsed_once_from_the_body_stream(
    http_scope: HTTPScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, bytes, int, int, int]] = []

    async def parse_form(
        content_type: str,
        stream: AsyncIterator[bytes],
        *,
        max_files: int,
        max_fields: int,
        max_part_size: int,
    ) -> FormData:
        body = b"".join([chunk async for chunk in stream])
        calls.append((content_type, body, max_files, max_fields, max_part_size))
        return _FakeForm([("a", "1")])

    monkeypatch.setattr(microasgi.requests, "parse_form", parse_form)
    headers = [("content-type", "application/x-www-form-urlencoded")]
    receive, _ = scripted(body_messages(b"a=1"))
    request = Request(http_scope(method="POST", headers=headers), receive)

    async def twice(request: Request) -> tuple[FormData, FormData]:
        return await request.form(max_fields=5), await request.form()

    first, second = read(request, twice)
    assert first is second
    assert first["a"] == "1"
    assert calls == [("application/x-www-form-urlencoded", b"a=1", 1000, 5, 1_048_576)]


def test_form_as_a_context_manager_closes_its_files(
    http_scope: HTTPScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = _FakeForm([])

    async def parse_form(
        content_type: str, stream: AsyncIterator[bytes], **limits: int
    ) -> FormData:
        return form

    monkeypatch.setattr(microasgi.requests, "parse_form", parse_form)
    request = Request(http_scope(method="POST"), no_receive())

    async def use(request: Request) -> bool:
        async with request.form() as entered:
            assert entered is form
            return form.closed

    assert read(request, use) is False
    assert form.closed is True


def test_close_without_a_form_does_nothing(http_scope: HTTPScope) -> None:
    async def close(request: Request) -> None:
        await request.close()

    read(Request(http_scope()), close)


def test_is_disconnected_in_function_middleware_keeps_the_body_for_the_endpoint() -> None:
    app = App()

    @app.middleware("http")
    async def check(request: Request, call_next: Any) -> Any:
        await request.is_disconnected()
        return await call_next(request)

    @app.post("/")
    async def echo(request: Request) -> bytes:
        return await request.body()

    assert TestClient(app).post("/", content=b"payload", timeout=1).content == b"payload"


def test_url_of_a_path_holding_undecodable_bytes(http_scope: HTTPScope) -> None:
    scope = http_scope(raw_path=b"/caf%E9")
    scope["path"] = "/caf\udce9"
    assert Request(scope).url.path == "/caf%E9"
