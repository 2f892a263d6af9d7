"""The channels benchmark: messages per second and delivery latency of microasgi.channels,
with 1, 10 and 100 subscribers, on the memory and the Redis backends. It reports figures;
it judges nothing.

    python benchmarks/channels.py                    # both backends (~30 s)
    python benchmarks/channels.py --backend memory   # one backend
    python benchmarks/channels.py --redis-url redis://127.0.0.1:6379/0   # an existing Redis
    python benchmarks/channels.py --smoke            # tiny counts: delivery checked, no figures

Without --redis-url it starts its own redis-server (127.0.0.1, a free port, no persistence, a
temp dir) and stops it by its PID; without redis-server installed the Redis rows are left out.

Two measures per row, all in one process (publisher and subscribers share the event loop,
and with Redis one pub/sub connection, as in one worker):

- throughput: one task publishes N messages back to back (each ``await publish``); the
  clock stops when every subscriber has received all N. msg/s is N over that time;
  deliveries/s multiplies by the subscribers.
- latency: one message at a time, the next published once every subscriber has the previous
  one; a delivery's latency runs from just before ``publish`` to its subscriber's wake-up.
"""

import argparse
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from microasgi.channels import Channels, Subscription  # noqa: E402 - after the path setup

SUBSCRIBERS = (1, 10, 100)
REDIS_START_TIMEOUT = 10.0
RUN_TIMEOUT = 120.0


@dataclass(frozen=True)
class Settings:
    messages: int  # per throughput round
    rounds: int  # throughput rounds; the median is reported
    samples: int  # paced messages for the latency


FULL = Settings(messages=5000, rounds=3, samples=300)
SMOKE = Settings(messages=20, rounds=1, samples=5)


@dataclass(frozen=True)
class Row:
    backend: str
    subscribers: int
    messages_per_second: float
    latencies_ns: list[int]

    def cells(self) -> list[str]:
        p50, p99 = percentile(self.latencies_ns, 50), percentile(self.latencies_ns, 99)
        return [
            self.backend,
            str(self.subscribers),
            f"{self.messages_per_second:,.0f}",
            f"{self.messages_per_second * self.subscribers:,.0f}",
            f"{p50 / 1000:,.0f}",
            f"{p99 / 1000:,.0f}",
        ]


def percentile(values: list[int], rank: float) -> float:
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


async def throughput(channels: Channels, subscribers: int, messages: int, channel: str) -> float:
    """Messages per second: N published back to back, until every subscriber has them all."""
    finished = 0
    all_done = anyio.Event()

    async def reader(subscription: Subscription) -> None:
        nonlocal finished
        for _ in range(messages):
            await anext(subscription)
        finished += 1
        if finished == subscribers:
            all_done.set()

    async with anyio.create_task_group() as task_group:
        for _ in range(subscribers):
            subscription = await task_group.start(subscribe, channels, channel, messages)
            task_group.start_soon(reader, subscription)
        payload = str(time.perf_counter_ns())
        started = time.perf_counter()
        for _ in range(messages):
            await channels.publish(channel, payload)
        await all_done.wait()
        elapsed = time.perf_counter() - started
        task_group.cancel_scope.cancel()
    return messages / elapsed


async def subscribe(
    channels: Channels,
    channel: str,
    queue_size: int,
    *,
    task_status: anyio.abc.TaskStatus[Subscription],
) -> None:
    """Hold a subscription (big enough to drop nothing) until cancelled."""
    async with channels.subscribe(channel, queue_size=queue_size, policy="disconnect") as sub:
        task_status.started(sub)
        await anyio.sleep_forever()


async def latency(channels: Channels, subscribers: int, samples: int, channel: str) -> list[int]:
    """Nanoseconds from publish to each subscriber's wake-up, one message at a time."""
    latencies: list[int] = []
    arrived = 0
    everyone = anyio.Event()

    async def reader(subscription: Subscription) -> None:
        nonlocal arrived, everyone
        async for message in subscription:
            latencies.append(time.perf_counter_ns() - int(message))
            arrived += 1
            if arrived == subscribers:
                everyone.set()

    async with anyio.create_task_group() as task_group:
        for _ in range(subscribers):
            subscription = await task_group.start(subscribe, channels, channel, 10)
            task_group.start_soon(reader, subscription)
        for _ in range(samples):
            arrived, everyone = 0, anyio.Event()
            await channels.publish(channel, str(time.perf_counter_ns()))
            await everyone.wait()
        task_group.cancel_scope.cancel()
    return latencies


async def measure(url: str, backend: str, settings: Settings) -> list[Row]:
    rows = []
    async with Channels(url) as channels:
        for subscribers in SUBSCRIBERS:
            channel = f"bench-{subscribers}"
            with anyio.fail_after(RUN_TIMEOUT):
                rates = [
                    await throughput(channels, subscribers, settings.messages, channel)
                    for _ in range(settings.rounds)
                ]
                latencies = await latency(channels, subscribers, settings.samples, channel)
            assert len(latencies) == settings.samples * subscribers, "a message was lost"
            assert channels.dropped == 0, f"{channels.dropped} messages dropped"
            rows.append(Row(backend, subscribers, statistics.median(rates), latencies))
    return rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def own_redis_server(binary: str) -> Iterator[str]:
    """A redis-server of the benchmark's own; yields its URL, stops it by its PID."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="microasgi-bench-redis-") as directory:
        command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        command += ["--appendonly", "no", "--dir", directory, "--logfile", ""]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + REDIS_START_TIMEOUT
            while not _answers_ping(port):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def table(rows: list[Row]) -> str:
    header = ["backend", "subscribers", "msg/s", "deliveries/s", "p50 µs", "p99 µs"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def machine_summary() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    return f"machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny counts; checks delivery")
    parser.add_argument("--backend", choices=["memory", "redis", "both"], default="both")
    parser.add_argument("--redis-url", help="an existing Redis (default: start redis-server)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = SMOKE if arguments.smoke else FULL
    rows: list[Row] = []
    notes: list[str] = []
    if arguments.backend in ("memory", "both"):
        rows += anyio.run(measure, "memory://", "memory", settings)
    if arguments.backend in ("redis", "both"):
        if arguments.redis_url:
            rows += anyio.run(measure, arguments.redis_url, "redis", settings)
        elif (binary := shutil.which("redis-server")) is not None:
            with own_redis_server(binary) as url:
                rows += anyio.run(measure, url, "redis", settings)
        else:
            notes.append("redis-server is not installed: no Redis rows")
    mode = "smoke (delivery checked, figures meaningless)" if arguments.smoke else "full"
    print(f"microasgi.channels benchmark, {mode}")
    print(machine_summary())
    print(
        f"{settings.messages} messages per throughput round (median of {settings.rounds}),"
        f" {settings.samples} paced messages for the latency\n"
    )
    print(table(rows))
    for note in notes:
        print(f"\nnote: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
