"""The public thread helpers, and the separate file I/O pool that keeps downloads moving."""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from microasgi import App, FileResponse, Request
from microasgi.concurrency import (
    configure_threads,
    iterate_in_threadpool,
    run_in_threadpool,
    thread_limits,
)


@pytest.fixture(autouse=True)
def default_thread_limits() -> Iterator[None]:
    before = thread_limits()
    yield
    configure_threads(**before)


def test_run_in_threadpool_and_iterate_in_threadpool_run_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()

    def numbers() -> Iterator[int]:
        for number in range(3):
            assert threading.get_ident() != loop_thread
            yield number

    async def main() -> tuple[int, list[int]]:
        answer = await run_in_threadpool(lambda a, b: a * b, 6, b=7)
        return answer, [number async for number in iterate_in_threadpool(numbers())]

    assert anyio.run(main) == (42, [0, 1, 2])


def blocking_app(release: threading.Event, entered: list[int], file: Path) -> App:
    app = App()

    @app.get("/sleep")
    def sleep() -> str:  # a slow sync endpoint: holds a worker thread until released
        entered.append(1)
        release.wait(10)
        return "woke"

    @app.get("/download")
    async def download() -> FileResponse:
        return FileResponse(file)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        async with request.form() as form:
            uploaded = form["file"]
            assert not isinstance(uploaded, str)
            return {"size": len(await uploaded.read())}

    return app


async def wait_for(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not condition():  # noqa: ASYNC110 - set by worker threads, not by a task
            await anyio.sleep(0.01)


def test_a_download_and_an_upload_are_not_delayed_by_80_sleeping_sync_endpoints(
    tmp_path: Path,
) -> None:
    file = tmp_path / "big.bin"
    file.write_bytes(b"x" * 3_000_000)
    release = threading.Event()
    entered: list[int] = []
    app = blocking_app(release, entered, file)
    timings: dict[str, float] = {}

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            anyio.create_task_group() as tasks,
        ):
            for _ in range(80):
                tasks.start_soon(client.get, "/sleep")
            try:
                # Every worker thread is now asleep; 40 more requests wait for one.
                await wait_for(lambda: len(entered) == thread_limits()["workers"])
                start = time.perf_counter()
                with anyio.fail_after(5):
                    response = await client.get("/download")
                timings["download"] = time.perf_counter() - start
                assert response.content == file.read_bytes()
                start = time.perf_counter()
                with anyio.fail_after(5):
                    files = {"file": ("big.bin", b"y" * 2_000_000)}  # rolls to disk past 1 MiB
                    response = await client.post("/upload", files=files)
                timings["upload"] = time.perf_counter() - start
                assert response.json() == {"size": 2_000_000}
                assert len(entered) == 40  # the sleepers still hold every worker thread
            finally:
                release.set()

    anyio.run(main)
    assert timings["download"] < 1.0
    assert timings["upload"] < 1.0


def test_configure_threads_resizes_the_workers_pool_of_a_running_loop(tmp_path: Path) -> None:
    release = threading.Event()
    entered: list[int] = []
    app = blocking_app(release, entered, tmp_path / "unused")

    async def main() -> None:
        await run_in_threadpool(int)  # the loop's limiter now exists at the default size
        configure_threads(workers=3)
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            anyio.create_task_group() as tasks,
        ):
            for _ in range(5):
                tasks.start_soon(client.get, "/sleep")
            try:
                await wait_for(lambda: len(entered) == 3)
                await anyio.sleep(0.05)
                assert len(entered) == 3
            finally:
                release.set()
        assert len(entered) == 5

    anyio.run(main)
    assert thread_limits()["workers"] == 3


def test_configure_threads_before_serving_sizes_each_new_loop() -> None:
    configure_threads(workers=2, file_io=7)
    assert thread_limits() == {"workers": 2, "file_io": 7}
    active: list[int] = []
    peak: list[int] = [0]
    lock = threading.Lock()

    def work() -> None:
        with lock:
            active.append(1)
            peak[0] = max(peak[0], len(active))
        time.sleep(0.02)
        with lock:
            active.pop()

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            for _ in range(6):
                tasks.start_soon(run_in_threadpool, work)

    anyio.run(main)
    assert peak[0] == 2


@pytest.mark.parametrize("size", [0, -1, True, 2.5])
def test_configure_threads_refuses_a_size_that_is_not_a_positive_whole_number(size: object) -> None:
    with pytest.raises(ValueError, match="workers must be a whole number"):
        configure_threads(workers=size)  # type: ignore[arg-type]
    assert thread_limits() == {"workers": 40, "file_io": 40}
