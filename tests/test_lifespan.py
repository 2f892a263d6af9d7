"""lifespan_context and serve_lifespan: raw protocol first, then through App and TestClient."""

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import pytest

from microasgi import App, Request, WebSocket
from microasgi.lifespan import lifespan_context, serve_lifespan
from microasgi.testclient import TestClient
from microasgi.types import Message, Scope

STARTUP: Message = {"type": "lifespan.startup"}
SHUTDOWN: Message = {"type": "lifespan.shutdown"}

Context = Callable[[], AbstractAsyncContextManager[dict[str, Any]]]


def serve(context: Context, *inbox: Message, scope: Scope | None = None) -> list[Message]:
    """Run serve_lifespan with a scripted receive; return what it sent."""
    messages = list(inbox)
    sent: list[Message] = []
    if scope is None:
        scope = {"type": "lifespan", "state": {}}

    async def receive() -> Message:
        if not messages:
            raise AssertionError("serve_lifespan received more messages than the test scripted.")
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        await serve_lifespan(context, scope, receive, send)

    anyio.run(main)
    return sent


def recording_lifespan(log: list[str], name: str, state: dict[str, Any] | None = None) -> Any:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, Any] | None]:
        log.append(f"{name} up")
        yield state
        log.append(f"{name} down")

    return lifespan


def child(log: list[str], name: str, state: dict[str, Any] | None = None) -> Context:
    def context() -> AbstractAsyncContextManager[dict[str, Any]]:
        return lifespan_context(None, recording_lifespan(log, name, state), [], [])

    return context


def enter_and_exit(context: AbstractAsyncContextManager[dict[str, Any]]) -> dict[str, Any]:
    states: list[dict[str, Any]] = []

    async def main() -> None:
        async with context as state:
            states.append(state)

    anyio.run(main)
    return states[0]


# -- lifespan_context -----------------------------------------------------------------------


def test_context_runs_hooks_lifespan_and_children_in_order_and_unwinds_in_reverse() -> None:
    log: list[str] = []

    async def async_up() -> None:
        log.append("async startup")

    def sync_down() -> None:
        log.append("sync shutdown")

    context = lifespan_context(
        "app",
        recording_lifespan(log, "own"),
        [lambda: log.append("sync startup"), async_up],
        [sync_down],
        [child(log, "first"), child(log, "second")],
    )
    enter_and_exit(context)
    assert log == [
        "sync startup",
        "async startup",
        "own up",
        "first up",
        "second up",
        "second down",
        "first down",
        "own down",
        "sync shutdown",
    ]


def test_context_passes_the_app_to_the_lifespan_factory() -> None:
    seen: list[Any] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        seen.append(app)
        yield

    enter_and_exit(lifespan_context("the app", lifespan, [], []))
    assert seen == ["the app"]


def test_sync_hooks_run_in_a_worker_thread() -> None:
    threads: list[int] = []
    enter_and_exit(
        lifespan_context(None, None, [lambda: threads.append(threading.get_ident())], [])
    )
    assert threads
    assert threads[0] != threading.get_ident()


def test_context_merges_children_state_and_own_state_wins() -> None:
    log: list[str] = []
    context = lifespan_context(
        None,
        recording_lifespan(log, "own", {"db": "own", "cache": "own"}),
        [],
        [],
        [child(log, "a", {"db": "a", "queue": "a"}), child(log, "b", {"queue": "b"})],
    )
    assert enter_and_exit(context) == {"db": "own", "cache": "own", "queue": "b"}


def test_context_without_lifespan_yields_empty_state() -> None:
    assert enter_and_exit(lifespan_context(None, None, [], [])) == {}


def test_context_yielding_none_gives_empty_state() -> None:
    assert enter_and_exit(lifespan_context(None, recording_lifespan([], "own"), [], [])) == {}


def test_context_rejects_a_lifespan_yielding_a_non_mapping() -> None:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        yield ["not", "a", "mapping"]

    with pytest.raises(TypeError, match=r"must yield a mapping .* or None, got list"):
        enter_and_exit(lifespan_context(None, lifespan, [], []))


def test_failing_startup_hook_stops_before_the_lifespan_and_skips_shutdown_hooks() -> None:
    log: list[str] = []

    def fail() -> None:
        raise OSError("no database")

    context = lifespan_context(
        None, recording_lifespan(log, "own"), [fail], [lambda: log.append("shutdown")]
    )
    with pytest.raises(OSError, match="no database"):
        enter_and_exit(context)
    assert log == []


def test_failing_child_unwinds_what_was_entered() -> None:
    log: list[str] = []

    def broken() -> AbstractAsyncContextManager[dict[str, Any]]:
        raise LookupError("child broke")

    context = lifespan_context(
        None, recording_lifespan(log, "own"), [], [lambda: log.append("shutdown")], [broken]
    )
    with pytest.raises(LookupError):
        enter_and_exit(context)
    assert log == ["own up", "shutdown"]


# -- serve_lifespan -------------------------------------------------------------------------


def test_serve_answers_startup_and_shutdown() -> None:
    log: list[str] = []

    def context() -> AbstractAsyncContextManager[dict[str, Any]]:
        return lifespan_context(None, recording_lifespan(log, "own"), [], [])

    sent = serve(context, STARTUP, SHUTDOWN)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert log == ["own up", "own down"]


def test_serve_puts_the_yielded_state_into_the_scope() -> None:
    scope: Scope = {"type": "lifespan", "state": {"server": True}}

    def context() -> AbstractAsyncContextManager[dict[str, Any]]:
        return lifespan_context(None, recording_lifespan([], "own", {"pool": "P"}), [], [])

    serve(context, STARTUP, SHUTDOWN, scope=scope)
    assert scope["state"] == {"server": True, "pool": "P"}


def test_serve_reports_state_the_server_cannot_carry_and_exits_the_lifespan() -> None:
    log: list[str] = []

    def context() -> AbstractAsyncContextManager[dict[str, Any]]:
        return lifespan_context(None, recording_lifespan(log, "own", {"pool": "P"}), [], [])

    sent = serve(context, STARTUP, scope={"type": "lifespan"})
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "does not support lifespan state" in sent[0]["message"]
    assert log == ["own up"]  # the generator got the error: code after yield does not run


def test_serve_accepts_empty_state_from_a_server_without_state() -> None:
    sent = serve(lambda: lifespan_context(None, None, [], []), STARTUP, SHUTDOWN, scope={})
    assert sent[0] == {"type": "lifespan.startup.complete"}


def test_serve_reports_an_error_while_unwinding_unsupported_state() -> None:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"pool": "P"}
        finally:
            raise OSError("close failed")

    sent = serve(lambda: lifespan_context(None, lifespan, [], []), STARTUP, scope={})
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "OSError: close failed" in sent[0]["message"]


def test_serve_sends_startup_failed_with_the_error_text_and_does_not_raise() -> None:
    def fail() -> None:
        raise OSError("no database")

    sent = serve(lambda: lifespan_context(None, None, [fail], []), STARTUP)
    assert len(sent) == 1
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "OSError: no database" in sent[0]["message"]


def test_serve_sends_shutdown_failed_with_the_error_text() -> None:
    def fail() -> None:
        raise OSError("flush failed")

    sent = serve(lambda: lifespan_context(None, None, [], [fail]), STARTUP, SHUTDOWN)
    assert sent[0] == {"type": "lifespan.startup.complete"}
    assert sent[1]["type"] == "lifespan.shutdown.failed"
    assert "OSError: flush failed" in sent[1]["message"]


@pytest.mark.parametrize(
    ("inbox", "phase", "got"),
    [
        ([SHUTDOWN], "WAITING", "'lifespan.shutdown'"),
        ([STARTUP, STARTUP], "STARTED", "'lifespan.startup'"),
    ],
)
def test_serve_rejects_messages_out_of_order(inbox: list[Message], phase: str, got: str) -> None:
    with pytest.raises(RuntimeError, match=f"Unexpected {got} in lifespan phase {phase}"):
        serve(lambda: lifespan_context(None, None, [], []), *inbox)


def test_serve_keeps_a_task_group_opened_in_the_lifespan_valid() -> None:
    # Entering and exiting in one task is what anyio's cancel scopes require.
    ticks: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with anyio.create_task_group() as task_group:

            async def background() -> None:
                ticks.append("started")
                await anyio.sleep_forever()

            task_group.start_soon(background)
            yield
            task_group.cancel_scope.cancel()

    sent = serve(lambda: lifespan_context(None, lifespan, [], []), STARTUP, SHUTDOWN)
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert ticks == ["started"]


# -- through App and TestClient -------------------------------------------------------------


class Pool:
    """Stands in for a database connection pool."""

    def __init__(self) -> None:
        self.open = True
        self.queries = 0


def test_pool_from_lifespan_is_request_and_websocket_state_and_closes_after_use() -> None:
    pools: list[Pool] = []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        pool = Pool()
        pools.append(pool)
        yield {"pool": pool}
        pool.open = False

    app = App(lifespan=lifespan)

    @app.get("/")
    async def home(request: Request) -> dict[str, Any]:
        request.state.pool.queries += 1
        return {"open": request.state.pool.open}

    @app.websocket("/ws")
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"open": websocket.state.pool.open})

    with TestClient(app) as client:
        assert client.get("/").json() == {"open": True}
        with client.websocket_connect("/ws") as session:
            assert session.receive_json() == {"open": True}
        assert pools[0].open
    assert pools[0].queries == 1
    assert not pools[0].open


def test_state_is_a_shallow_copy_per_connection() -> None:
    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"shared": []}

    app = App(lifespan=lifespan)

    @app.get("/")
    async def home(request: Request) -> dict[str, Any]:
        first_visit = not hasattr(request.state, "mine")
        request.state.mine = True
        request.state.shared.append(1)
        return {"first": first_visit, "shared": len(request.state.shared)}

    with TestClient(app) as client:
        assert client.get("/").json() == {"first": True, "shared": 1}
        assert client.get("/").json() == {"first": True, "shared": 2}


def test_app_startup_and_shutdown_decorators_run_around_the_client_block() -> None:
    log: list[str] = []
    app = App(on_startup=[lambda: log.append("listed startup")])

    @app.on_startup
    async def started() -> None:
        log.append("decorated startup")

    @app.on_shutdown
    def stopped() -> None:
        log.append("decorated shutdown")

    with TestClient(app):
        assert log == ["listed startup", "decorated startup"]
    assert log[-1] == "decorated shutdown"


def test_mounted_app_lifespans_run_in_mount_order() -> None:
    log: list[str] = []
    outer = App(lifespan=recording_lifespan(log, "outer"))
    outer.mount("/a", App(lifespan=recording_lifespan(log, "a", {"from_a": 1})))
    outer.mount("/b", App(on_startup=[lambda: log.append("b startup")]))

    @outer.get("/")
    async def home(request: Request) -> dict[str, Any]:
        return {"from_a": request.state.from_a}

    with TestClient(outer) as client:
        assert client.get("/").json() == {"from_a": 1}
    assert log == ["outer up", "a up", "b startup", "a down", "outer down"]


def test_app_startup_failure_reaches_the_test_with_the_error_text() -> None:
    def fail() -> None:
        raise OSError("no database")

    client = TestClient(App(on_startup=[fail]))
    with pytest.raises(RuntimeError, match="no database"), client:
        pass


def test_app_shutdown_failure_reaches_the_test_with_the_error_text() -> None:
    def fail() -> None:
        raise OSError("flush failed")

    client = TestClient(App(on_shutdown=[fail]))
    with pytest.raises(RuntimeError, match="flush failed"), client:
        pass


def test_app_serves_without_any_lifespan_events() -> None:
    # A server run with lifespan off sends no lifespan scope: hooks never run, state is empty.
    log: list[str] = []
    app = App(on_startup=[lambda: log.append("startup")])

    @app.get("/")
    async def home(request: Request) -> dict[str, Any]:
        return {"state": sorted(request.scope.get("state", {}))}

    assert TestClient(app).get("/").json() == {"state": []}
    assert log == []
