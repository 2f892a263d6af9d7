"""The in-process harness: ``await app(scope, receive, send)`` in a tight loop.

Scopes are shaped like uvicorn's (HTTP ``spec_version`` "2.3", websocket "2.4") and are
built fresh for every call, before the clock starts, so that no framework profits from a
scope another call already filled in. Every (app, scenario) pair is checked once for its
status and body before it is timed; frameworks are interleaved within each round, and the
median over the short timed chunks of all rounds is reported. The loop is plain asyncio
(no uvloop), so the numbers measure the framework rather than the event loop.
"""

import asyncio
import gc
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from benchmarks.apps import (
    FILE_SIZE,
    FRAMEWORKS,
    PLAINTEXT,
    ROUTE_COUNTS,
    STREAM_CHUNK,
    STREAM_CHUNK_COUNT,
    AppUnavailable,
    Framework,
    build_app,
    user_payload,
)
from microasgi.types import ASGIApp, Message, Receive, Scope

# Ids vary across this many values, in a shuffled order, so no path cache can help.
ID_COUNT = 5000
WEBSOCKET_MESSAGES = 100
WEBSOCKET_TEXT = "ping " * 6
CALL_TIMEOUT = 10.0

_IDS = list(range(1, ID_COUNT + 1))
random.Random(20240501).shuffle(_IDS)
ECHO_PAYLOAD = {
    "items": [{"id": index, "name": f"item-{index:03d}", "tags": ["a", "b"]} for index in range(24)]
}
ECHO_BODY = json.dumps(ECHO_PAYLOAD, separators=(",", ":")).encode()


# Scopes and channels --------------------------------------------------------------------


def http_scope(method: str, path: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> Scope:
    """A fresh HTTP scope with the keys and shapes uvicorn (httptools) sends."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 52000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench/1.0"),
            (b"accept", b"*/*"),
            *headers,
        ],
        "state": {},
    }


def websocket_scope(path: str) -> Scope:
    """A fresh websocket scope with the keys and shapes uvicorn sends."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 52000),
        "scheme": "ws",
        "root_path": "",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        "subprotocols": [],
        "state": {},
    }


class HTTPChannel:
    """receive() for one request: the body once, then wait like a server whose client stays."""

    __slots__ = ("_body", "_delivered")

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._delivered = False

    async def receive(self) -> Message:
        if not self._delivered:
            self._delivered = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        # A disconnect watcher parks here until the app cancels it after the response.
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        return await waiter


class WebSocketChannel:
    """receive() for one connection: connect, ``count`` text messages, then disconnect."""

    __slots__ = ("_count", "_index")

    def __init__(self, count: int) -> None:
        self._count = count
        self._index = 0

    async def receive(self) -> Message:
        index = self._index
        self._index = index + 1
        if index == 0:
            return {"type": "websocket.connect"}
        if index <= self._count:
            return {"type": "websocket.receive", "text": WEBSOCKET_TEXT}
        return {"type": "websocket.disconnect", "code": 1000, "reason": ""}


async def _discard(message: Message) -> None:
    return None


# Scenarios ------------------------------------------------------------------------------

Call = tuple[Scope, Receive]


@dataclass(frozen=True)
class Scenario:
    """One row of the table: how to build its i-th call and what a correct answer is.

    ``check(call_index, status, body)`` returns an error text, or None when an HTTP answer
    is right (websocket answers are checked by ``_check_websocket``). ``units_per_call``
    is how many measured units (messages) one call holds. Scenarios of one ``group`` are
    timed interleaved, because the targets compare them with each other.
    """

    key: str
    label: str
    app_key: str
    make_call: Callable[[int], Call]
    check: Callable[[int, int, bytes], str | None] | None = None
    kind: Literal["http", "websocket"] = "http"
    units_per_call: int = 1
    group: str | None = None


def _get(path_of: Callable[[int], str]) -> Callable[[int], Call]:
    def make_call(index: int) -> Call:
        return http_scope("GET", path_of(index)), HTTPChannel(b"").receive

    return make_call


def _expect_bytes(expected: bytes) -> Callable[[int, int, bytes], str | None]:
    def check(index: int, status: int, body: bytes) -> str | None:
        if status != 200 or body != expected:
            return f"expected 200 {expected[:40]!r}..., got {status} {body[:60]!r}"
        return None

    return check


def _expect_json(expected_of: Callable[[int], object]) -> Callable[[int, int, bytes], str | None]:
    def check(index: int, status: int, body: bytes) -> str | None:
        expected = expected_of(index)
        try:
            received = json.loads(body)
        except ValueError:
            received = None
        if status != 200 or received != expected:
            return f"expected 200 {expected!r:.60}, got {status} {body[:60]!r}"
        return None

    return check


def _expect_item_id(index: int, status: int, body: bytes) -> str | None:
    expected = str(_IDS[index % ID_COUNT]).encode()
    if status != 200 or body != expected:
        return f"expected 200 {expected!r}, got {status} {body[:60]!r}"
    return None


def _route_scenario(count: int, which: Literal["first", "last"]) -> Scenario:
    # Routes are registered /r0 ... /r{count-1}: the last one is what a linear scan reaches last.
    route_index = 0 if which == "first" else count - 1
    return Scenario(
        key=f"routes{count}_{which}",
        label=f"{which} of {count:,} routes",
        app_key=f"routes{count}",
        make_call=_get(lambda index: f"/r{route_index}/{_IDS[index % ID_COUNT]}"),
        check=_expect_item_id,
        group=f"routes{count}",
    )


def _echo_call(index: int) -> Call:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(ECHO_BODY)).encode()),
    ]
    return http_scope("POST", "/echo", headers), HTTPChannel(ECHO_BODY).receive


def _query_call(index: int) -> Call:
    scope = http_scope("GET", "/items")
    scope["query_string"] = f"page={_IDS[index % ID_COUNT]}".encode()
    return scope, HTTPChannel(b"").receive


def _expect_page(index: int, status: int, body: bytes) -> str | None:
    return _expect_item_id(index, status, body)


def _websocket_call(index: int) -> Call:
    return websocket_scope("/ws"), WebSocketChannel(WEBSOCKET_MESSAGES).receive


def build_scenarios(file_path: Path) -> list[Scenario]:
    """Every in-process scenario, in table order. ``file_path`` holds the 1 MB download."""
    file_body = file_path.read_bytes()
    plaintext = _expect_bytes(PLAINTEXT)
    scenarios = [
        Scenario(
            "plaintext",
            "plaintext GET /",
            "plaintext",
            _get(lambda _: "/"),
            plaintext,
            group="plaintext",
        ),
        Scenario(
            "json",
            "JSON GET /users/{id:int}",
            "json",
            _get(lambda index: f"/users/{_IDS[index % ID_COUNT]}"),
            _expect_json(lambda index: user_payload(_IDS[index % ID_COUNT])),
        ),
        Scenario(
            "echo",
            "POST 1 KB JSON echo",
            "echo",
            _echo_call,
            _expect_json(lambda _: ECHO_PAYLOAD),
        ),
    ]
    for count in ROUTE_COUNTS:
        scenarios += [_route_scenario(count, "first"), _route_scenario(count, "last")]
    scenarios += [
        Scenario(
            "asgi_middleware",
            "plaintext + 3 ASGI middlewares",
            "asgi_middleware",
            _get(lambda _: "/"),
            plaintext,
            group="plaintext",
        ),
        Scenario(
            "function_middleware",
            "plaintext + 1 function middleware",
            "function_middleware",
            _get(lambda _: "/"),
            plaintext,
            group="plaintext",
        ),
        Scenario(
            "streaming",
            f"streaming {STREAM_CHUNK_COUNT} x 1 KB",
            "streaming",
            _get(lambda _: "/stream"),
            _expect_bytes(STREAM_CHUNK * STREAM_CHUNK_COUNT),
        ),
        Scenario(
            "websocket",
            "websocket echo (per message)",
            "websocket",
            _websocket_call,
            kind="websocket",
            units_per_call=WEBSOCKET_MESSAGES,
        ),
        Scenario(
            "plaintext_request",
            "plaintext GET / (request style)",
            "plaintext_request",
            _get(lambda _: "/"),
            plaintext,
            group="plaintext",
        ),
        Scenario(
            "json_request",
            "JSON GET /users/{id:int} (request style)",
            "json_request",
            _get(lambda index: f"/users/{_IDS[index % ID_COUNT]}"),
            _expect_json(lambda index: user_payload(_IDS[index % ID_COUNT])),
        ),
        Scenario(
            "function_middleware_request",
            "plaintext + 1 function middleware (request style)",
            "function_middleware_request",
            _get(lambda _: "/"),
            plaintext,
            group="plaintext",
        ),
        Scenario(
            "streaming_request",
            f"streaming {STREAM_CHUNK_COUNT} x 1 KB (request style)",
            "streaming_request",
            _get(lambda _: "/stream"),
            _expect_bytes(STREAM_CHUNK * STREAM_CHUNK_COUNT),
        ),
        Scenario(
            "query_read",
            "query ?page=N read from request.query_params",
            "query_read",
            _query_call,
            _expect_page,
            group="query",
        ),
        Scenario(
            "query_typed",
            "query ?page=N as a typed `page: int`",
            "query_typed",
            _query_call,
            _expect_page,
            group="query",
        ),
        Scenario(
            "file",
            f"file download {FILE_SIZE // (1024 * 1024)} MB",
            "file",
            _get(lambda _: "/file"),
            _expect_bytes(file_body),
        ),
    ]
    return scenarios


# Validation -----------------------------------------------------------------------------


async def _run_recorded(app: ASGIApp, call: Call) -> list[Message]:
    sent: list[Message] = []

    async def record(message: Message) -> None:
        sent.append(message)

    scope, receive = call
    async with asyncio.timeout(CALL_TIMEOUT):
        await app(scope, receive, record)
    return sent


def _check_http(scenario: Scenario, index: int, sent: list[Message]) -> str | None:
    if not sent or sent[0]["type"] != "http.response.start":
        return f"first message should be http.response.start, got {sent[:1]!r}"
    bodies = sent[1:]
    if any(message["type"] != "http.response.body" for message in bodies):
        return f"expected only http.response.body after the start, got {bodies!r:.200}"
    if not bodies or bodies[-1].get("more_body", False):
        return "the response never finished (no final more_body=False)"
    body = b"".join(message.get("body", b"") for message in bodies)
    if scenario.check is None:
        raise ValueError(f"Scenario {scenario.key!r} has no check for its HTTP answer.")
    return scenario.check(index, sent[0]["status"], body)


def _check_websocket(sent: list[Message]) -> str | None:
    if not sent or sent[0]["type"] != "websocket.accept":
        return f"first message should be websocket.accept, got {sent[:1]!r}"
    echoes = sent[1 : 1 + WEBSOCKET_MESSAGES]
    if len(echoes) != WEBSOCKET_MESSAGES or any(
        message["type"] != "websocket.send" or message.get("text") != WEBSOCKET_TEXT
        for message in echoes
    ):
        return f"expected {WEBSOCKET_MESSAGES} text echoes, got {echoes[:3]!r:.200}..."
    rest = sent[1 + WEBSOCKET_MESSAGES :]
    if any(message["type"] != "websocket.close" for message in rest):
        return f"unexpected messages after the echoes: {rest!r:.200}"
    return None


async def validate(app: ASGIApp, scenario: Scenario) -> str | None:
    """Run two calls with recorded sends; return what was wrong, or None."""
    for index in (0, 1):
        try:
            sent = await _run_recorded(app, scenario.make_call(index))
        except TimeoutError:
            return f"did not finish within {CALL_TIMEOUT:g} s"
        except Exception as exc:
            return f"raised {type(exc).__name__}: {exc}"
        if scenario.kind == "websocket":
            problem = _check_websocket(sent)
        else:
            problem = _check_http(scenario, index, sent)
        if problem is not None:
            return problem
    return None


# Timing ---------------------------------------------------------------------------------


async def time_chunk(app: ASGIApp, scenario: Scenario, first: int, size: int) -> float:
    """Seconds per unit (request or message) over ``size`` fresh calls, built beforehand."""
    batch = [scenario.make_call(index) for index in range(first, first + size)]
    async with asyncio.timeout(max(60.0, CALL_TIMEOUT * 2)):
        started = time.perf_counter_ns()
        for scope, receive in batch:
            await app(scope, receive, _discard)
        elapsed = time.perf_counter_ns() - started
    return elapsed / 1e9 / (size * scenario.units_per_call)


@dataclass
class Outcome:
    """One framework's result for one scenario: per-unit seconds per chunk, or why not."""

    samples: list[float] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None

    @property
    def microseconds(self) -> float | None:
        """The median over every timed chunk of every round, in µs per unit."""
        if self.skipped or self.error or not self.samples:
            return None
        return statistics.median(self.samples) * 1e6


Results = dict[str, dict[Framework, Outcome]]


@dataclass(frozen=True)
class Settings:
    """How long to time: ``rounds`` x ``chunks_per_round`` chunks of about
    ``seconds_per_chunk`` each, per framework and scenario (``min_calls`` calls at least)."""

    rounds: int
    chunks_per_round: int
    seconds_per_chunk: float
    min_calls: int
    frameworks: tuple[Framework, ...] = FRAMEWORKS


FULL = Settings(rounds=5, chunks_per_round=40, seconds_per_chunk=0.003, min_calls=1)
SMOKE = Settings(rounds=1, chunks_per_round=1, seconds_per_chunk=0.0, min_calls=3)


@dataclass
class _Contender:
    """One (scenario, framework) pair being timed, with its calls per chunk."""

    scenario: Scenario
    app: ASGIApp
    chunk: int
    outcome: Outcome


async def _prepare(
    scenario: Scenario, app: ASGIApp, settings: Settings, outcome: Outcome
) -> _Contender | None:
    """Check the answers, then size a chunk to the settings; None (error noted) if broken."""
    problem = await validate(app, scenario)
    if problem is not None:
        outcome.error = problem
        return None
    chunk = settings.min_calls
    if settings.seconds_per_chunk > 0:
        probe = max(1, 50 // scenario.units_per_call)
        try:
            per_call = await time_chunk(app, scenario, 0, probe) * scenario.units_per_call
        except Exception as exc:
            outcome.error = f"raised {type(exc).__name__} while timing: {exc}"
            return None
        fitting = int(settings.seconds_per_chunk / max(per_call, 1e-9))
        chunk = max(settings.min_calls, min(1000, fitting))
    return _Contender(scenario, app, chunk, outcome)


async def run_group(
    scenarios: Sequence[Scenario],
    file_path: Path,
    settings: Settings,
    app_cache: dict[tuple[Framework, str], ASGIApp | AppUnavailable],
) -> Results:
    """Time every framework on these scenarios, all interleaved chunk by chunk.

    Scenarios that are compared with each other (plaintext and the middleware ones, the
    first and last routes) share a group, so that a slow spell of the machine falls on
    all of them alike rather than on whichever ran during it.
    """
    results: Results = {}
    contenders: list[_Contender] = []
    for scenario in scenarios:
        results[scenario.key] = {}
        for framework in settings.frameworks:
            outcome = results[scenario.key][framework] = Outcome()
            cache_key = (framework, scenario.app_key)
            if cache_key not in app_cache:
                try:
                    app_cache[cache_key] = build_app(framework, scenario.app_key, file_path)
                except AppUnavailable as exc:
                    app_cache[cache_key] = exc
            app = app_cache[cache_key]
            if isinstance(app, AppUnavailable):
                outcome.skipped = str(app)
                continue
            contender = await _prepare(scenario, app, settings, outcome)
            if contender is not None:
                contenders.append(contender)
    chunks = settings.chunks_per_round
    for round_index in range(settings.rounds):
        gc.collect()
        for chunk_index in range(chunks):
            # Rotate the order every chunk so that none always runs first.
            shift = (round_index * chunks + chunk_index) % max(len(contenders), 1)
            for contender in contenders[shift:] + contenders[:shift]:
                if contender.outcome.error is not None:
                    continue
                first = (round_index * chunks + chunk_index) * contender.chunk
                try:
                    sample = await time_chunk(
                        contender.app, contender.scenario, first, contender.chunk
                    )
                except Exception as exc:
                    contender.outcome.error = f"raised {type(exc).__name__} while timing: {exc}"
                    continue
                contender.outcome.samples.append(sample)
    return results


async def run_all(
    scenarios: Sequence[Scenario],
    file_path: Path,
    settings: Settings,
    progress: Callable[[str], None] = lambda _: None,
) -> Results:
    """Run the scenarios group by group (groups in order of first appearance)."""
    app_cache: dict[tuple[Framework, str], ASGIApp | AppUnavailable] = {}
    groups: dict[str, list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(scenario.group or scenario.key, []).append(scenario)
    results: Results = {}
    for members in groups.values():
        progress(", ".join(scenario.label for scenario in members))
        results.update(await run_group(members, file_path, settings, app_cache))
    return results
