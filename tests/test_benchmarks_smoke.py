"""The benchmark harness's smoke mode: every scenario runs, answers are checked, exit 0.

It runs as a subprocess, as CI does (``python benchmarks/run.py --smoke``), so the harness
imports microasgi from this tree exactly as it does for a human.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every row the in-process table must hold, in order.
SCENARIO_LABELS = [
    "plaintext GET /",
    "JSON GET /users/{id:int}",
    "POST 1 KB JSON echo",
    "first of 10 routes",
    "last of 10 routes",
    "first of 100 routes",
    "last of 100 routes",
    "first of 1,000 routes",
    "last of 1,000 routes",
    "plaintext + 3 ASGI middlewares",
    "plaintext + 1 function middleware",
    "streaming 10 x 1 KB",
    "websocket echo (per message)",
    "plaintext GET / (request style)",
    "JSON GET /users/{id:int} (request style)",
    "plaintext + 1 function middleware (request style)",
    "streaming 10 x 1 KB (request style)",
    "query ?page=N read from request.query_params",
    "query ?page=N as a typed `page: int`",
    "file download 1 MB",
]


def _smoke(*arguments: str) -> tuple[subprocess.CompletedProcess[str], list[str], str]:
    """Run the smoke mode with ``arguments``: the process, its table's row labels, and
    everything it printed (for assertion messages)."""
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| ")]
    labels = [row.split("|")[1].strip() for row in rows[1:]]
    return completed, labels, completed.stdout + completed.stderr


def test_smoke_mode_checks_every_scenario_and_exits_zero() -> None:
    completed, labels, output = _smoke()
    assert completed.returncode == 0, output
    assert labels == SCENARIO_LABELS, output
    assert "ERROR" not in completed.stdout, output


def test_only_runs_the_scenarios_matching_any_comma_separated_word() -> None:
    completed, labels, output = _smoke("-k", "json,streaming")
    assert completed.returncode == 0, output
    assert labels == [
        "JSON GET /users/{id:int}",
        "streaming 10 x 1 KB",
        "JSON GET /users/{id:int} (request style)",
        "streaming 10 x 1 KB (request style)",
    ], output


def test_middleware_overhead_pairs_the_chunks_of_each_turn() -> None:
    from benchmarks.inprocess import Outcome, Results
    from benchmarks.report import paired_overhead

    # The true cost is 1 µs. A slow spell hit the middleware's chunks of the last three
    # turns and the plaintext's of the last one: the medians alone would say 6 µs.
    plain = Outcome(samples=[3e-6, 3e-6, 3e-6, 3e-6, 9e-6])
    with_middleware = Outcome(samples=[4e-6, 4e-6, 9e-6, 9e-6, 9e-6])
    results: Results = {
        "plaintext": {"microasgi": plain},
        "asgi_middleware": {"microasgi": with_middleware},
    }
    overhead = paired_overhead(results, "asgi_middleware")
    assert overhead is not None
    assert abs(overhead - 1.0) < 1e-9
    assert paired_overhead(results, "function_middleware") is None


def test_the_typed_body_row_checks_its_answers_and_exits_zero() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "typed.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "| POST ten-field JSON body, typed |" in completed.stdout, output
    assert "ERROR" not in completed.stdout, output
