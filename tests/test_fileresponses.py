"""FileResponse: headers, validators, conditional and range requests, HEAD, pathsend."""

import os
from email.utils import formatdate
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from microasgi.background import BackgroundTask
from microasgi.datastructures import Headers
from microasgi.fileresponses import (
    MAX_RANGE_SPECS,
    MAX_RANGES,
    FileResponse,
    content_disposition,
    make_etag,
    parse_range,
)
from microasgi.types import Message, Receive, Scope, Send
from tests.conftest import HTTPScope, RunApp

CONTENT = bytes(range(256)) * 4  # 1024 bytes


@pytest.fixture
def file_path(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    return path


def start_of(sent: list[Message]) -> tuple[int, Headers]:
    start = sent[0]
    assert start["type"] == "http.response.start"
    return start["status"], Headers(raw=start["headers"])


def body_of(sent: list[Message]) -> bytes:
    assert not sent[-1].get("more_body", False)
    return b"".join(message.get("body", b"") for message in sent[1:])


def serve(
    run_app: RunApp,
    http_scope: HTTPScope,
    path: Path,
    headers: list[tuple[str, str]] | None = None,
    method: str = "GET",
    **options: object,
) -> tuple[int, Headers, bytes]:
    response = FileResponse(path, **options)  # type: ignore[arg-type]
    sent = run_app(response, http_scope("/", method=method, headers=headers or []))
    status, response_headers = start_of(sent)
    return status, response_headers, body_of(sent)


# the full response


def test_full_response_has_length_validators_and_body(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, headers, body = serve(run_app, http_scope, file_path)
    stat_result = file_path.stat()
    assert (status, body) == (200, CONTENT)
    assert headers["content-length"] == "1024"
    assert headers["content-type"] == "application/octet-stream"
    assert headers["accept-ranges"] == "bytes"
    assert headers["etag"] == make_etag(stat_result)
    assert headers["last-modified"] == formatdate(stat_result.st_mtime, usegmt=True)
    assert "content-disposition" not in headers


def test_body_is_read_in_chunks(run_app: RunApp, http_scope: HTTPScope, file_path: Path) -> None:
    sent = run_app(FileResponse(file_path, chunk_size=100), http_scope("/"))
    assert [len(message["body"]) for message in sent[1:-1]] == [100] * 10 + [24]
    assert body_of(sent) == CONTENT


def test_empty_file_sends_empty_body(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path
) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    status, headers, body = serve(run_app, http_scope, path)
    assert (status, headers["content-length"], body) == (200, "0", b"")


def test_media_type_is_guessed_from_filename(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<p>")
    assert FileResponse(path).media_type == "text/html"
    assert FileResponse(path, filename="style.css").media_type == "text/css"
    assert FileResponse(path, media_type="text/x-mine").media_type == "text/x-mine"


def test_etag_changes_when_the_file_changes(file_path: Path) -> None:
    before = make_etag(file_path.stat())
    file_path.write_bytes(CONTENT + b"x")
    assert make_etag(file_path.stat()) != before


def test_head_sends_headers_without_body(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, headers, body = serve(run_app, http_scope, file_path, method="HEAD")
    assert (status, headers["content-length"], body) == (200, "1024", b"")


def test_custom_status_skips_conditionals(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    etag = make_etag(file_path.stat())
    request = [("if-none-match", etag), ("range", "bytes=0-0")]
    status, _, body = serve(run_app, http_scope, file_path, request, status_code=404)
    assert (status, body) == (404, CONTENT)


def test_background_task_runs_after_the_body(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    done: list[bool] = []
    response = FileResponse(file_path, background=BackgroundTask(done.append, True))
    run_app(response, http_scope("/"))
    assert done == [True]


def test_user_headers_are_kept_and_content_length_recomputed(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    extra = {"Cache-Control": "max-age=60", "Content-Length": "5"}
    response = FileResponse(file_path, headers=extra)
    _, response_headers = start_of(run_app(response, http_scope("/")))
    assert response_headers["cache-control"] == "max-age=60"
    assert response_headers.getlist("content-length") == ["1024"]


# errors


def test_missing_file_is_a_runtime_error(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        run_app(FileResponse(tmp_path / "nope.txt"), http_scope("/"))


def test_folder_is_a_runtime_error(run_app: RunApp, http_scope: HTTPScope, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not a regular file"):
        run_app(FileResponse(tmp_path), http_scope("/"))


def test_file_shrinking_while_sent_is_a_runtime_error(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    stale = os.stat(file_path)
    file_path.write_bytes(b"short")
    with pytest.raises(RuntimeError, match="changed while sent"):
        run_app(FileResponse(file_path, stat_result=stale), http_scope("/"))


def test_unknown_disposition_type_is_refused(file_path: Path) -> None:
    with pytest.raises(ValueError, match="content_disposition_type"):
        FileResponse(file_path, content_disposition_type="evil")  # type: ignore[arg-type]


# Content-Disposition


def test_ascii_filename_is_quoted() -> None:
    assert content_disposition("attachment", 'a "b"\\c.txt') == (
        'attachment; filename="a \\"b\\"\\\\c.txt"'
    )


def test_non_ascii_filename_uses_rfc5987_with_fallback() -> None:
    assert content_disposition("inline", "résumé €.pdf") == (
        "inline; filename=\"r_sum_ _.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.pdf"
    )


def test_filename_with_line_break_cannot_inject_headers(file_path: Path) -> None:
    response = FileResponse(file_path, filename="a.txt\r\nSet-Cookie: x=1")
    value = response.headers["content-disposition"]
    assert "\r" not in value
    assert "\n" not in value
    assert value.startswith('attachment; filename="a.txt__Set-Cookie: x=1"; filename*=')


# conditional requests


def test_matching_if_none_match_gives_304(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    etag = make_etag(file_path.stat())
    status, headers, body = serve(
        run_app, http_scope, file_path, [("if-none-match", f'"other", W/{etag}')]
    )
    assert (status, body, headers["etag"]) == (304, b"", etag)
    assert "content-length" not in headers
    assert "content-type" not in headers


def test_not_modified_keeps_content_location_and_cache_headers(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    extra = {"Content-Location": "/data.bin", "Cache-Control": "max-age=60"}
    response = FileResponse(file_path, headers=extra, filename="data.bin")
    sent = run_app(response, http_scope("/", headers=[("if-none-match", "*")]))
    status, headers = start_of(sent)
    assert (status, headers["content-location"], headers["cache-control"]) == (
        304,
        "/data.bin",
        "max-age=60",
    )
    assert "content-disposition" not in headers


def test_if_none_match_star_gives_304(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    assert serve(run_app, http_scope, file_path, [("if-none-match", "*")])[0] == 304


def test_stale_if_none_match_gives_200_and_ignores_if_modified_since(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    later = formatdate(file_path.stat().st_mtime + 60, usegmt=True)
    request = [("if-none-match", '"stale"'), ("if-modified-since", later)]
    assert serve(run_app, http_scope, file_path, request)[0] == 200


def test_if_modified_since_not_modified_gives_304(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    since = formatdate(file_path.stat().st_mtime, usegmt=True)
    assert serve(run_app, http_scope, file_path, [("if-modified-since", since)])[0] == 304


def test_if_modified_since_older_gives_200(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    since = formatdate(file_path.stat().st_mtime - 60, usegmt=True)
    assert serve(run_app, http_scope, file_path, [("if-modified-since", since)])[0] == 200


def test_malformed_if_modified_since_is_ignored(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    assert serve(run_app, http_scope, file_path, [("if-modified-since", "yesterday")])[0] == 200


def test_conditionals_apply_only_to_get_and_head(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    request = [("if-none-match", "*"), ("range", "bytes=0-1")]
    assert serve(run_app, http_scope, file_path, request, method="POST")[0] == 200


# ranges


def test_single_range_gives_206_with_content_range(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, headers, body = serve(run_app, http_scope, file_path, [("range", "bytes=10-19")])
    assert (status, body) == (206, CONTENT[10:20])
    assert (headers["content-range"], headers["content-length"]) == ("bytes 10-19/1024", "10")


def test_open_ended_range_runs_to_the_end(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, headers, body = serve(run_app, http_scope, file_path, [("range", "bytes=1000-")])
    assert (status, headers["content-range"], body) == (206, "bytes 1000-1023/1024", CONTENT[1000:])


def test_suffix_range_gives_the_last_bytes(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, headers, body = serve(run_app, http_scope, file_path, [("range", "bytes=-4")])
    assert (status, headers["content-range"], body) == (206, "bytes 1020-1023/1024", CONTENT[-4:])


def test_range_past_the_end_is_clipped(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, headers, _ = serve(run_app, http_scope, file_path, [("range", "bytes=1000-5000")])
    assert (status, headers["content-range"]) == (206, "bytes 1000-1023/1024")


def test_head_with_range_sends_no_body(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, headers, body = serve(
        run_app, http_scope, file_path, [("range", "bytes=0-9")], method="HEAD"
    )
    assert (status, headers["content-length"], body) == (206, "10", b"")


def test_several_ranges_give_multipart_byteranges(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, headers, body = serve(
        run_app, http_scope, file_path, [("range", "bytes=0-1, 100-102")], media_type="image/png"
    )
    media_type, _, boundary = headers["content-type"].partition("; boundary=")
    assert (status, media_type) == (206, "multipart/byteranges")
    assert int(headers["content-length"]) == len(body)
    expected = (
        f"--{boundary}\r\nContent-Type: image/png\r\nContent-Range: bytes 0-1/1024\r\n\r\n"
    ).encode() + CONTENT[0:2]
    expected += (
        f"\r\n--{boundary}\r\nContent-Type: image/png\r\nContent-Range: bytes 100-102/1024\r\n\r\n"
    ).encode() + CONTENT[100:103]
    expected += f"\r\n--{boundary}--\r\n".encode()
    assert body == expected


def test_head_with_several_ranges_sends_no_body(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    request = [("range", "bytes=0-1,5-6")]
    status, headers, body = serve(run_app, http_scope, file_path, request, method="HEAD")
    assert (status, body) == (206, b"")
    assert headers["content-type"].startswith("multipart/byteranges")


def test_range_rejects_many_overlapping_ranges(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    # Overlapping ranges are merged: the file is sent once, not fifty times.
    header = "bytes=" + ",".join(["0-1023"] * 50)
    status, headers, body = serve(run_app, http_scope, file_path, [("range", header)])
    assert (status, headers["content-range"], body) == (206, "bytes 0-1023/1024", CONTENT)


def test_range_merges_adjacent_ranges() -> None:
    assert parse_range("bytes=0-9,10-19,30-39,35-50,-1", 100) == ((0, 19), (30, 50), (99, 99))


def test_range_rejects_too_many_small_ranges(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    header = "bytes=" + ",".join(f"{start}-{start}" for start in range(0, 2 * (MAX_RANGES + 1), 2))
    status, _, body = serve(run_app, http_scope, file_path, [("range", header)])
    assert (status, body) == (200, CONTENT)


def test_range_rejects_too_many_range_specs() -> None:
    assert parse_range("bytes=" + ",".join(["0-0"] * (MAX_RANGE_SPECS + 1)), 100) is None


def test_unsatisfiable_range_gives_416(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, headers, body = serve(run_app, http_scope, file_path, [("range", "bytes=2000-")])
    assert (status, headers["content-range"], body) == (416, "bytes */1024", b"")
    assert headers["content-length"] == "0"


def test_zero_suffix_range_is_unsatisfiable() -> None:
    assert parse_range("bytes=-0", 100) == ()


def test_suffix_range_of_empty_file_is_unsatisfiable() -> None:
    assert parse_range("bytes=-5", 0) == ()


@pytest.mark.parametrize(
    "header",
    ["bytes=5-2", "bytes=a-b", "bytes=1", "bytes=-", "items=0-1", "bytes=0-1,x", "bytes=٣-٤"],
)
def test_malformed_range_is_ignored(header: str) -> None:
    assert parse_range(header, 100) is None


def test_malformed_range_gives_full_200(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    status, _, body = serve(run_app, http_scope, file_path, [("range", "bytes=9-1")])
    assert (status, body) == (200, CONTENT)


def test_if_range_with_current_etag_honours_range(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    request = [("range", "bytes=0-1"), ("if-range", make_etag(file_path.stat()))]
    assert serve(run_app, http_scope, file_path, request)[0] == 206


def test_if_range_with_stale_etag_gives_full_200(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    request = [("range", "bytes=0-1"), ("if-range", '"stale"')]
    status, _, body = serve(run_app, http_scope, file_path, request)
    assert (status, body) == (200, CONTENT)


def test_if_range_with_weak_etag_gives_full_200(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    request = [("range", "bytes=0-1"), ("if-range", "W/" + make_etag(file_path.stat()))]
    assert serve(run_app, http_scope, file_path, request)[0] == 200


def test_if_range_with_current_date_honours_range(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    date = formatdate(file_path.stat().st_mtime, usegmt=True)
    request = [("range", "bytes=0-1"), ("if-range", date)]
    assert serve(run_app, http_scope, file_path, request)[0] == 206


def test_if_range_with_other_date_gives_full_200(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    date = formatdate(file_path.stat().st_mtime - 3600, usegmt=True)
    request = [("range", "bytes=0-1"), ("if-range", date)]
    assert serve(run_app, http_scope, file_path, request)[0] == 200


# the ASGI side


def test_pathsend_is_used_when_the_server_offers_it(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    scope = http_scope("/", extensions={"http.response.pathsend": {}})
    sent = run_app(FileResponse(file_path), scope)
    assert sent[1] == {"type": "http.response.pathsend", "path": str(file_path)}
    assert len(sent) == 2


def test_pathsend_is_not_used_for_ranges(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path
) -> None:
    scope = http_scope("/", headers=[("range", "bytes=0-0")])
    scope["extensions"] = {"http.response.pathsend": {}}
    sent = run_app(FileResponse(file_path), scope)
    assert body_of(sent) == CONTENT[:1]


def run_with(response: FileResponse, scope: Scope, receive: Receive, send: Send) -> None:
    async def main() -> None:
        with anyio.fail_after(5):
            await response(scope, receive, send)

    anyio.run(main)


async def receive_nothing() -> Message:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover - sleep_forever never returns


def test_client_gone_stops_the_body_asgi_2_4(http_scope: HTTPScope, file_path: Path) -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if len(sent) == 3:
            raise OSError("client gone")
        sent.append(message)

    run_with(FileResponse(file_path, chunk_size=10), http_scope("/"), receive_nothing, send)
    assert len(sent) == 3


def test_client_gone_stops_the_body_before_asgi_2_4(http_scope: HTTPScope, file_path: Path) -> None:
    sent: list[Message] = []
    gone = anyio.Event()

    requests: list[Message] = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Message:
        if requests:
            return requests.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if len(sent) == 3:
            gone.set()
        await anyio.lowlevel.checkpoint()

    scope = http_scope("/", asgi={"version": "3.0", "spec_version": "2.3"})
    run_with(FileResponse(file_path, chunk_size=1), scope, receive, send)
    assert 3 <= len(sent) < 20


def test_body_completes_before_asgi_2_4_when_the_client_stays(
    http_scope: HTTPScope, file_path: Path
) -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope("/", asgi={"version": "3.0"})
    run_with(FileResponse(file_path), scope, receive_nothing, send)
    assert body_of(sent) == CONTENT


def test_read_error_is_not_mistaken_for_a_disconnect(
    run_app: RunApp, http_scope: HTTPScope, file_path: Path, tmp_path: Path
) -> None:
    # Opening a folder fails with an OSError: it must propagate, not end the body quietly.
    response = FileResponse(tmp_path, stat_result=file_path.stat())
    with pytest.raises(IsADirectoryError):
        run_app(response, http_scope("/"))
