"""The one entry point of the benchmark suite.

    python benchmarks/run.py              # in process (+ SVG chart), then uvicorn/granian + wrk
    python benchmarks/run.py --no-server  # in process only
    python benchmarks/run.py --server     # real servers only
    python benchmarks/run.py --smoke      # a few seconds: checks every scenario, times nothing

A full run first installs what it lacks (benchmarks/requirements.txt into this interpreter's
environment with pip, and wrk with apt-get when running as root). The smoke mode installs
nothing and skips Starlette and the other peers when missing; it fails only on broken
benchmark code or wrong responses, never on timing.
"""

import argparse
import asyncio
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "benchmarks" / "requirements.txt"
INSTALL_TIMEOUT = 600
DEFAULT_CHART = ROOT / "docs" / "img" / "benchmarks.svg"
VERSIONED = ("starlette", "fastapi", "litestar", "falcon", "blacksheep")


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _install_python_packages(modules: list[str], notes: list[str]) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return
    _log(f"installing {REQUIREMENTS.name} (missing: {', '.join(missing)}) ...")
    command = [sys.executable, "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        notes.append(f"pip install timed out; still missing: {', '.join(missing)}")
        return
    importlib.invalidate_caches()
    if completed.returncode != 0:
        notes.append(f"pip install failed: {completed.stderr.strip()[-300:]}")


def _install_wrk(notes: list[str]) -> None:
    if shutil.which("wrk") is not None:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        notes.append("wrk is missing and apt-get is not usable here (needs root)")
        return
    _log("installing wrk with apt-get ...")
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "wrk"]):
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                env=environment,
                check=False,
            )
        except subprocess.TimeoutExpired:
            notes.append(f"{' '.join(command)} timed out")
            return
        if completed.returncode != 0:
            notes.append(f"{' '.join(command)} failed: {completed.stderr.strip()[-300:]}")
            return


def ensure_tools(server: bool) -> list[str]:
    """Install what the chosen parts need; return notes on what could not be had."""
    notes: list[str] = []
    modules = ["starlette", "fastapi", "litestar", "falcon", "blacksheep"]
    if server:
        modules += ["uvicorn", "uvloop", "httptools", "granian"]
    _install_python_packages(modules, notes)
    if server:
        _install_wrk(notes)
    return notes


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_summary() -> str:
    cpu = platform.processor() or "unknown CPU"
    with_cpuinfo = Path("/proc/cpuinfo")
    if with_cpuinfo.exists():
        for line in with_cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    versions = ", ".join(
        f"{name} {_version(name)}"
        for name in (*VERSIONED, "uvicorn", "uvloop", "httptools", "granian")
    )
    return (
        f"machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()}\n{versions}"
    )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--smoke", action="store_true", help="a few seconds; checks answers only")
    part.add_argument("--server", action="store_true", help="only the real-server part")
    part.add_argument("--no-server", action="store_true", help="only the in-process part")
    parser.add_argument("--rounds", type=int, default=5, help="in-process rounds")
    parser.add_argument(
        "--server-rounds", type=int, default=5, help="measurements per server app (median taken)"
    )
    parser.add_argument(
        "--duration", type=float, default=3.0, help="seconds of load per server measurement"
    )
    parser.add_argument(
        "-k",
        "--only",
        default="",
        help="run the in-process scenarios whose key contains this (or one of a,b,c)",
    )
    parser.add_argument(
        "--load-generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk (default when installed) or the Python keep-alive client",
    )
    parser.add_argument("--no-install", action="store_true", help="install nothing")
    parser.add_argument(
        "--chart",
        type=Path,
        default=None,
        help=f"where the SVG chart goes (default {DEFAULT_CHART.relative_to(ROOT)}; written "
        "by a full in-process run of every scenario, or of -k's with --chart)",
    )
    parser.add_argument("--no-chart", action="store_true", help="write no chart")
    return parser.parse_args(argv)


def _chart_path(arguments: argparse.Namespace) -> Path | None:
    """Where to draw the chart: a -k subset draws none unless --chart names a file, so
    the chart of the docs always shows every scenario."""
    if arguments.smoke or arguments.no_chart:
        return None
    if arguments.chart is not None:
        chart: Path = arguments.chart
        return chart
    return DEFAULT_CHART if not arguments.only else None


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts, print the tables; 1 if a benchmark broke or an answer was wrong."""
    arguments = parse_arguments(argv)
    in_process = not arguments.server
    with_server = not (arguments.smoke or arguments.no_server)
    notes: list[str] = []
    if not (arguments.smoke or arguments.no_install):
        notes += ensure_tools(with_server)
    # Imported only now: benchmarks/ and microasgi come from this tree, and the installs
    # above must have happened before Starlette is looked for.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks import apps, inprocess, report, server

    print(machine_summary())
    failed = False
    if in_process:
        settings = inprocess.SMOKE if arguments.smoke else inprocess.FULL
        if not arguments.smoke and arguments.rounds != settings.rounds:
            settings = dataclasses.replace(settings, rounds=arguments.rounds)
        with tempfile.TemporaryDirectory() as directory:
            file_path = Path(directory) / "download.bin"
            file_path.write_bytes(os.urandom(apps.FILE_SIZE))
            scenarios = [
                scenario
                for scenario in inprocess.build_scenarios(file_path)
                if any(part in scenario.key for part in arguments.only.split(","))
            ]
            started = time.monotonic()
            results = asyncio.run(inprocess.run_all(scenarios, file_path, settings, progress=_log))
        table, table_notes = report.inprocess_table(scenarios, results, judge=not arguments.smoke)
        mode = "smoke (answers checked, timings meaningless)" if arguments.smoke else "full"
        print(
            f"\nIn process ({mode}; asyncio event loop; median of {settings.rounds} x "
            f"{settings.chunks_per_round} interleaved chunks; {time.monotonic() - started:.0f} s)\n"
        )
        print(table)
        for note in table_notes:
            print(f"- {note}")
        chart_path = _chart_path(arguments)
        if chart_path is not None:
            from benchmarks import chart

            title = "µs per request as a multiple of raw ASGI (lower is better)"
            chart.write_chart(chart_path, scenarios, results, title)
            print(f"\nchart: {chart_path}")
        failed = any(
            outcome.error is not None
            for outcomes in results.values()
            for outcome in outcomes.values()
        )
    if with_server:
        server_settings = server.ServerSettings(
            rounds=arguments.server_rounds,
            duration=arguments.duration,
            load_generator=arguments.load_generator,
        )
        started = time.monotonic()
        server_results, server_notes, server_errors = server.run_servers(
            server_settings, progress=_log
        )
        print(
            f"\nReal servers (1 worker each, 127.0.0.1; {server_settings.connections} "
            f"connections; median of {server_settings.rounds} interleaved "
            f"{server_settings.duration:g} s measurements; {time.monotonic() - started:.0f} s)\n"
        )
        print(report.server_table(server_results))
        for note in server_notes + server_errors:
            print(f"- {note}")
        failed = failed or bool(server_errors)
    for note in notes:
        print(f"- setup: {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
