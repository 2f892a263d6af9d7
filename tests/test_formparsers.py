"""Form parsing: urlencoded and multipart bodies, limits that fail fast, files that spool."""

import os
from collections.abc import AsyncIterator, Iterable

import anyio
import pytest

from microasgi import App, FormData, Request, UploadFile
from microasgi.exceptions import ClientDisconnect, HTTPException
from microasgi.formparsers import MAX_PART_HEADER_COUNT, MAX_PART_HEADER_SIZE, parse_form
from microasgi.testclient import TestClient

BOUNDARY = "testboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"


class Body:
    """An async body stream that records how many chunks were taken from it."""

    def __init__(self, chunks: Iterable[bytes], error: BaseException | None = None) -> None:
        self.chunks = list(chunks)
        self.taken = 0
        self.error = error

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.taken += 1
            yield chunk
        if self.error is not None:
            raise self.error


def parse(
    content_type: str,
    chunks: Iterable[bytes] | Body,
    *,
    max_files: int = 1000,
    max_fields: int = 1000,
    max_part_size: int = 1_048_576,
) -> FormData:
    body = chunks if isinstance(chunks, Body) else Body(chunks)

    async def main() -> FormData:
        with anyio.fail_after(5):
            return await parse_form(
                content_type,
                body.stream(),
                max_files=max_files,
                max_fields=max_fields,
                max_part_size=max_part_size,
            )

    return anyio.run(main)


def part(name: str, value: bytes, filename: str | None = None, *headers: str) -> bytes:
    disposition = f'Content-Disposition: form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    lines = [f"--{BOUNDARY}", disposition, *headers, "", ""]
    return "\r\n".join(lines).encode() + value + b"\r\n"


def multipart_body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[index : index + size] for index in range(0, len(data), size)]


async def read_all(upload: UploadFile) -> bytes:
    await upload.seek(0)
    return await upload.read()


# urlencoded


def test_urlencoded_fields_are_decoded() -> None:
    form = parse(URLENCODED, [b"name=J%C3%BCrgen+M&empty=&flag&x=1&x=2"])
    assert form.multi_items() == [
        ("name", "Jürgen M"),
        ("empty", ""),
        ("flag", ""),
        ("x", "1"),
        ("x", "2"),
    ]


def test_urlencoded_pairs_split_across_chunks_are_joined() -> None:
    form = parse(URLENCODED, split(b"alpha=one&beta=two%20words&gamma=3", 3))
    assert dict(form) == {"alpha": "one", "beta": "two words", "gamma": "3"}


def test_urlencoded_skips_empty_pairs() -> None:
    assert parse(URLENCODED, [b"&&a=1&&"]).multi_items() == [("a", "1")]


def test_urlencoded_content_type_with_charset_is_accepted() -> None:
    assert dict(parse(f"{URLENCODED}; charset=UTF-8", [b"a=1"])) == {"a": "1"}


def test_form_rejects_too_many_urlencoded_fields() -> None:
    with pytest.raises(HTTPException) as raised:
        parse(URLENCODED, [b"a=1&b=2&c=3"], max_fields=2)
    assert raised.value.status_code == 400
    assert "max_fields=2" in raised.value.detail


def test_form_rejects_too_many_fields_without_reading_the_rest() -> None:
    # 10,000 fields, 100 per chunk: the parser must stop soon after field 1,001.
    chunks = [
        b"".join(b"f%d=v&" % (start + index) for index in range(100))
        for start in range(0, 10_000, 100)
    ]
    body = Body(chunks)
    with pytest.raises(HTTPException) as raised:
        parse(URLENCODED, body)
    assert raised.value.status_code == 400
    assert "max_fields=1000" in raised.value.detail
    assert body.taken == 11  # of 100 chunks


def test_form_rejects_a_field_over_the_limit_in_the_last_pair() -> None:
    with pytest.raises(HTTPException) as raised:
        parse(URLENCODED, [b"a=1&b=2"], max_fields=1)
    assert "max_fields=1" in raised.value.detail


def test_form_rejects_oversized_urlencoded_value() -> None:
    with pytest.raises(HTTPException) as raised:
        parse(URLENCODED, [b"big=" + b"x" * 11], max_part_size=10)
    assert (raised.value.status_code, "max_part_size=10" in raised.value.detail) == (400, True)


def test_form_rejects_endless_urlencoded_pair_before_it_ends() -> None:
    # No '&' ever arrives: the pending pair is refused once past the worst-case encoding.
    body = Body([b"big="] + [b"%41" * 1000] * 1000)
    with pytest.raises(HTTPException) as raised:
        parse(URLENCODED, body, max_part_size=1000)
    assert "'big'" in raised.value.detail
    assert body.taken < 20


def test_urlencoded_value_limit_counts_the_encoded_size() -> None:
    # Nine encoded bytes per character: the limit applies to the 90 bytes as sent.
    value = "€" * 10
    encoded = "".join(f"%{byte:02X}" for byte in value.encode())
    assert parse(URLENCODED, [f"v={encoded}".encode()], max_part_size=90)["v"] == value
    with pytest.raises(HTTPException):
        parse(URLENCODED, [f"v={encoded}".encode()], max_part_size=89)


# other content types


def test_unknown_content_type_gives_an_empty_form_and_leaves_the_body() -> None:
    body = Body([b'{"a": 1}'])
    assert parse("application/json", body) == FormData()
    assert body.taken == 0


def test_missing_content_type_gives_an_empty_form() -> None:
    assert parse("", [b"a=1"]) == FormData()


# multipart


def test_multipart_fields_and_files_are_parsed() -> None:
    body = multipart_body(
        part("title", "Grüße".encode()),
        part("doc", b"file body", "notes.txt", "Content-Type: text/plain"),
    )
    form = parse(MULTIPART, split(body, 7))
    assert form["title"] == "Grüße"
    upload = form["doc"]
    assert isinstance(upload, UploadFile)
    assert (upload.filename, upload.content_type, upload.size) == ("notes.txt", "text/plain", 9)
    assert anyio.run(read_all, upload) == b"file body"
    anyio.run(form.close)


def test_multipart_quoted_boundary_is_accepted() -> None:
    form = parse(f'multipart/form-data; boundary="{BOUNDARY}"', [multipart_body(part("a", b"1"))])
    assert dict(form) == {"a": "1"}


def test_multipart_field_charset_is_honoured() -> None:
    body = multipart_body(
        part("a", "é".encode("latin-1"), None, "Content-Type: text/plain; charset=latin-1")
    )
    assert parse(MULTIPART, [body])["a"] == "é"


def test_multipart_unknown_field_charset_falls_back_to_utf8() -> None:
    body = multipart_body(part("a", "é".encode(), None, "Content-Type: text/plain; charset=nope"))
    assert parse(MULTIPART, [body])["a"] == "é"


def test_multipart_empty_filename_is_still_a_file() -> None:
    form = parse(MULTIPART, [multipart_body(part("doc", b"", ""))])
    upload = form["doc"]
    assert isinstance(upload, UploadFile)
    assert (upload.filename, upload.size) == ("", 0)
    anyio.run(form.close)


def test_multipart_large_file_rolls_to_disk() -> None:
    data = os.urandom(1024 * 1024 + 10)
    form = parse(MULTIPART, split(multipart_body(part("big", data, "big.bin")), 65536))
    upload = form["big"]
    assert isinstance(upload, UploadFile)
    assert getattr(upload.file, "_rolled", False)  # spooled past 1 MiB
    assert upload.size == len(data)
    assert anyio.run(read_all, upload) == data
    anyio.run(form.close)
    assert upload.file.closed


def test_form_rejects_missing_boundary() -> None:
    with pytest.raises(HTTPException) as raised:
        parse("multipart/form-data", [multipart_body(part("a", b"1"))])
    assert (raised.value.status_code, "boundary" in raised.value.detail) == (400, True)


def test_form_rejects_overlong_boundary() -> None:
    with pytest.raises(HTTPException) as raised:
        parse("multipart/form-data; boundary=" + "b" * 71, [b""])
    assert raised.value.status_code == 400


def test_form_rejects_truncated_multipart_body() -> None:
    body = multipart_body(part("a", b"1"))[:-10]
    with pytest.raises(HTTPException) as raised:
        parse(MULTIPART, [body])
    assert (raised.value.status_code, "Invalid multipart" in raised.value.detail) == (400, True)


def test_form_rejects_multipart_part_without_disposition() -> None:
    body = f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()
    with pytest.raises(HTTPException) as raised:
        parse(MULTIPART, [body])
    assert raised.value.status_code == 400


def test_form_rejects_too_many_multipart_fields() -> None:
    body = multipart_body(*(part(f"f{index}", b"v") for index in range(4)))
    with pytest.raises(HTTPException) as raised:
        parse(MULTIPART, [body], max_fields=3)
    assert (raised.value.status_code, "max_fields=3" in raised.value.detail) == (400, True)


def test_form_rejects_too_many_files() -> None:
    body = multipart_body(*(part(f"f{index}", b"data", f"{index}.txt") for index in range(3)))
    with pytest.raises(HTTPException) as raised:
        parse(MULTIPART, [body], max_files=2)
    assert (raised.value.status_code, "max_files=2" in raised.value.detail) == (400, True)


def test_form_rejects_oversized_multipart_field_before_it_ends() -> None:
    body = Body([part("big", b"")[:-2]] + [b"x" * 1000] * 100)
    with pytest.raises(HTTPException) as raised:
        parse(MULTIPART, body, max_part_size=5000)
    assert "max_part_size=5000" in raised.value.detail
    assert body.taken < 10


def test_form_rejects_oversized_part_header() -> None:
    body = multipart_body(part("a", b"1", "x" * MAX_PART_HEADER_SIZE))
    with pytest.raises(HTTPException) as raised:
        parse(MULTIPART, [body])
    assert (raised.value.status_code, "headers too large" in raised.value.detail) == (400, True)


def test_form_rejects_too_many_part_headers() -> None:
    headers = [f"X-Header-{index}: v" for index in range(MAX_PART_HEADER_COUNT)]
    body = multipart_body(part("a", b"1", None, *headers))
    with pytest.raises(HTTPException) as raised:
        parse(MULTIPART, [body])
    assert raised.value.status_code == 400


def test_form_error_closes_files_already_created(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[UploadFile] = []
    original_init = UploadFile.__init__

    def record(self: UploadFile, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]
        created.append(self)

    monkeypatch.setattr(UploadFile, "__init__", record)
    body = multipart_body(
        part("one", b"x" * 2_000_000, "one.bin"),
        part("two", b"partial", "two.bin"),
        part("three", b"3", "three.bin"),
    )
    with pytest.raises(HTTPException):
        parse(MULTIPART, split(body, 65536), max_files=2)
    assert len(created) == 2
    assert all(upload.file.closed for upload in created)


def test_client_disconnect_closes_files_already_created(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[UploadFile] = []
    original_init = UploadFile.__init__

    def record(self: UploadFile, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]
        created.append(self)

    monkeypatch.setattr(UploadFile, "__init__", record)
    body = Body([part("doc", b"half a file", "doc.txt")], error=ClientDisconnect())
    with pytest.raises(ClientDisconnect):
        parse(MULTIPART, body)
    assert [upload.file.closed for upload in created] == [True]


# through the app


def form_app(**limits: int) -> App:
    app = App()

    @app.post("/")
    async def endpoint(request: Request) -> dict[str, str]:
        form = await request.form(**limits)
        return {
            key: str(value) if isinstance(value, str) else "file" for key, value in form.items()
        }

    return app


def test_app_answers_400_for_too_many_fields() -> None:
    body = "&".join(f"f{index}=v" for index in range(10_000))
    response = TestClient(form_app()).post("/", content=body, headers={"content-type": URLENCODED})
    assert response.status_code == 400
    assert "max_fields=1000" in response.text


def test_app_form_within_limits_is_parsed() -> None:
    response = TestClient(form_app(max_fields=2)).post("/", data={"a": "1", "b": "2"})
    assert response.json() == {"a": "1", "b": "2"}


def test_app_closes_upload_files_after_the_response() -> None:
    seen: list[UploadFile] = []
    app = App()

    @app.post("/")
    async def endpoint(request: Request) -> str:
        form = await request.form()
        upload = form["doc"]
        assert isinstance(upload, UploadFile)
        seen.append(upload)
        return "ok"

    response = TestClient(app).post("/", files={"doc": ("a.txt", b"hello")})
    assert response.text == "ok"
    assert seen[0].file.closed
