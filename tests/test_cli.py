"""``python -m microasgi``: --version, ``trace --format json``, protocol errors, ``run``."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from microasgi import __version__
from microasgi.__main__ import EXIT_APP_FAILED, EXIT_OK, EXIT_USAGE, main
from tests.e2e.servers import ROOT, free_port, serving


@pytest.fixture(autouse=True)
def restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))


def trace_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["trace", *argv, "--format", "json"])
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, document


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"microasgi {__version__}\n"


def test_trace_json_lists_every_trace_with_its_events(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    code, document = trace_json(capsys, "examples.hello:app", "GET", "/users/42")
    assert code == EXIT_OK
    assert document["error"] is None
    lifespan, http = document["traces"]
    assert [event["type"] for event in lifespan["events"]] == [
        "lifespan.startup",
        "lifespan.startup.complete",
        "lifespan.shutdown",
        "lifespan.shutdown.complete",
    ]
    assert http["type"] == "http"
    assert http["scope"]["path"] == "'/users/42'"
    start, body = http["events"]
    assert (start["direction"], start["type"], start["fields"]["status"]) == (
        "send",
        "http.response.start",
        "200",
    )
    assert body["fields"]["body"].startswith('<48 bytes> b\'{"id":42')
    assert 0 <= start["time"] <= body["time"] <= http["duration"]


def test_trace_json_of_a_websocket(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    # The chat opens its channels in its lifespan, so the trace runs it too.
    argv = ["examples.chat:app", "GET", "/ws?name=bob", "--ws", "-d", "hi"]
    code, document = trace_json(capsys, *argv)
    assert code == EXIT_OK
    [session] = [trace for trace in document["traces"] if trace["type"] == "websocket"]
    assert [(e["direction"], e["type"]) for e in session["events"]][:3] == [
        ("receive", "websocket.connect"),
        ("send", "websocket.accept"),
        ("receive", "websocket.receive"),
    ]


def write_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.delitem(sys.modules, name, raising=False)
    return f"{name}:app"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'await send({"type": "http.response.body", "body": b"x"})',
            "'http.response.body' sent before 'http.response.start'",
        ),
        (
            'await send({"type": "http.response.start", "status": 200})\n'
            '    await send({"type": "http.response.start", "status": 200})',
            "'http.response.start' sent twice",
        ),
        (
            'await send({"type": "http.response.start", "status": 200})\n'
            '    await send({"type": "http.response.body"})\n'
            '    await send({"type": "http.response.body"})',
            "'http.response.body' sent after the response completed",
        ),
    ],
)
def test_http_protocol_errors_exit_1_with_the_json_error(
    body: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = f"async def app(scope, receive, send):\n    {body}\n"
    target = write_app(tmp_path, monkeypatch, "proto_http_app", source)
    code = main(["trace", target, "GET", "/", "--no-lifespan", "--format", "json"])
    captured = capsys.readouterr()
    assert code == EXIT_APP_FAILED
    document = json.loads(captured.out)
    assert message in document["error"]
    assert document["traces"][0]["error"] is not None  # the failed send raised in the app
    assert f"error: protocol error: {message}" in captured.err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'await send({"type": "websocket.send", "text": "early"})',
            "'websocket.send' sent before 'websocket.accept'",
        ),
        (
            'await send({"type": "websocket.accept"})\n'
            '    await send({"type": "websocket.close"})\n'
            '    await send({"type": "websocket.send", "text": "late"})',
            "'websocket.send' sent after the websocket closed",
        ),
        (
            'await send({"type": "websocket.accept"})\n'
            '    await send({"type": "websocket.accept"})',
            "'websocket.accept' sent twice",
        ),
    ],
)
def test_websocket_protocol_errors_exit_1(
    body: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = f"async def app(scope, receive, send):\n    await receive()\n    {body}\n"
    target = write_app(tmp_path, monkeypatch, "proto_ws_app", source)
    code = main(["trace", target, "GET", "/", "--ws", "--no-lifespan"])
    assert code == EXIT_APP_FAILED
    assert f"error: protocol error: {message}" in capsys.readouterr().err


def test_websocket_denial_response_is_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.http.response.start", "status": 403, "headers": []})
    """
    target = write_app(tmp_path, monkeypatch, "deny_ws_app", source)
    assert main(["trace", target, "GET", "/", "--ws", "--no-lifespan"]) == EXIT_OK
    assert "send websocket.http.response.start status=403" in capsys.readouterr().out


def test_timeout_still_prints_the_finished_traces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
    import anyio

    async def app(scope, receive, send):
        await anyio.sleep(30)
    """
    target = write_app(tmp_path, monkeypatch, "slow_app", source)
    code = main(["trace", target, "GET", "/", "--timeout", "0.05", "--no-lifespan"])
    assert code == 124
    assert "raised Cancelled" in capsys.readouterr().out


def test_run_without_uvicorn_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` fail
    assert main(["run", "examples.hello:app"]) == EXIT_USAGE
    assert "pip install microasgi[run]" in capsys.readouterr().err


def test_run_hands_the_options_to_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.chdir(tmp_path)
    argv = ["run", "pkg.module:app", "--host", "0.0.0.0", "--port", "9000", "--reload"]
    assert main(argv) == EXIT_OK
    assert calls == [
        (("pkg.module:app",), {"host": "0.0.0.0", "port": 9000, "reload": True, "workers": None})
    ]
    assert sys.path[0] == str(tmp_path)  # the app is imported from the current directory


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--reload", "--workers", "2"], "--reload and --workers cannot be used together"),
        (["--port", "70000"], "bad --port 70000"),
    ],
)
def test_run_rejects_bad_options(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "examples.hello:app", *argv])
    assert exit_info.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.e2e
def test_run_serves_the_app_with_uvicorn(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "microasgi", "run", "examples.hello:app"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with serving(command, port, tmp_path / "run.log") as server:
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert response.text == "Hello, world!"
    assert server.returncode == 0


def test_python_dash_m_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "microasgi", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.stdout.strip() == f"microasgi {__version__}"
