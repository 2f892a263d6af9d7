"""Instructions per request, counted by callgrind: a figure that a slow spell cannot move.

For each scenario and framework it runs two children under ``valgrind --tool=callgrind``
with ``PYTHONHASHSEED=0``: one builds ``--calls`` calls and serves them, the other only
builds them. The difference divided by the call count is the cost of serving one request
(one message for the websocket scenario). Use 10,000 calls: with fewer, one garbage
collection more or less moves a figure by up to a thousand instructions.

    python benchmarks/instructions.py -k plaintext,json --frameworks raw,microasgi
"""

import argparse
import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.apps import FILE_SIZE, FRAMEWORKS, build_app
from benchmarks.inprocess import build_scenarios
from microasgi.types import Message

DEFAULT_SCENARIOS = "plaintext,json,asgi_middleware,function_middleware,streaming"
_TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


async def _discard(message: Message) -> None:
    return None


def _child(key: str, framework: str, calls: int, serve: bool, collect: bool) -> None:
    """Build ``calls`` calls of scenario ``key`` and, when ``serve``, run them. Without
    ``collect`` the garbage collector is off while they run: exact figures for A/B
    comparisons, without the collections' share."""
    with tempfile.TemporaryDirectory() as folder:
        file_path = Path(folder) / "file.bin"
        file_path.write_bytes(b"x" * FILE_SIZE)
        scenario = next(s for s in build_scenarios(file_path) if s.key == key)
        app = build_app(framework, scenario.app_key, file_path)  # type: ignore[arg-type]
        batch = [scenario.make_call(index) for index in range(calls)]

        async def main() -> None:
            # One warm-up call, in both children, so lazy set-up is not counted.
            warm_scope, warm_receive = scenario.make_call(calls)
            await app(warm_scope, warm_receive, _discard)
            if not collect:
                gc.collect()
                gc.disable()
            if serve:
                for scope, receive in batch:
                    await app(scope, receive, _discard)

        asyncio.run(main())


def _count(key: str, framework: str, calls: int, serve: bool, collect: bool) -> int:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            key,
            framework,
            str(calls),
            "1" if serve else "0",
            "1" if collect else "0",
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, env=env, capture_output=True, timeout=1800)
        found = _TOTALS.search(out.read_bytes())
        if found is None:
            raise RuntimeError(f"No totals in the callgrind output of {key}/{framework}.")
        return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("-k", default=DEFAULT_SCENARIOS, help="comma-separated scenario keys")
    parser.add_argument("--frameworks", default="microasgi")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument(
        "--no-gc", action="store_true", help="garbage collector off: exact A/B figures"
    )
    parser.add_argument("--child", nargs=5, metavar=("KEY", "FRAMEWORK", "CALLS", "SERVE", "GC"))
    arguments = parser.parse_args(argv)
    if arguments.child:
        key, framework, calls, serve, collect = arguments.child
        _child(key, framework, int(calls), serve == "1", collect == "1")
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind).", file=sys.stderr)
        return 1
    frameworks = [name for name in arguments.frameworks.split(",") if name in FRAMEWORKS]
    print(f"| scenario | {' | '.join(frameworks)} |")
    print(f"|---|{'---|' * len(frameworks)}")
    for key in arguments.k.split(","):
        cells = []
        for framework in frameworks:
            collect = not arguments.no_gc
            served = _count(key, framework, arguments.calls, True, collect)
            built = _count(key, framework, arguments.calls, False, collect)
            cells.append(f"{(served - built) / arguments.calls / 1000:.2f}k")
        print(f"| {key} | {' | '.join(cells)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
