"""Worker threads, iteration in threads, and the disconnect watch (microasgi._concurrency)."""

import contextvars
import math
import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.lowlevel
import pytest

from microasgi._concurrency import (
    aclose_quietly,
    iterate_in_threadpool,
    receive_nowait,
    run_in_threadpool,
    run_until_disconnect,
)
from microasgi.types import Message

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def test_run_in_threadpool_returns_the_result_from_another_thread() -> None:
    def work(a: int, b: int, *, scale: int) -> tuple[int, int]:
        return (a + b) * scale, threading.get_ident()

    async def main() -> tuple[int, int]:
        return await run_in_threadpool(work, 1, 2, scale=10)

    result, thread = anyio.run(main)
    assert result == 30
    assert thread != threading.get_ident()


def test_run_in_threadpool_without_kwargs_passes_positional_arguments() -> None:
    async def main() -> str:
        return await run_in_threadpool(str.upper, "abc")

    assert anyio.run(main) == "ABC"


def test_run_in_threadpool_sees_the_callers_context_variables() -> None:
    async def main() -> str:
        request_id.set("r-42")
        return await run_in_threadpool(request_id.get)

    assert anyio.run(main) == "r-42"


def test_run_in_threadpool_raises_the_functions_error() -> None:
    def fail() -> None:
        raise KeyError("missing")

    async def main() -> None:
        await run_in_threadpool(fail)

    with pytest.raises(KeyError, match="missing"):
        anyio.run(main)


def test_iterate_in_threadpool_yields_every_item_each_from_a_worker_thread() -> None:
    threads: list[int] = []

    def numbers() -> Iterator[int]:
        for number in range(3):
            threads.append(threading.get_ident())
            yield number

    async def main() -> list[int]:
        return [item async for item in iterate_in_threadpool(numbers())]

    assert anyio.run(main) == [0, 1, 2]
    assert threading.get_ident() not in threads


def test_iterate_in_threadpool_closes_the_generator_when_the_consumer_stops_early() -> None:
    closed_in: list[int] = []

    def endless() -> Iterator[int]:
        try:
            while True:
                yield 1
        finally:
            closed_in.append(threading.get_ident())

    async def main() -> None:
        items = iterate_in_threadpool(endless())
        async for _ in items:
            break
        await items.aclose()

    anyio.run(main)
    assert len(closed_in) == 1
    assert closed_in[0] != threading.get_ident()


def test_iterate_in_threadpool_does_not_close_an_exhausted_iterator() -> None:
    class Countdown:
        def __init__(self) -> None:
            self.left = 2
            self.closed = False

        def __iter__(self) -> "Countdown":
            return self

        def __next__(self) -> int:
            if self.left == 0:
                raise StopIteration
            self.left -= 1
            return self.left

        def close(self) -> None:
            self.closed = True

    countdown = Countdown()

    async def main() -> list[int]:
        return [item async for item in iterate_in_threadpool(countdown)]

    assert anyio.run(main) == [1, 0]
    assert countdown.closed is False


def test_iterate_in_threadpool_raises_the_iterators_error() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("bad item")

    async def main() -> None:
        async for _ in iterate_in_threadpool(broken()):
            pass

    with pytest.raises(ValueError, match="bad item"):
        anyio.run(main)


def test_iterate_in_threadpool_accepts_an_iterable_without_close() -> None:
    async def main() -> list[str]:
        items = iterate_in_threadpool(["a", "b", "c"])
        return [item async for item in items if item != "b"]

    assert anyio.run(main) == ["a", "c"]


def test_aclose_quietly_runs_a_generators_finally_inside_a_cancelled_scope() -> None:
    cleaned: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            yield b"b"
        finally:
            await anyio.lowlevel.checkpoint()  # an await in the finally needs the shield
            cleaned.append("done")

    async def main() -> None:
        generator = chunks()
        await generator.__anext__()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await aclose_quietly(generator)

    anyio.run(main)
    assert cleaned == ["done"]


def test_aclose_quietly_ignores_objects_without_aclose() -> None:
    async def main() -> None:
        await aclose_quietly([b"a", b"b"])

    anyio.run(main)


def test_receive_nowait_returns_a_message_already_queued_on_a_memory_stream() -> None:
    async def main() -> Message | None:
        sender, receiver = anyio.create_memory_object_stream[Message](math.inf)
        sender.send_nowait({"type": "http.request", "body": b"x"})
        with sender, receiver:
            return await receive_nowait(receiver.receive)

    assert anyio.run(main) == {"type": "http.request", "body": b"x"}


def test_receive_nowait_returns_none_without_waiting_when_nothing_is_ready() -> None:
    async def never() -> Message:
        await anyio.sleep(60)
        raise AssertionError("receive_nowait waited")

    async def main() -> Message | None:
        with anyio.fail_after(1):
            return await receive_nowait(never)

    assert anyio.run(main) is None


def test_receive_nowait_raises_the_receive_error_unwrapped() -> None:
    async def broken() -> Message:
        raise RuntimeError("channel closed")

    async def main() -> None:
        await receive_nowait(broken)

    with pytest.raises(RuntimeError, match="channel closed"):
        anyio.run(main)


def test_run_until_disconnect_cancels_the_work_when_the_client_leaves() -> None:
    steps: list[str] = []

    async def receive() -> Message:
        if not steps:
            return {"type": "http.request", "body": b"unread", "more_body": False}
        return {"type": "http.disconnect"}

    async def work() -> None:
        steps.append("started")
        try:
            await anyio.sleep(60)
        finally:
            steps.append("cancelled")

    async def main() -> None:
        with anyio.fail_after(2):
            await run_until_disconnect({}, receive, work)

    anyio.run(main)
    assert steps == ["started", "cancelled"]


def test_run_until_disconnect_stops_watching_once_the_work_is_done() -> None:
    async def receive() -> Message:
        await anyio.sleep(60)
        raise AssertionError("still watching")

    done: list[bool] = []

    async def work() -> None:
        await anyio.sleep(0.01)  # waits: the watcher starts
        done.append(True)

    async def main() -> None:
        with anyio.fail_after(2):
            await run_until_disconnect({}, receive, work)

    anyio.run(main)
    assert done == [True]


def test_run_until_disconnect_raises_the_works_error_unwrapped() -> None:
    async def receive() -> Message:
        await anyio.sleep(60)
        raise AssertionError("unreachable")

    async def work() -> None:
        raise TypeError("bad chunk")

    async def main() -> None:
        await run_until_disconnect({}, receive, work)

    with pytest.raises(TypeError, match="bad chunk"):
        anyio.run(main)


def test_run_until_disconnect_raises_the_receive_error_unwrapped() -> None:
    async def receive() -> Message:
        raise RuntimeError("receive broke")

    async def work() -> None:
        await anyio.sleep(60)

    async def main() -> None:
        with anyio.fail_after(2):
            await run_until_disconnect({}, receive, work)

    with pytest.raises(RuntimeError, match="receive broke"):
        anyio.run(main)


def test_run_until_disconnect_never_reads_receive_for_work_that_never_waits() -> None:
    async def receive() -> Message:
        raise AssertionError("the work never waited, so nobody had to watch")

    sent: list[int] = []

    async def work() -> None:
        for chunk in range(10):
            sent.append(chunk)

    async def main() -> None:
        await run_until_disconnect({}, receive, work)
        await anyio.sleep(0.01)  # the loop runs again: nothing was left scheduled

    anyio.run(main)
    assert sent == list(range(10))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_until_disconnect_on_every_backend(backend: str) -> None:
    steps: list[str] = []

    async def receive() -> Message:
        await anyio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def work() -> None:
        steps.append("started")
        try:
            await anyio.sleep(60)
        finally:
            steps.append("cancelled by the disconnect")

    async def main() -> None:
        with anyio.fail_after(5):
            await run_until_disconnect({}, receive, work)

    anyio.run(main, backend=backend)
    assert steps == ["started", "cancelled by the disconnect"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_until_disconnect_raises_the_works_error_on_every_backend(backend: str) -> None:
    async def receive() -> Message:
        await anyio.sleep(60)
        raise AssertionError("unreachable")

    async def work() -> None:
        raise LookupError("the work's own error")

    with pytest.raises(LookupError, match="own error"):
        anyio.run(run_until_disconnect, {}, receive, work, backend=backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_until_disconnect_skips_body_messages_and_stops_when_done(backend: str) -> None:
    messages: list[Message] = [{"type": "http.request", "body": b"rest", "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await anyio.sleep(60)
        raise AssertionError("unreachable")  # pragma: no cover

    async def work() -> None:
        await anyio.sleep(0.01)  # the watcher reads (and drops) the body message meanwhile

    anyio.run(run_until_disconnect, {}, receive, work, backend=backend)
    assert messages == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_until_disconnect_raises_a_receive_error_on_every_backend(backend: str) -> None:
    async def receive() -> Message:
        raise ConnectionError("receive broke")

    async def work() -> None:
        await anyio.sleep(60)

    with pytest.raises(ConnectionError, match="receive broke"):
        anyio.run(run_until_disconnect, {}, receive, work, backend=backend)


def test_the_cached_cancel_scope_class_builds_working_anyio_scopes() -> None:
    from microasgi import _concurrency

    async def main() -> bool:
        scope = _concurrency._asyncio_cancel_scope()
        assert isinstance(scope, anyio.CancelScope)
        with scope:
            scope.cancel()
            await anyio.sleep(60)
        return scope.cancelled_caught

    assert anyio.run(main) is True


def test_the_cancel_scope_falls_back_to_anyios_constructor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from microasgi import _concurrency

    class Unbuildable:
        def __init__(self) -> None:
            raise TypeError("not like this")

    def public_constructor() -> Unbuildable:
        return object.__new__(Unbuildable)

    monkeypatch.setattr(anyio, "CancelScope", public_constructor)
    monkeypatch.setattr(_concurrency, "_cancel_scope_factory", None)
    assert isinstance(_concurrency._asyncio_cancel_scope(), Unbuildable)
    assert _concurrency._cancel_scope_factory is public_constructor  # type: ignore[comparison-overlap]
