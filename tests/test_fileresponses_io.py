"""FileResponse's file I/O: few worker-thread hops, bounded memory, the file always closed."""

import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

import microasgi.fileresponses as fileresponses
from microasgi import StaticFiles, _concurrency
from microasgi.fileresponses import CHUNK_SIZE, FileResponse
from microasgi.types import Message
from tests.conftest import HTTPScope, RunApp

T = TypeVar("T")


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function FileResponse hands to a worker thread, in order."""
    called: list[str] = []
    real = _concurrency.run_file_io

    async def counting(func: Callable[..., T], *args: Any) -> T:
        called.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args)

    monkeypatch.setattr(fileresponses, "run_file_io", counting)
    return called


def body_of(sent: list[Message]) -> bytes:
    assert sent[0]["status"] in (200, 206)
    assert not sent[-1].get("more_body", False)
    return b"".join(message.get("body", b"") for message in sent[1:])


def test_a_small_file_takes_one_hop_for_stat_open_read_and_close(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path, hops: list[str]
) -> None:
    path = tmp_path / "small.bin"
    path.write_bytes(b"abc" * 1000)
    sent = run_app(FileResponse(path), http_scope("/"))
    assert body_of(sent) == b"abc" * 1000
    assert hops == ["_open_and_read"]


def test_a_large_file_is_read_a_chunk_per_hop_and_closed_by_the_last_read(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path, hops: list[str]
) -> None:
    content = os.urandom(2500)
    path = tmp_path / "large.bin"
    path.write_bytes(content)
    sent = run_app(FileResponse(path, chunk_size=1000), http_scope("/"))
    assert body_of(sent) == content
    assert [len(message["body"]) for message in sent[1:-1]] == [1000, 1000, 500]
    assert hops == ["_open_and_read", "_read_at", "_read_at"]


def test_a_range_is_read_at_its_offset_without_reading_ahead(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path, hops: list[str]
) -> None:
    content = os.urandom(5000)
    path = tmp_path / "ranged.bin"
    path.write_bytes(content)
    scope = http_scope("/", headers=[("range", "bytes=1000-2999")])
    sent = run_app(FileResponse(path), scope)
    assert body_of(sent) == content[1000:3000]
    assert hops == ["_stat_file", "open", "_read_at"]


def test_a_file_read_ahead_is_closed_when_the_start_cannot_be_sent(
    http_scope: HTTPScope, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 3000)
    opened: list[Any] = []
    real = fileresponses._open_and_read

    def recording(*args: Any) -> Any:
        opened.append(real(*args))
        return opened[-1]

    monkeypatch.setattr(fileresponses, "_open_and_read", recording)

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover - sleep_forever never returns

    async def send(message: Message) -> None:
        raise OSError("client gone")

    async def main() -> None:
        with anyio.fail_after(5):
            await FileResponse(path, chunk_size=1000)(http_scope("/"), receive, send)

    with pytest.raises(OSError, match="client gone"):
        anyio.run(main)
    assert len(opened) == 1
    assert opened[0].file.closed


def test_a_50_mb_file_streams_in_bounded_memory(http_scope: HTTPScope, tmp_path: Path) -> None:
    size = 50 * 1024 * 1024
    path = tmp_path / "huge.bin"
    with open(path, "wb") as file:
        file.truncate(size)  # sparse: quick to make, read back as zeros
    received = 0

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover - sleep_forever never returns

    async def send(message: Message) -> None:
        nonlocal received
        received += len(message.get("body", b""))

    async def main() -> None:
        with anyio.fail_after(30):
            await FileResponse(path)(http_scope("/"), receive, send)

    tracemalloc.start()
    try:
        anyio.run(main)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert peak < 4 * CHUNK_SIZE  # about one chunk in flight, not the 50 MB


def test_static_files_hand_the_file_to_a_server_offering_pathsend(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path
) -> None:
    (tmp_path / "page.txt").write_text("hello")
    scope = http_scope("/page.txt", extensions={"http.response.pathsend": {}})
    sent = run_app(StaticFiles(tmp_path), scope)
    assert sent[0]["status"] == 200
    assert sent[1] == {"type": "http.response.pathsend", "path": str(tmp_path / "page.txt")}


def test_a_failed_read_ahead_closes_the_file(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "unreadable.bin"
    path.write_bytes(b"x" * 10)
    closed: list[bool] = []

    class Unreadable:
        def read(self, size: int) -> bytes:
            raise OSError("Input/output error")

        def close(self) -> None:
            closed.append(True)

    monkeypatch.setattr(fileresponses, "open", lambda *args: Unreadable(), raising=False)
    with pytest.raises(OSError, match="Input/output error"):
        run_app(FileResponse(path), http_scope("/"))
    assert closed == [True]
