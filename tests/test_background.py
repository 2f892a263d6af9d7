"""Background tasks: BackgroundTask and BackgroundTasks, alone and after a response."""

import functools
import threading

import anyio
import anyio.lowlevel
import pytest

from microasgi import App, BackgroundTask, BackgroundTasks, PlainTextResponse
from microasgi.testclient import TestClient


def test_sync_task_runs_in_a_worker_thread_with_its_arguments() -> None:
    calls: list[tuple[str, int, int]] = []

    def record(name: str, *, count: int) -> None:
        calls.append((name, count, threading.get_ident()))

    task = BackgroundTask(record, "email", count=2)
    anyio.run(task)
    assert calls[0][:2] == ("email", 2)
    assert calls[0][2] != threading.get_ident()


def test_async_task_is_awaited_on_the_event_loop() -> None:
    calls: list[tuple[str, int]] = []

    async def record(name: str) -> None:
        await anyio.lowlevel.checkpoint()
        calls.append((name, threading.get_ident()))

    anyio.run(BackgroundTask(record, "audit"))
    assert calls == [("audit", threading.get_ident())]


def test_object_with_async_call_counts_as_async() -> None:
    class Notifier:
        def __init__(self) -> None:
            self.threads: list[int] = []

        async def __call__(self) -> None:
            self.threads.append(threading.get_ident())

    notifier = Notifier()
    task = BackgroundTask(notifier)
    assert task.is_async
    anyio.run(task)
    assert notifier.threads == [threading.get_ident()]


def test_partial_of_an_async_function_counts_as_async() -> None:
    seen: list[int] = []

    async def record(value: int) -> None:
        seen.append(value)

    task = BackgroundTask(functools.partial(record, 7))
    assert task.is_async
    anyio.run(task)
    assert seen == [7]


def test_background_tasks_run_in_the_order_added_mixing_sync_and_async() -> None:
    order: list[str] = []

    async def first() -> None:
        order.append("first")

    def second(label: str) -> None:
        order.append(label)

    async def third() -> None:
        order.append("third")

    tasks = BackgroundTasks([BackgroundTask(first)])
    tasks.add_task(second, "second")
    tasks.add_task(third)
    anyio.run(tasks)
    assert order == ["first", "second", "third"]


def test_background_tasks_stop_at_the_first_failing_task() -> None:
    order: list[str] = []

    def fail() -> None:
        raise RuntimeError("smtp down")

    tasks = BackgroundTasks()
    tasks.add_task(order.append, "before")
    tasks.add_task(fail)
    tasks.add_task(order.append, "after")
    with pytest.raises(RuntimeError, match="smtp down"):
        anyio.run(tasks)
    assert order == ["before"]


def test_empty_background_tasks_do_nothing() -> None:
    anyio.run(BackgroundTasks())


def test_background_tasks_run_after_the_app_has_answered() -> None:
    app = App()
    log: list[str] = []

    @app.post("/signup")
    async def signup() -> PlainTextResponse:
        tasks = BackgroundTasks()
        tasks.add_task(log.append, "welcome email")
        tasks.add_task(log.append, "audit")
        log.append("endpoint")
        return PlainTextResponse("created", status_code=201, background=tasks)

    with TestClient(app) as client:
        response = client.post("/signup")
    assert response.status_code == 201
    assert response.text == "created"
    assert log == ["endpoint", "welcome email", "audit"]
