import gzip
import zlib

import pytest

from microasgi.middleware.gzip import GZipMiddleware, accepts_gzip
from microasgi.testclient import TestClient
from microasgi.types import Message, Receive, Scope, Send

from .conftest import Result, ScopeRecorder, make_scope, run, streaming_app, text_app

BIG = b"microasgi " * 100  # 1000 bytes, very compressible


def get(middleware: GZipMiddleware, accept: str | None = "gzip", method: str = "GET") -> Result:
    headers = [("accept-encoding", accept)] if accept is not None else []
    return run(middleware, make_scope(method=method, headers=headers))


def scripted_app(*messages: Message) -> GZipMiddleware:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    return GZipMiddleware(app, minimum_size=10)


def test_large_body_is_compressed_with_a_fixed_content_length() -> None:
    result = get(GZipMiddleware(text_app(BIG)))
    assert result.header("content-encoding") == "gzip"
    assert result.header("vary") == "Accept-Encoding"
    assert result.header_list("content-length") == [str(len(result.body))]
    assert len(result.body) < len(BIG)
    assert gzip.decompress(result.body) == BIG


def test_small_body_is_sent_as_is() -> None:
    result = get(GZipMiddleware(text_app(b"tiny"), minimum_size=500))
    assert result.header("content-encoding") is None
    assert result.header("content-length") == "4"
    assert result.body == b"tiny"


def test_body_of_exactly_minimum_size_is_compressed() -> None:
    result = get(GZipMiddleware(text_app(b"a" * 20), minimum_size=20))
    assert gzip.decompress(result.body) == b"a" * 20


def test_client_without_accept_encoding_gets_identity() -> None:
    result = get(GZipMiddleware(text_app(BIG)), accept=None)
    assert result.header("content-encoding") is None
    assert result.body == BIG


def test_gzip_with_q_zero_is_refused() -> None:
    result = get(GZipMiddleware(text_app(BIG)), accept="gzip;q=0, deflate")
    assert result.header("content-encoding") is None
    assert result.body == BIG


def test_accept_encoding_fields_are_combined() -> None:
    scope = make_scope(headers=[("accept-encoding", "br"), ("accept-encoding", "gzip")])
    result = run(GZipMiddleware(text_app(BIG)), scope)
    assert result.header("content-encoding") == "gzip"


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        ("gzip", True),
        ("GZip", True),
        ("x-gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip; Q=1", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("gzip;q=nonsense", False),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("gzip;q=0, gzip;q=1", True),
        ("deflate, br", False),
        ("identity", False),
        ("", False),
    ],
)
def test_accepts_gzip_reads_q_values(accept_encoding: str, expected: bool) -> None:
    assert accepts_gzip(accept_encoding) is expected


def test_streaming_body_is_compressed_and_flushed_chunk_by_chunk() -> None:
    chunks = [b"first chunk ", b"second chunk ", b"last"]
    app = streaming_app(chunks, headers=[(b"content-length", b"29")])
    result = get(GZipMiddleware(app, minimum_size=1000))
    assert result.header("content-encoding") == "gzip"
    assert result.header("content-length") is None
    decompressor = zlib.decompressobj(wbits=31)
    received = b""
    for expected, message in zip(chunks, result.body_messages, strict=True):
        # Each message decodes on its own: nothing is held back until the end.
        piece = decompressor.decompress(message["body"])
        assert piece == expected
        received += piece
    assert [m.get("more_body", False) for m in result.body_messages] == [True, True, False]
    assert decompressor.eof
    assert received == b"".join(chunks)


def test_response_with_content_encoding_is_untouched() -> None:
    app = text_app(BIG, headers=[(b"Content-Encoding", b"br")])
    result = get(GZipMiddleware(app))
    assert result.header_list("content-encoding") == ["br"]
    assert result.body == BIG


def test_event_stream_is_untouched() -> None:
    app = text_app(BIG, content_type=b"text/event-stream; charset=utf-8")
    result = get(GZipMiddleware(app))
    assert result.header("content-encoding") is None
    assert result.body == BIG


def test_head_request_is_untouched() -> None:
    result = get(GZipMiddleware(text_app(BIG)), method="HEAD")
    assert result.header("content-encoding") is None
    assert result.header("content-length") == str(len(BIG))


@pytest.mark.parametrize("status", [204, 206, 304])
def test_statuses_without_a_full_body_are_untouched(status: int) -> None:
    result = get(GZipMiddleware(text_app(BIG, status=status)))
    assert result.header("content-encoding") is None
    assert result.body == BIG


def test_pathsend_passes_through_untouched() -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"9")]}
    pathsend = {"type": "http.response.pathsend", "path": "/srv/file.txt"}
    result = get(scripted_app(start, pathsend))
    assert result.messages == [start, pathsend]


def test_trailers_after_a_compressed_body_pass_through() -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [], "trailers": True}
    body = {"type": "http.response.body", "body": BIG}
    trailers = {"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]}
    result = get(scripted_app(start, body, trailers))
    assert [m["type"] for m in result.messages] == [
        "http.response.start",
        "http.response.body",
        "http.response.trailers",
    ]
    assert result.messages[2] == trailers
    assert gzip.decompress(result.body) == BIG


def test_trailers_after_an_untouched_body_pass_through() -> None:
    start = {"type": "http.response.start", "status": 204, "headers": [], "trailers": True}
    body = {"type": "http.response.body", "body": b""}
    trailers = {"type": "http.response.trailers", "headers": []}
    result = get(scripted_app(start, body, trailers))
    assert result.messages == [start, body, trailers]


def test_strong_etag_is_weakened_and_accept_ranges_dropped() -> None:
    app = text_app(BIG, headers=[(b"etag", b'"v1"'), (b"accept-ranges", b"bytes")])
    result = get(GZipMiddleware(app))
    assert result.header("etag") == 'W/"v1"'
    assert result.header("accept-ranges") is None


def test_weak_etag_is_kept() -> None:
    result = get(GZipMiddleware(text_app(BIG, headers=[(b"etag", b'W/"v1"')])))
    assert result.header("etag") == 'W/"v1"'


def test_existing_vary_is_extended() -> None:
    result = get(GZipMiddleware(text_app(BIG, headers=[(b"vary", b"Origin")])))
    assert result.header_list("vary") == ["Origin, Accept-Encoding"]


def test_websocket_passes_through() -> None:
    recorder = ScopeRecorder()
    result = run(GZipMiddleware(recorder), make_scope("websocket"))
    assert [m["type"] for m in result.messages] == ["websocket.accept", "websocket.close"]


@pytest.mark.parametrize("compresslevel", [0, 10])
def test_compresslevel_out_of_range_is_refused(compresslevel: int) -> None:
    with pytest.raises(ValueError, match="compresslevel must be between 1 and 9"):
        GZipMiddleware(text_app(), compresslevel=compresslevel)


def test_negative_minimum_size_is_refused() -> None:
    with pytest.raises(ValueError, match="minimum_size"):
        GZipMiddleware(text_app(), minimum_size=-1)


def test_httpx_decodes_the_gzip_body_through_the_test_client() -> None:
    with TestClient(GZipMiddleware(text_app(BIG))) as client:
        response = client.get("/", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == BIG
