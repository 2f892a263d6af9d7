"""``python -m microasgi trace``: run in process through ``main()``, output captured."""

import itertools
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from microasgi.__main__ import (
    EXIT_APP_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    build_scope,
    main,
    parse_header,
)

ROOT = Path(__file__).resolve().parent.parent
PREFIX = re.compile(r"\[(\d+)\] \+\d+\.\d{3}ms ")
_names = itertools.count()

WriteApp = Callable[[str], str]


@pytest.fixture(autouse=True)
def restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # main() puts the current directory on sys.path; keep that inside each test.
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.fixture
def write_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteApp:
    """Write ``source`` as a fresh module in a temporary current directory; give its target."""
    monkeypatch.chdir(tmp_path)

    def write(source: str) -> str:
        name = f"trace_test_app_{next(_names)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        monkeypatch.delitem(sys.modules, name, raising=False)
        return f"{name}:app"

    return write


def events(output: str) -> list[str]:
    """``connection: event type`` for each line: the words that must come in order."""
    found = []
    for line in output.splitlines():
        match = PREFIX.match(line)
        assert match is not None, line
        words = line[match.end() :].split(" ")
        found.append(f"{match[1]}: {' '.join(words[:2])}")
    return found


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "trace" in capsys.readouterr().out


def test_trace_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["trace", "--help"])
    assert exit_info.value.code == 0
    assert "--ws" in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == EXIT_USAGE
    assert "COMMAND" in capsys.readouterr().err


@pytest.mark.usefixtures("in_root")
def test_http_get_prints_lifespan_scope_and_events_in_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["trace", "examples.hello:app", "GET", "/users/42?x=1"]) == EXIT_OK
    output = capsys.readouterr().out
    assert events(output) == [
        "1: scope lifespan",
        "1: receive lifespan.startup",
        "1: send lifespan.startup.complete",
        "2: scope http",
        "2: send http.response.start",
        "2: send http.response.body",
        "2: end",
        "1: receive lifespan.shutdown",
        "1: send lifespan.shutdown.complete",
        "1: end",
    ]
    assert "path='/users/42' query_string=b'x=1'" in output
    assert 'b\'{"id":42,' in output  # bodies are shown


@pytest.mark.usefixtures("in_root")
def test_http_post_with_body_and_headers(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["trace", "examples.hello:app", "POST", "/echo", "-d", '{"a": 1}', "--no-lifespan"]
    argv += ["-H", "Content-Type: application/json", "-H", "Authorization: Bearer t0ken"]
    assert main(argv) == EXIT_OK
    output = capsys.readouterr().out
    assert events(output) == [
        "1: scope http",
        "1: receive http.request",
        "1: send http.response.start",
        "1: send http.response.body",
        "1: end",
    ]
    assert "('content-length', '8')" in output
    assert "('authorization', '<redacted>')" in output
    assert "t0ken" not in output
    assert "body=<7 bytes> b'{\"a\":1}'" in output


@pytest.mark.usefixtures("in_root")
def test_websocket_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    # The chat's messages go through the channels its lifespan opens: the lifespan must run.
    argv = ["trace", "examples.chat:app", "GET", "/ws?name=bob", "--ws", "-d", "hi"]
    assert main(argv) == EXIT_OK
    output = capsys.readouterr().out
    assert events(output) == [
        "1: scope lifespan",
        "1: receive lifespan.startup",
        "1: send lifespan.startup.complete",
        "2: scope websocket",
        "2: receive websocket.connect",
        "2: send websocket.accept",
        "2: receive websocket.receive",
        "2: send websocket.send",
        "2: receive websocket.disconnect",
        "2: end",
        "1: receive lifespan.shutdown",
        "1: send lifespan.shutdown.complete",
        "1: end",
    ]
    assert "text=<7 chars> 'bob: hi'" in output
    assert "('upgrade', 'websocket')" in output


@pytest.mark.usefixtures("in_root")
def test_websocket_without_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "examples.chat:app", "GET", "/ws", "--ws", "--no-lifespan"]) == EXIT_OK
    assert events(capsys.readouterr().out)[1:] == [
        "1: receive websocket.connect",
        "1: send websocket.accept",
        "1: receive websocket.disconnect",
        "1: end",
    ]


def test_refused_websocket_gets_no_message(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str]
) -> None:
    target = write_app(
        """
        async def app(scope, receive, send):
            if scope["type"] == "websocket":
                await receive()
                await send({"type": "websocket.close", "code": 1008})
                assert (await receive())["type"] == "websocket.disconnect"
        """
    )
    assert main(["trace", target, "GET", "/", "--ws", "-d", "hello"]) == EXIT_OK
    output = capsys.readouterr().out
    assert "websocket.receive" not in output
    assert "receive websocket.disconnect code=1000" in output


def test_app_in_the_current_directory_and_lifespan_state(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str]
) -> None:
    target = write_app(
        """
        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                await receive()
                scope["state"]["db"] = "connected"
                await send({"type": "lifespan.startup.complete"})
                await receive()
                await send({"type": "lifespan.shutdown.complete"})
                return
            body = scope["state"]["db"].encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
        """
    )
    assert main(["trace", target, "GET", "/"]) == EXIT_OK
    assert "body=<9 bytes> b'connected'" in capsys.readouterr().out


def test_app_without_lifespan_support_still_runs(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str]
) -> None:
    target = write_app(
        """
        async def app(scope, receive, send):
            if scope["type"] != "http":
                raise RuntimeError("http only")
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body"})
        """
    )
    assert main(["trace", target, "DELETE", "/x"]) == EXIT_OK
    output = capsys.readouterr().out
    assert "[1] +" in output
    assert "raised RuntimeError('http only')" in output
    assert "send http.response.start status=204" in output


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("startup.failed", "lifespan startup failed: 'no database'"),
        ("shutdown.failed", "lifespan shutdown failed: 'no database'"),
        ("shutdown.silent", "lifespan shutdown failed: no answer"),
    ],
)
def test_lifespan_failures_exit_1(
    answer: str, message: str, write_app: WriteApp, capsys: pytest.CaptureFixture[str]
) -> None:
    target = write_app(
        f"""
        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                await receive()
                if "{answer}" == "startup.failed":
                    await send({{"type": "lifespan.startup.failed", "message": "no database"}})
                    return
                await send({{"type": "lifespan.startup.complete"}})
                await receive()
                if "{answer}" == "shutdown.failed":
                    await send({{"type": "lifespan.shutdown.failed", "message": "no database"}})
                return
            await send({{"type": "http.response.start", "status": 200}})
            await send({{"type": "http.response.body"}})
        """
    )
    assert main(["trace", target, "GET", "/"]) == EXIT_APP_FAILED
    assert f"error: {message}" in capsys.readouterr().err


def test_app_raising_exits_1_with_a_traceback(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str]
) -> None:
    target = write_app(
        """
        async def app(scope, receive, send):
            raise KeyError("missing thing")
        """
    )
    assert main(["trace", target, "GET", "/", "--no-lifespan"]) == EXIT_APP_FAILED
    captured = capsys.readouterr()
    assert "raised KeyError('missing thing')" in captured.out
    assert "Traceback (most recent call last)" in captured.err
    assert "error: the app raised KeyError('missing thing')" in captured.err


def test_incomplete_response_exits_1(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str]
) -> None:
    target = write_app(
        """
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200})
        """
    )
    assert main(["trace", target, "GET", "/", "--no-lifespan"]) == EXIT_APP_FAILED
    assert "without completing the response" in capsys.readouterr().err


def test_streaming_app_sees_the_disconnect_only_after_its_response(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str]
) -> None:
    target = write_app(
        """
        async def app(scope, receive, send):
            await receive()
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            await send({"type": "http.response.body", "body": b"b"})
            assert (await receive())["type"] == "http.disconnect"
        """
    )
    assert main(["trace", target, "GET", "/", "--no-lifespan"]) == EXIT_OK
    assert events(capsys.readouterr().out)[-2:] == ["1: receive http.disconnect", "1: end"]


def test_timeout_exits_124(write_app: WriteApp, capsys: pytest.CaptureFixture[str]) -> None:
    target = write_app(
        """
        import anyio

        async def app(scope, receive, send):
            await anyio.sleep(30)
        """
    )
    argv = ["trace", target, "GET", "/", "--timeout", "0.05", "--no-lifespan"]
    assert main(argv) == EXIT_TIMEOUT
    assert "error: timed out after 0.05 s" in capsys.readouterr().err


def test_unknown_module_exits_2(in_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "examples.nope:app", "GET", "/"]) == EXIT_USAGE
    assert "could not import module 'examples.nope'" in capsys.readouterr().err


def test_module_failing_to_import_exits_2_with_its_traceback(
    write_app: WriteApp, capsys: pytest.CaptureFixture[str]
) -> None:
    target = write_app("raise ImportError('needs a missing dependency')\n")
    assert main(["trace", target, "GET", "/"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "needs a missing dependency" in err
    assert "Traceback" in err


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("examples.hello", "expected module:attribute"),
        (":app", "expected module:attribute"),
        ("examples.hello:nothing", "has no attribute 'nothing'"),
        ("examples.hello:app.state.missing", "has no attribute"),
        ("examples.hello:PAGE", ""),
        ("examples.chat:PAGE", "is not callable"),
    ],
)
def test_bad_app_targets_exit_2(
    target: str, message: str, in_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["trace", target, "GET", "/"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert message in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["G T", "/"], "bad METHOD 'G T'"),
        (["POST", "/ws", "--ws"], "a websocket opens with GET"),
        (["GET", "items"], "bad PATH 'items'"),
        (["GET", "/a b"], "bad PATH"),
        (["GET", "/", "-H", "no colon"], "expected NAME:VALUE"),
        (["GET", "/", "-H", "Bad Name: v"], "expected NAME:VALUE"),
        (["GET", "/", "--timeout", "0"], "bad --timeout"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["trace", "examples.hello:app", *argv])
    assert exit_info.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_parse_header_rejects_control_characters_and_non_latin1() -> None:
    assert parse_header("X-A:  b ") == (b"x-a", b"b")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        parse_header("X-A: b\r\nX-B: c")
    with pytest.raises(ValueError, match="not latin-1"):
        parse_header("X-A: \u2603")


def test_build_scope_keeps_given_headers_and_reads_subprotocols() -> None:
    headers = [(b"host", b"example.com"), (b"sec-websocket-protocol", b"chat, superchat")]
    scope = build_scope("GET", "/caf%C3%A9?q=1", headers, websocket=True)
    assert scope["path"] == "/café"
    assert scope["raw_path"] == b"/caf%C3%A9"
    assert scope["query_string"] == b"q=1"
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert [value for name, value in scope["headers"] if name == b"host"] == [b"example.com"]
    assert "method" not in scope


def test_given_content_length_is_kept(in_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["trace", "examples.hello:app", "POST", "/echo", "-d", "{}", "-H", "Content-Length: 2"]
    assert main([*argv, "--no-lifespan"]) == EXIT_OK
    assert capsys.readouterr().out.count("'content-length'") == 2  # request and response


def test_python_dash_m_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "microasgi", "trace", "examples.hello:app", "GET", "/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "send http.response.body body=<13 bytes> b'Hello, world!'" in result.stdout
