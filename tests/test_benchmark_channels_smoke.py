"""benchmarks/channels.py in its smoke mode: tiny counts, every row delivered, exit 0.

It runs as a subprocess, as a human runs it. The Redis rows are expected wherever the Redis
tests run (redis-server installed, or CI, where check.sh installs it)."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.redis_server import under_ci

ROOT = Path(__file__).resolve().parent.parent


def test_the_channels_benchmark_reports_every_row() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "channels.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    rows = [line.split("|")[1:3] for line in completed.stdout.splitlines() if line[:2] == "| "]
    labels = [(backend.strip(), subscribers.strip()) for backend, subscribers in rows[1:]]
    backends = ["memory", "redis"] if shutil.which("redis-server") or under_ci() else ["memory"]
    expected = [(name, count) for name in backends for count in ("1", "10", "100")]
    assert labels == expected, output
