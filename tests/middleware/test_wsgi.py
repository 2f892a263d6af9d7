import sys
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from microasgi import App
from microasgi.exceptions import ClientDisconnect
from microasgi.middleware.wsgi import (
    BodyTooLarge,
    Environ,
    StartResponse,
    WSGIApp,
    WSGIMiddleware,
)
from microasgi.testclient import TestClient
from microasgi.types import Message

from .conftest import Result, make_scope, run

PLAIN = [("Content-Type", "text/plain")]


def mounted(wsgi_app: WSGIApp, raise_server_exceptions: bool = True, **options: Any) -> TestClient:
    app = App(**options)
    app.mount("/wsgi", WSGIMiddleware(wsgi_app))
    return TestClient(app, raise_server_exceptions=raise_server_exceptions)


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [*PLAIN, ("X-Served-By", "wsgi")])
    return [b"Hello, ", b"WSGI!"]


def echo(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", PLAIN)
    return [body]


class EnvironRecorder:
    """A WSGI app that keeps the environ it was called with."""

    def __init__(self) -> None:
        self.environ: Environ = {}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        self.environ = environ
        start_response("204 No Content", [])
        return []


def post(app: WSGIMiddleware, chunks: list[bytes]) -> Result:
    """Run a POST whose body arrives in ``chunks``."""
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    return run(app, make_scope(method="POST"), messages)


def test_hello_through_a_mount() -> None:
    response = mounted(hello).get("/wsgi/")
    assert response.status_code == 200
    assert response.text == "Hello, WSGI!"
    assert response.headers["x-served-by"] == "wsgi"


def test_request_body_reaches_wsgi_input() -> None:
    response = mounted(echo).post("/wsgi/echo", content=b"ping " * 100)
    assert response.text == "ping " * 100


def test_script_name_and_path_info_under_a_mount() -> None:
    recorder = EnvironRecorder()
    mounted(recorder).get("/wsgi/a/b?x=1&y=2")
    assert recorder.environ["SCRIPT_NAME"] == "/wsgi"
    assert recorder.environ["PATH_INFO"] == "/a/b"
    assert recorder.environ["QUERY_STRING"] == "x=1&y=2"


def test_non_ascii_path_is_utf8_bytes_as_latin1() -> None:
    recorder = EnvironRecorder()
    mounted(recorder).get("/wsgi/caf%C3%A9")
    assert recorder.environ["PATH_INFO"] == "/caf\u00c3\u00a9"
    assert recorder.environ["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café"


def test_environ_server_client_and_wsgi_keys() -> None:
    recorder = EnvironRecorder()
    scope = make_scope(
        method="PUT",
        headers=[("content-type", "text/plain"), ("content-length", "0")],
        scheme="https",
        client=("10.0.0.7", 4242),
        server=("example.com", 8443),
    )
    run(WSGIMiddleware(recorder), scope)
    environ = recorder.environ
    assert environ["REQUEST_METHOD"] == "PUT"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("example.com", "8443")
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("10.0.0.7", "4242")
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "0"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.errors"] is sys.stderr
    assert environ["asgi.scope"] is scope


def test_missing_server_and_client() -> None:
    recorder = EnvironRecorder()
    run(WSGIMiddleware(recorder), make_scope(client=None, server=None))
    assert (recorder.environ["SERVER_NAME"], recorder.environ["SERVER_PORT"]) == ("localhost", "80")
    assert "REMOTE_ADDR" not in recorder.environ


def test_server_without_port() -> None:
    recorder = EnvironRecorder()
    run(WSGIMiddleware(recorder), make_scope(server=("unix.sock", None)))
    assert recorder.environ["SERVER_PORT"] == "80"


def test_duplicate_headers_are_joined() -> None:
    recorder = EnvironRecorder()
    headers = [("x-tag", "a"), ("x-tag", "b"), ("cookie", "a=1"), ("cookie", "b=2")]
    run(WSGIMiddleware(recorder), make_scope(headers=headers))
    assert recorder.environ["HTTP_X_TAG"] == "a,b"
    assert recorder.environ["HTTP_COOKIE"] == "a=1; b=2"


def test_header_names_with_underscores_are_dropped() -> None:
    recorder = EnvironRecorder()
    headers = [("x-user", "real"), ("x_user", "spoofed")]
    run(WSGIMiddleware(recorder), make_scope(headers=headers))
    assert recorder.environ["HTTP_X_USER"] == "real"


def test_streamed_chunks_are_sent_one_by_one_and_the_iterable_closed() -> None:
    closed: list[bool] = []

    def streaming(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", PLAIN)
        try:
            yield b""
            yield b"one"
            yield b"two"
        finally:
            closed.append(True)

    result = run(WSGIMiddleware(streaming), make_scope())
    assert [(m["body"], m["more_body"]) for m in result.body_messages] == [
        (b"one", True),
        (b"two", True),
        (b"", False),
    ]
    assert closed == [True]


def test_close_is_called_when_the_iterable_fails() -> None:
    class Failing:
        closed = False

        def __iter__(self) -> Iterator[bytes]:
            yield b"partial"
            raise RuntimeError("boom")

        def close(self) -> None:
            Failing.closed = True

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", PLAIN)
        return Failing()

    with pytest.raises(RuntimeError, match="boom"):
        run(WSGIMiddleware(app), make_scope())
    assert Failing.closed


def test_empty_body_sends_the_start_at_the_end() -> None:
    result = run(WSGIMiddleware(EnvironRecorder()), make_scope())
    assert result.status == 204
    assert result.body_messages == [{"type": "http.response.body", "body": b"", "more_body": False}]


def test_write_callable_sends_at_once() -> None:
    def legacy(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", PLAIN)
        write(b"written ")
        write(b"")
        return [b"returned"]

    assert mounted(legacy).get("/wsgi/").text == "written returned"


def test_exc_info_before_the_headers_replaces_the_response() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", PLAIN)
        try:
            raise ValueError("oops")
        except ValueError:
            start_response("500 Internal Server Error", [("X-Error", "1")], sys.exc_info())
        return [b"sorry"]

    result = run(WSGIMiddleware(app), make_scope())
    assert result.status == 500
    assert result.header("x-error") == "1"
    assert result.body == b"sorry"


def test_exc_info_after_the_headers_reraises() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", PLAIN)
        yield b"started"
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())

    with pytest.raises(ValueError, match="late"):
        run(WSGIMiddleware(app), make_scope())


def test_second_start_response_without_exc_info_is_an_error() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        start_response("201 Created", [])
        return []

    with pytest.raises(RuntimeError, match="already called"):
        run(WSGIMiddleware(app), make_scope())


@pytest.mark.parametrize(
    ("status", "headers", "error", "match"),
    [
        ("200", [], ValueError, "Invalid WSGI status"),
        ("OK 200", [], ValueError, "Invalid WSGI status"),
        ("200 OK", (("a", "b"),), TypeError, "must be a list"),
        ("200 OK", [("a", b"b")], TypeError, r"\(str, str\) tuple"),
        ("200 OK", [("a", "b", "c")], TypeError, r"\(str, str\) tuple"),
        ("200 OK", [("Bad Name", "v")], ValueError, "header name"),
        ("200 OK", [("X-Evil", "a\r\nSet-Cookie: x=1")], ValueError, "CR, LF or NUL"),
        ("200 OK", [("X-Nul", "a\0b")], ValueError, "CR, LF or NUL"),
        ("200 OK", [("X-Snow", "\u2603")], ValueError, "not latin-1"),
    ],
)
def test_invalid_status_and_headers_are_refused(
    status: str, headers: Any, error: type[Exception], match: str
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response(status, headers)
        return [b"never sent"]

    with pytest.raises(error, match=match):
        run(WSGIMiddleware(app), make_scope())


def test_body_before_start_response_is_an_error() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return [b"too soon"]

    with pytest.raises(RuntimeError, match="before calling start_response"):
        run(WSGIMiddleware(app), make_scope())


def test_non_bytes_chunks_are_refused() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[Any]:
        start_response("200 OK", [])
        return [""]

    with pytest.raises(TypeError, match="must be bytes, got str"):
        run(WSGIMiddleware(app), make_scope())


def test_write_of_non_bytes_is_refused() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])("text")  # type: ignore[arg-type]
        return []

    with pytest.raises(TypeError, match="must be bytes"):
        run(WSGIMiddleware(app), make_scope())


def test_app_errors_propagate_and_the_framework_answers_500() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        raise LookupError("broken")

    with pytest.raises(LookupError, match="broken"):
        mounted(app).get("/wsgi/")
    assert mounted(app, raise_server_exceptions=False).get("/wsgi/").status_code == 500


def test_declared_body_over_the_limit_is_413_without_calling_the_app() -> None:
    recorder = EnvironRecorder()
    response = mounted(recorder, max_body_size=10).post("/wsgi/", content=b"x" * 11)
    assert response.status_code == 413
    assert "limit is 10 bytes" in response.text
    assert recorder.environ == {}


def test_streamed_body_over_the_limit_is_413() -> None:
    scope_limit = {"microasgi.max_body_size": 8}
    app = WSGIMiddleware(echo)
    scope = make_scope(method="POST")
    scope.update(scope_limit)
    result = run(
        app,
        scope,
        [
            {"type": "http.request", "body": b"12345", "more_body": True},
            {"type": "http.request", "body": b"67890", "more_body": False},
        ],
    )
    assert result.status == 413


def test_body_within_the_limit_is_read() -> None:
    scope = make_scope(method="POST", headers=[("content-length", "5")])
    scope["microasgi.max_body_size"] = 5
    result = run(WSGIMiddleware(echo), scope, [{"type": "http.request", "body": b"12345"}])
    assert result.body == b"12345"


def test_app_swallowing_the_limit_error_still_gets_413() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            environ["wsgi.input"].read()
        except BodyTooLarge:
            raise KeyError("lost the original") from None
        return []

    scope = make_scope(method="POST")
    scope["microasgi.max_body_size"] = 2
    result = run(WSGIMiddleware(app), scope, [{"type": "http.request", "body": b"123"}])
    assert result.status == 413


def test_app_ignoring_the_limit_error_answers_its_own_response() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        for _ in range(2):  # every read after the limit fails again
            with pytest.raises(BodyTooLarge):
                environ["wsgi.input"].read(1)
        start_response("400 Bad Request", PLAIN)
        return [b"mine"]

    scope = make_scope(method="POST")
    scope["microasgi.max_body_size"] = 2
    result = run(WSGIMiddleware(app), scope, [{"type": "http.request", "body": b"123"}])
    assert (result.status, result.body) == (400, b"mine")


def test_limit_passed_after_the_response_started_propagates() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", PLAIN)
        yield b"early"
        environ["wsgi.input"].read()

    scope = make_scope(method="POST")
    scope["microasgi.max_body_size"] = 2
    with pytest.raises(BodyTooLarge):
        run(WSGIMiddleware(app), scope, [{"type": "http.request", "body": b"123"}])


def test_unrelated_error_with_a_body_limit_propagates() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        raise KeyError("plain failure")

    scope = make_scope()
    scope["microasgi.max_body_size"] = 2
    with pytest.raises(KeyError):
        run(WSGIMiddleware(app), scope)


def test_input_readline_readinto_and_iteration() -> None:
    seen: dict[str, Any] = {}

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        seen["line"] = stream.readline()
        seen["part"] = stream.readline(3)
        seen["rest_of_line"] = stream.readline(None)
        buffer = bytearray(4)
        seen["readinto"] = (stream.readinto(buffer), bytes(buffer))
        seen["read"] = stream.read(2)
        seen["lines"] = list(stream)
        seen["eof"] = (stream.read(None), stream.readline(), stream.read(5))
        start_response("204 No Content", [])
        return []

    chunks = [b"first\nsec", b"ond\nabcdefg", b"h\nlast"]
    post(WSGIMiddleware(app), chunks)
    assert seen == {
        "line": b"first\n",
        "part": b"sec",
        "rest_of_line": b"ond\n",
        "readinto": (4, b"abcd"),
        "read": b"ef",
        "lines": [b"gh\n", b"last"],
        "eof": (b"", b"", b""),
    }


def test_read_of_a_size_waits_for_enough_bytes() -> None:
    seen: list[bytes] = []

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        seen.append(environ["wsgi.input"].read(6))
        start_response("204 No Content", [])
        return []

    post(WSGIMiddleware(app), [b"ab", b"cd", b"ef", b"gh"])
    assert seen == [b"abcdef"]


def test_client_disconnect_while_reading() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgi.input"].read()
        return []

    messages: list[Message] = [{"type": "http.request", "body": b"partial", "more_body": True}]
    with pytest.raises(ClientDisconnect):
        run(WSGIMiddleware(app), make_scope(method="POST"), messages)


def test_unknown_messages_while_reading_are_skipped() -> None:
    messages: list[Message] = [
        {"type": "http.unknown"},
        {"type": "http.request", "body": b"ok", "more_body": False},
    ]
    result = run(WSGIMiddleware(echo), make_scope(method="POST"), messages)
    assert result.body == b"ok"


def test_websocket_is_refused() -> None:
    result = run(WSGIMiddleware(hello), make_scope("websocket"))
    assert result.messages == [{"type": "websocket.close", "code": 1000}]


def test_lifespan_is_acknowledged() -> None:
    messages: list[Message] = [
        {"type": "lifespan.startup"},
        {"type": "lifespan.shutdown"},
    ]
    result = run(WSGIMiddleware(hello), {"type": "lifespan"}, messages)
    assert [m["type"] for m in result.messages] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def test_lifespan_through_the_test_client() -> None:
    with mounted(hello) as client:
        assert client.get("/wsgi/").status_code == 200


def test_unknown_scope_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="got scope type 'mqtt'"):
        run(WSGIMiddleware(hello), {"type": "mqtt"}, [])


def test_non_callable_app_is_refused() -> None:
    with pytest.raises(TypeError, match="needs a WSGI callable"):
        WSGIMiddleware("not an app")  # type: ignore[arg-type]


def test_input_is_a_readable_stream() -> None:
    seen: list[Any] = []

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        seen.extend([stream.readable(), stream.readall()])
        start_response("204 No Content", [])
        return []

    post(WSGIMiddleware(app), [b"all", b" of it"])
    assert seen == [True, b"all of it"]
