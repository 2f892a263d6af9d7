"""The tables: µs per request and ratios in process, requests/s under real servers, and
each target judged PASS or FAIL from the numbers of the same run.

Tables are Markdown, so a run's output pastes straight into docs/benchmarks.md.
"""

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.apps import FRAMEWORKS, PEERS, Framework
from benchmarks.inprocess import Outcome, Results, Scenario
from benchmarks.server import ServerResults

Verdict = tuple[bool, str]


def _micro(results: Results, key: str) -> float | None:
    return _value(results, key, "microasgi")


def _value(results: Results, key: str, framework: Framework) -> float | None:
    outcome = results.get(key, {}).get(framework)
    return outcome.microseconds if outcome is not None else None


def _ratio_target(
    key: str, limit: float, against: Framework = "starlette"
) -> Callable[[Results], Verdict | None]:
    def judge(results: Results) -> Verdict | None:
        ours, theirs = _micro(results, key), _value(results, key, against)
        if ours is None or theirs is None:
            return None
        ratio = ours / theirs
        return ratio <= limit, f"{ratio:.2f}x"

    return judge


def _plaintext(key: str) -> Callable[[Results], Verdict | None]:
    def judge(results: Results) -> Verdict | None:
        ours = _micro(results, key)
        starlette = _value(results, key, "starlette")
        raw = _value(results, key, "raw")
        if ours is None or starlette is None or raw is None:
            return None
        to_starlette, to_raw = ours / starlette, ours / raw
        passed = to_starlette <= 0.30 and to_raw <= 4.0
        return passed, f"{to_starlette:.2f}x S, {to_raw:.1f}x raw"

    return judge


def _flat_routes(results: Results) -> Verdict | None:
    first, last = _micro(results, "routes1000_first"), _micro(results, "routes1000_last")
    if first is None or last is None:
        return None
    return last / first <= 1.2, f"{last / first:.2f}x first"


def paired_overhead(results: Results, key: str, base: str = "plaintext") -> float | None:
    """microasgi's µs per request on ``key`` over ``base``: the median of the differences
    between chunks of the same turn. The two scenarios share a group, so their i-th chunks
    ran back to back; pairing them cancels a slow spell of the machine, which a
    difference of two medians (taken over different moments) would not."""
    with_middleware = results.get(key, {}).get("microasgi")
    plain = results.get(base, {}).get("microasgi")
    if with_middleware is None or plain is None:
        return None
    if with_middleware.microseconds is None or plain.microseconds is None:
        return None
    pairs = zip(with_middleware.samples, plain.samples, strict=False)
    return statistics.median(extra - base for extra, base in pairs) * 1e6


def _overhead(
    key: str, limit_us: float, base: str = "plaintext"
) -> Callable[[Results], Verdict | None]:
    def judge(results: Results) -> Verdict | None:
        extra = paired_overhead(results, key, base)
        if extra is None:
            return None
        return extra <= limit_us, f"{extra:+.2f} µs"

    return judge


@dataclass(frozen=True)
class Target:
    text: str
    judge: Callable[[Results], Verdict | None]


TARGETS: dict[str, Target] = {
    "plaintext": Target("≤ 0.30x Starlette, ≤ 4x raw", _plaintext("plaintext")),
    "json": Target("≤ 0.45x Starlette", _ratio_target("json", 0.45)),
    "echo": Target("≤ 0.80x Starlette", _ratio_target("echo", 0.80)),
    "routes1000_last": Target("≤ 1.2x first of 1,000", _flat_routes),
    "asgi_middleware": Target("≤ 1.5 µs over plaintext", _overhead("asgi_middleware", 1.5)),
    "function_middleware": Target("≤ 2 µs over plaintext", _overhead("function_middleware", 2.0)),
    "streaming": Target("≤ 0.15x Starlette", _ratio_target("streaming", 0.15)),
    "websocket": Target("≤ 0.8x Starlette", _ratio_target("websocket", 0.8)),
    "plaintext_request": Target("≤ 0.30x Starlette, ≤ 4x raw", _plaintext("plaintext_request")),
    "json_request": Target("≤ 0.45x Starlette", _ratio_target("json_request", 0.45)),
    "function_middleware_request": Target(
        "≤ 2 µs over request-style plaintext",
        _overhead("function_middleware_request", 2.0, base="plaintext_request"),
    ),
    "streaming_request": Target("≤ 0.15x Starlette", _ratio_target("streaming_request", 0.15)),
    "file": Target("≤ 0.30x Starlette", _ratio_target("file", 0.30)),
    "query_typed": Target(
        "≤ 1 µs over reading request.query_params",
        _overhead("query_typed", 1.0, base="query_read"),
    ),
}
SERVER_TARGET = 0.9
# Downloads of the 1 MB file per second, as a multiple of Starlette's.
FILE_SERVER_TARGET = 2.0


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
            + " |"
        )

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), separator, *(line(row) for row in rows)])


def _microseconds(value: float) -> str:
    if value < 10:
        return f"{value:.2f}"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _cell(
    outcome: Outcome | None,
    errors: list[str],
    skips: dict[tuple[str, str], list[str]],
    label: str,
    framework: str,
) -> str:
    if outcome is None:
        return "-"
    if outcome.error is not None:
        errors.append(f"{label}, {framework}: ERROR: {outcome.error}")
        return "ERROR"
    if outcome.skipped is not None:
        skips.setdefault((framework, outcome.skipped), []).append(label)
        return "skipped"
    value = outcome.microseconds
    return "-" if value is None else _microseconds(value)


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator == 0:
        return "-"
    return f"{numerator / denominator:.2f}x"


def fastest_peer(results: Results, key: str) -> tuple[Framework, float] | None:
    """The peer framework with the fewest µs per request on ``key`` in this run."""
    timed = [(value, name) for name in PEERS if (value := _value(results, key, name)) is not None]
    if not timed:
        return None
    value, name = min(timed)
    return name, value


def inprocess_table(
    scenarios: Sequence[Scenario], results: Results, *, judge: bool = True
) -> tuple[str, list[str]]:
    """The in-process table and its notes (errors, then skips); ``judge=False`` leaves the
    result column empty (the smoke mode's timings mean nothing). Beside each framework's
    µs, microasgi's ratio to the floor, to Starlette and to the fastest peer of the row."""
    header = [
        "scenario",
        *(f"{name} µs" for name in FRAMEWORKS),
        "microasgi/raw",
        "microasgi/starlette",
        "fastest peer",
        "microasgi/fastest",
        "target",
        "result",
    ]
    rows: list[list[str]] = []
    errors: list[str] = []
    skips: dict[tuple[str, str], list[str]] = {}
    for scenario in scenarios:
        outcomes = results.get(scenario.key, {})
        cells = [
            _cell(outcomes.get(name), errors, skips, scenario.label, name) for name in FRAMEWORKS
        ]
        raw, ours, starlette = (_value(results, scenario.key, name) for name in FRAMEWORKS[:3])
        fastest = fastest_peer(results, scenario.key)
        target = TARGETS.get(scenario.key)
        verdict = target.judge(results) if target is not None and judge else None
        if target is None:
            result = ""
        elif not judge:
            result = "(not judged)"
        elif verdict is None:
            result = "n/a"
        else:
            result = f"{'PASS' if verdict[0] else 'FAIL'} ({verdict[1]})"
        rows.append(
            [
                scenario.label,
                *cells,
                _ratio(ours, raw),
                _ratio(ours, starlette),
                fastest[0] if fastest is not None else "-",
                _ratio(ours, fastest[1] if fastest is not None else None),
                target.text if target is not None else "",
                result,
            ]
        )
    notes = errors + [
        f"{framework} skipped ({reason}): "
        + ("every scenario" if len(labels) == len(scenarios) else ", ".join(labels))
        for (framework, reason), labels in skips.items()
    ]
    return markdown_table(header, rows), notes


def _server_verdict(
    server: str, scenario: str, by_framework: dict[Framework, float | None]
) -> tuple[str, str]:
    """A server row's target and result: ≥ 0.9x raw; for the file under uvicorn ≥ 2x
    Starlette (granian offers pathsend, so there both frameworks hand it the file)."""
    raw, ours, starlette = (by_framework.get(name) for name in FRAMEWORKS[:3])
    if scenario == "file":
        if server != "uvicorn":  # granian sends the file itself (pathsend) for both
            return "", ""
        text = f"≥ {FILE_SERVER_TARGET:g}x Starlette"
        if ours is None or not starlette:
            return text, "n/a"
        return text, "PASS" if ours / starlette >= FILE_SERVER_TARGET else "FAIL"
    text = f"≥ {SERVER_TARGET}x raw"
    if ours is None or not raw:
        return text, "n/a"
    return text, "PASS" if ours / raw >= SERVER_TARGET else "FAIL"


def server_table(results: ServerResults) -> str:
    header = [
        "server",
        "scenario",
        "raw req/s",
        "microasgi req/s",
        "starlette req/s",
        "microasgi/raw",
        "starlette/raw",
        "microasgi/starlette",
        "target",
        "result",
    ]
    rows: list[list[str]] = []
    for (server, scenario), by_framework in results.items():
        raw, ours, starlette = (by_framework.get(name) for name in FRAMEWORKS[:3])
        cells = [f"{value:,.0f}" if value is not None else "-" for value in (raw, ours, starlette)]
        target, result = _server_verdict(server, scenario, by_framework)
        rows.append(
            [
                server,
                scenario,
                *cells,
                _ratio(ours, raw),
                _ratio(starlette, raw),
                _ratio(ours, starlette),
                target,
                result,
            ]
        )
    return markdown_table(header, rows)
