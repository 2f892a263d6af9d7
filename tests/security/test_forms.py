"""Hostile form bodies: percent-escape floods, smuggled part headers, endless epilogues.

DoS cases assert a bound on wall time, on the longest stretch the event loop was blocked,
and on the ``tracemalloc`` peak.
"""

import time
from collections.abc import AsyncIterator, Iterable

import anyio
import anyio.lowlevel
import pytest

from microasgi.datastructures import FormData
from microasgi.exceptions import HTTPException
from microasgi.formparsers import MAX_FIELD_NAME_SIZE, MAX_PART_HEADER_SIZE, parse_form
from tests.security.conftest import measured

BOUNDARY = "xyz"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"
CHUNK = 64 * 1024
MIB = 1024 * 1024


class Body:
    """Body chunks, counting how many bytes the parser took."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.taken = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.taken += len(chunk)
            await anyio.lowlevel.checkpoint()  # as a server's receive() does
            yield chunk


def chunked(body: bytes) -> list[bytes]:
    return [body[start : start + CHUNK] for start in range(0, len(body), CHUNK)]


def parse(content_type: str, body: Body, *, max_part_size: int = MIB) -> FormData:
    async def main() -> FormData:
        with anyio.fail_after(10):
            return await parse_form(
                content_type,
                body.stream(),
                max_files=10,
                max_fields=100,
                max_part_size=max_part_size,
            )

    return anyio.run(main)


def parse_watching_the_loop(body: bytes, max_part_size: int) -> tuple[FormData, float]:
    """Parse ``body`` while a ticker task measures the longest time the loop was blocked."""
    longest = 0.0

    async def main() -> FormData:
        nonlocal longest
        done = anyio.Event()

        async def ticker() -> None:
            nonlocal longest
            last = time.perf_counter()
            while not done.is_set():
                await anyio.lowlevel.checkpoint()
                now = time.perf_counter()
                longest = max(longest, now - last)
                last = now

        form = FormData()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(ticker)
                try:
                    form = await parse_form(
                        URLENCODED,
                        Body(chunked(body)).stream(),
                        max_files=1,
                        max_fields=10,
                        max_part_size=max_part_size,
                    )
                finally:
                    done.set()
        return form

    return anyio.run(main), longest


# urlencoded: percent-escape floods


def test_urlencoded_escape_flood_3mb_is_refused_on_its_encoded_size() -> None:
    body = b"a=" + b"%41" * MIB  # 3 MiB encoded, 1 MiB decoded
    stream = Body(chunked(body))  # the body and its chunks exist before the measure
    with measured() as usage, pytest.raises(HTTPException) as raised:
        parse(URLENCODED, stream)
    assert raised.value.status_code == 400
    assert "max_part_size" in raised.value.detail
    assert stream.taken <= MIB + 2 * CHUNK  # refused once the encoded pair passed the limit
    assert usage.peak_bytes < 8 * MIB
    assert usage.seconds < 1.0


def test_urlencoded_escape_flood_3mb_within_a_raised_limit_costs_near_the_body_size() -> None:
    body = b"a=" + b"%41" * MIB
    chunks = chunked(body)
    with measured() as usage:
        form = parse(URLENCODED, Body(chunks), max_part_size=4 * MIB)
    assert form["a"] == "A" * MIB
    # The body, its decoded value and a few transient copies; not one object per escape.
    assert usage.peak_bytes < 4 * len(body), usage.peak_bytes


def test_urlencoded_escape_flood_does_not_block_the_event_loop() -> None:
    body = b"a=" + b"%41" * MIB
    blocked = []
    for _attempt in range(3):  # the best of three: a busy machine can steal any one run
        started = time.perf_counter()
        form, longest = parse_watching_the_loop(body, max_part_size=4 * MIB)
        elapsed = time.perf_counter() - started
        assert form["a"] == "A" * MIB
        assert elapsed < 1.0
        blocked.append(longest)
        if longest < 0.05:
            break
    assert min(blocked) < 0.05, f"event loop blocked {min(blocked) * 1000:.0f} ms for 3 MiB"


def test_urlencoded_pair_split_over_many_chunks_is_not_quadratic() -> None:
    # 4 MiB of one value arriving in 1 KiB chunks: appending must not copy the pending pair.
    body = b"a=" + b"x" * (4 * MIB)
    chunks = [body[start : start + 1024] for start in range(0, len(body), 1024)]
    with measured() as usage:
        form = parse(URLENCODED, Body(chunks), max_part_size=5 * MIB)
    assert form["a"] == "x" * (4 * MIB)
    assert usage.seconds < 1.0
    assert usage.peak_bytes < 4 * len(body)


def test_urlencoded_field_name_over_4_kib_is_400_even_in_one_chunk() -> None:
    with pytest.raises(HTTPException) as raised:
        parse(URLENCODED, Body([b"n" * (MAX_FIELD_NAME_SIZE + 1) + b"=v&a=1"]))
    assert raised.value.status_code == 400
    assert "name too long" in raised.value.detail


# multipart


def multipart(*parts: bytes, epilogue: bytes = b"") -> bytes:
    return b"".join(f"--{BOUNDARY}\r\n".encode() + p for p in parts) + (
        f"--{BOUNDARY}--\r\n".encode() + epilogue
    )


def field(headers: bytes, value: bytes) -> bytes:
    return headers + b"\r\n\r\n" + value + b"\r\n"


@pytest.mark.parametrize("separator", [b"\n", b"\r"])
def test_multipart_bare_line_break_inside_a_part_header_is_400(separator: bytes) -> None:
    smuggled = b'Content-Disposition: form-data; name="doc"; filename="a.txt"'
    smuggled += separator + b"Content-Type: text/html"
    with pytest.raises(HTTPException) as raised:
        parse(MULTIPART, Body([multipart(field(smuggled, b"<script>"))]))
    assert raised.value.status_code == 400


def test_multipart_part_header_line_over_4_kib_is_400() -> None:
    long_name = b"n" * 4100
    headers = b'Content-Disposition: form-data; name="' + long_name + b'"'
    assert MAX_PART_HEADER_SIZE <= 4096 + 128
    with pytest.raises(HTTPException) as raised:
        parse(MULTIPART, Body([multipart(field(headers, b"v"))]))
    assert raised.value.status_code == 400


def test_multipart_reading_stops_at_the_closing_boundary() -> None:
    form_part = field(b'Content-Disposition: form-data; name="a"', b"1")
    head = multipart(form_part)
    epilogue_chunks = (b"e" * CHUNK for _ in range(100 * MIB // CHUNK))  # 100 MiB, lazily
    stream = Body([head, *[]])
    stream.chunks = _then(head, epilogue_chunks)
    with measured() as usage:
        form = parse(MULTIPART, stream)
    assert dict(form) == {"a": "1"}
    assert stream.taken <= len(head) + CHUNK
    assert usage.seconds < 0.5
    assert usage.peak_bytes < 4 * CHUNK


def test_multipart_value_full_of_partial_boundaries_costs_linear_time_and_bounded_memory() -> None:
    # "\r\n--xy" repeated: every position could start the delimiter "\r\n--xyz".
    head = b'--xyz\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n\r\n'
    body = head + b"\r\n--xy" * (4 * MIB // 6) + b"\r\n--xyz--\r\n"
    chunks = chunked(body)
    with measured() as usage:
        form = parse(MULTIPART, Body(chunks))
        anyio.run(form.close)
    assert usage.seconds < 2.0
    # The file spools to disk past 1 MiB: memory stays near a chunk, not the body.
    assert usage.peak_bytes < 3 * MIB


def _then(first: bytes, rest: Iterable[bytes]) -> Iterable[bytes]:
    yield first
    yield from rest


@pytest.mark.parametrize(
    "disposition",
    [
        b"Content-Disposition: form-data",
        b'Content-Disposition: form-data; name=""',
        b'Content-Disposition: form-data; filename="x.txt"',
    ],
)
def test_multipart_part_without_a_name_is_ignored(disposition: bytes) -> None:
    body = multipart(
        field(disposition, b"ghost"), field(b'Content-Disposition: form-data; name="a"', b"1")
    )
    form = parse(MULTIPART, Body([body]))
    anyio.run(form.close)
    assert "" not in form
    assert form.multi_items() == [("a", "1")]
