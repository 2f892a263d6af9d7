"""The benchmark report's judgements: the fastest peer, the server targets, the chart, and
the CPU pinning of the server rows (no timing: fixed numbers in, text out)."""

import os
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from benchmarks import chart, server
from benchmarks.apps import Framework
from benchmarks.inprocess import Outcome, Results, Scenario, build_scenarios
from benchmarks.report import fastest_peer, inprocess_table, server_table


def timed(microseconds: float) -> Outcome:
    return Outcome(samples=[microseconds / 1e6])


def results_for(key: str, times: dict[Framework, float]) -> Results:
    outcomes: dict[Framework, Outcome] = {name: timed(value) for name, value in times.items()}
    outcomes["litestar"] = Outcome(skipped="not installed")
    return {key: outcomes}


@pytest.fixture
def plaintext(tmp_path: Path) -> Scenario:
    file_path = tmp_path / "file.bin"
    file_path.write_bytes(b"x")
    return next(scenario for scenario in build_scenarios(file_path) if scenario.key == "plaintext")


def test_the_fastest_peer_is_the_quickest_framework_other_than_raw_and_microasgi() -> None:
    results = results_for(
        "plaintext", {"raw": 0.5, "microasgi": 2.0, "starlette": 9.0, "falcon": 3.0}
    )
    assert fastest_peer(results, "plaintext") == ("falcon", 3.0)
    assert fastest_peer({}, "plaintext") is None


def test_the_table_names_the_fastest_peer_and_microasgi_against_it(plaintext: Scenario) -> None:
    results = results_for(
        "plaintext", {"raw": 1.0, "microasgi": 3.0, "starlette": 12.0, "blacksheep": 6.0}
    )
    table, notes = inprocess_table([plaintext], results)
    header, _, row = table.splitlines()
    cells = dict(zip(header.split("|"), row.split("|"), strict=True))
    assert cells[" fastest peer "].strip() == "blacksheep"
    assert cells[" microasgi/fastest "].strip() == "0.50x"
    assert cells[" litestar µs "].strip() == "skipped"
    assert notes == ["litestar skipped (not installed): every scenario"]


def test_server_rows_judge_requests_against_raw_and_the_file_against_starlette() -> None:
    table = server_table(
        {
            ("uvicorn", "plaintext"): {"raw": 100.0, "microasgi": 89.0, "starlette": 70.0},
            ("uvicorn", "file"): {"raw": 600.0, "microasgi": 500.0, "starlette": 200.0},
            ("granian", "file"): {"raw": 600.0, "microasgi": 600.0, "starlette": 600.0},
        }
    )
    rows = [row.split("|") for row in table.splitlines()[2:]]
    assert [(row[9].strip(), row[10].strip()) for row in rows] == [
        ("≥ 0.9x raw", "FAIL"),
        ("≥ 2x Starlette", "PASS"),
        ("", ""),  # granian sends the file itself for both: nothing to judge
    ]


def test_the_chart_draws_one_bar_per_timed_framework_as_a_multiple_of_raw(
    plaintext: Scenario,
) -> None:
    results = results_for("plaintext", {"raw": 2.0, "microasgi": 6.0, "starlette": 200.0})
    document = ElementTree.fromstring(chart.render([plaintext], results, "title"))
    titles = [element.text for element in document.iter("{http://www.w3.org/2000/svg}title")]
    assert titles == ["microasgi: 3.00x raw", "starlette: 100.00x raw"]


def test_the_chart_leaves_out_a_scenario_without_a_raw_time(
    plaintext: Scenario, tmp_path: Path
) -> None:
    path = tmp_path / "img" / "chart.svg"
    chart.write_chart(path, [plaintext], results_for("plaintext", {"microasgi": 6.0}), "t")
    assert "<title>" not in path.read_text()


def test_servers_and_load_are_pinned_to_different_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    assert server.cpu_pinning() == (["taskset", "-c", "0"], ["taskset", "-c", "1,2,3"])
    command = server.server_command("uvicorn", "raw", 8000)
    assert command[:3] == ["taskset", "-c", "0"]


def test_one_cpu_is_not_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert server.cpu_pinning() is None
    assert server.server_command("granian", "raw", 8000)[0] != "taskset"


def test_the_docs_chart_is_drawn_only_by_a_run_of_every_scenario(tmp_path: Path) -> None:
    from benchmarks import run

    def chart_of(*argv: str) -> Path | None:
        return run._chart_path(run.parse_arguments(list(argv)))

    assert chart_of("--no-server") == run.DEFAULT_CHART
    assert chart_of("--no-server", "-k", "file") is None
    assert chart_of("-k", "file", "--chart", str(tmp_path / "c.svg")) == tmp_path / "c.svg"
    assert chart_of("--smoke") is None
    assert chart_of("--no-chart") is None
