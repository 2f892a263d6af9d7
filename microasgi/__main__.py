"""The command line: ``python -m microasgi {trace,run} ...`` and ``--version``.

``trace module:app METHOD PATH`` imports an ASGI app, drives one request (or one
websocket session) through it in process, as uvicorn would, and prints the scope and
every message as TraceMiddleware records them: a timeline (text) or JSON for tools. The
app's lifespan runs around the exchange when it supports one. Exit codes: 0 the exchange
completed, 1 the app failed (it raised or broke the protocol), 2 bad arguments or an
unimportable app, 124 timeout.

``run module:app`` serves the app with uvicorn (the ``run`` extra).
"""

import argparse
import importlib
import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import anyio
import anyio.abc

from microasgi import __version__
from microasgi.middleware.trace import Trace, TraceMiddleware, format_line
from microasgi.protocol import HTTP, WEBSOCKET, ProtocolGuard, ProtocolViolation
from microasgi.types import ASGIApp, Message, RawHeaders, Scope

EXIT_OK = 0
EXIT_APP_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 124

# RFC 9110 5.6.2 token: what a method and a header name may hold.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
SERVER = ("127.0.0.1", 8000)
CLIENT = ("127.0.0.1", 54321)


class AppFailed(Exception):
    """The app broke the protocol or failed its lifespan; the message says how."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m microasgi", description="microasgi command line tools."
    )
    parser.add_argument("--version", action="version", version=f"microasgi {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_run_parser(commands)
    trace = commands.add_parser(
        "trace",
        help="run one request through an app in process and print every ASGI event",
        description=(
            "Import APP, send it one HTTP request (or one websocket session with --ws) as "
            "uvicorn would, and print the scope and every receive/send event with timings. "
            "Exit codes: 0 completed, 1 the app failed, 2 bad arguments, 124 timeout."
        ),
    )
    trace.add_argument("app", metavar="module:app", help="the app, e.g. examples.hello:app")
    trace.add_argument("method", metavar="METHOD", help="the HTTP method, e.g. GET")
    trace.add_argument("path", metavar="PATH", help="the path and query, e.g. '/items?page=2'")
    trace.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="a request header (repeatable)",
    )
    trace.add_argument("-d", "--data", help="the request body; with --ws, one text message to send")
    trace.add_argument("--ws", action="store_true", help="open a websocket instead (METHOD GET)")
    trace.add_argument(
        "--timeout", type=float, default=10.0, help="give up after this many seconds (10)"
    )
    trace.add_argument("--no-lifespan", action="store_true", help="do not run the app's lifespan")
    trace.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: a timeline (default); json: the traces as one JSON document, for tools",
    )
    trace.set_defaults(command_parser=trace, handler=trace_command)
    return parser


def add_run_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    run = commands.add_parser(
        "run",
        help="serve an app with uvicorn (pip install microasgi[run])",
        description="Serve APP with uvicorn, which the 'run' extra installs.",
    )
    run.add_argument("app", metavar="module:app", help="the app, e.g. examples.hello:app")
    run.add_argument("--host", default="127.0.0.1", help="the address to bind (127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="the port to bind (8000)")
    run.add_argument("--reload", action="store_true", help="restart when a source file changes")
    run.add_argument("--workers", type=int, default=None, help="worker processes (1)")
    run.set_defaults(command_parser=run, handler=run_command)


def run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Serve ``args.app`` with uvicorn; exit 2 with how to install it when it is missing."""
    if args.reload and args.workers not in (None, 1):
        parser.error("--reload and --workers cannot be used together")
    if not 0 <= args.port <= 65535:
        parser.error(f"bad --port {args.port}: expected 0 to 65535")
    try:
        import uvicorn
    except ImportError:
        print(
            "error: 'run' needs uvicorn, which is not installed; "
            "install it with: pip install microasgi[run]",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    uvicorn.run(args.app, host=args.host, port=args.port, reload=args.reload, workers=args.workers)
    return EXIT_OK


def parse_header(text: str) -> tuple[bytes, bytes]:
    """``"Name: value"`` as a raw ASGI header (lowercase name).

    Raises:
        ValueError: no colon, a name that is not a token, or CR/LF/NUL in the value.
    """
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _TOKEN.fullmatch(name):
        raise ValueError(f"bad header {text!r}: expected NAME:VALUE, e.g. 'Accept: text/html'")
    if re.search(r"[\r\n\0]", value):
        raise ValueError(f"bad header {text!r}: the value holds CR, LF or NUL")
    try:
        return name.lower().encode("latin-1"), value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"bad header {text!r}: the value is not latin-1") from None


def build_scope(method: str, target: str, headers: RawHeaders, *, websocket: bool = False) -> Scope:
    """A scope shaped as uvicorn builds it, for ``target`` (path and query).

    Raises:
        ValueError: a method that is not a token, or a target that is not an origin-form
            path (starting with ``/``, no spaces or control characters).
    """
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"bad METHOD {method!r}: expected an HTTP method such as GET")
    if websocket and method != "GET":
        raise ValueError(f"bad METHOD {method!r}: a websocket opens with GET")
    if not target.startswith("/") or _CONTROL.search(target):
        raise ValueError(f"bad PATH {target!r}: expected a path such as /items?page=2")
    raw_path, _, query = target.partition("?")
    names = {name for name, _ in headers}
    defaults: RawHeaders = [(b"host", f"{SERVER[0]}:{SERVER[1]}".encode("ascii"))]
    if websocket:
        defaults += [
            (b"connection", b"Upgrade"),
            (b"upgrade", b"websocket"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ]
    all_headers = [header for header in defaults if header[0] not in names] + headers
    scope: Scope = {
        "type": "websocket" if websocket else "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": SERVER,
        "client": CLIENT,
        "scheme": "ws" if websocket else "http",
        "root_path": "",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "headers": all_headers,
        "state": {},
    }
    if websocket:
        protocols = b",".join(
            value for name, value in all_headers if name == b"sec-websocket-protocol"
        )
        scope["subprotocols"] = [
            p.strip() for p in protocols.decode("latin-1").split(",") if p.strip()
        ]
    else:
        scope["method"] = method
    return scope


def import_app(target: str) -> ASGIApp:
    """The object ``module:attribute`` names, the current directory importable first.

    Raises:
        ValueError: a malformed target, or an attribute that is missing or not callable.
        ImportError: the module does not import (its own error is chained).
    """
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"bad app {target!r}: expected module:attribute, e.g. examples.hello:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ImportError(f"could not import module {module_name!r}: {exc!r}") from exc
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ValueError(f"bad app {target!r}: {module_name!r} has no attribute {attribute!r}")
        found = getattr(found, part)
    if not callable(found):
        raise ValueError(f"bad app {target!r}: {found!r} is not callable")
    app: ASGIApp = found
    return app


class LifespanDriver:
    """Drives an app's lifespan as a server does: startup, then (later) shutdown.

    Use as a context manager around the task group the lifespan runs in: leaving it
    closes the channels.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self._to_app, self._app_inbox = anyio.create_memory_object_stream[Message](1)
        # None: the app returned or raised.
        self._app_outbox, self._from_app = anyio.create_memory_object_stream[Message | None](1)

    def __enter__(self) -> "LifespanDriver":
        return self

    def __exit__(self, *exc_info: object) -> None:
        for stream in (self._to_app, self._app_inbox, self._app_outbox, self._from_app):
            stream.close()

    async def _send(self, message: Message) -> None:
        await self._app_outbox.send(message)

    async def _run(self) -> None:
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._app_inbox.receive, self._send)
        except Exception:
            pass  # no lifespan support (the trace shows the error), or a failure reported later
        await self._app_outbox.send(None)

    async def startup(self, task_group: anyio.abc.TaskGroup) -> bool:
        """Start the lifespan in ``task_group``; False when the app does not support one.

        An app that raises or returns before answering startup does not support lifespans
        (as uvicorn's "auto" mode reads it): the exchange goes on without.

        Raises:
            AppFailed: the app sent ``lifespan.startup.failed``.
        """
        task_group.start_soon(self._run)
        await self._to_app.send({"type": "lifespan.startup"})
        answer = await self._from_app.receive()
        if answer is None:
            return False
        if answer["type"] != "lifespan.startup.complete":
            raise AppFailed(f"lifespan startup failed: {answer.get('message', '')!r}")
        return True

    async def shutdown(self) -> None:
        """Ask the started lifespan to shut down and wait for its answer.

        Raises:
            AppFailed: the app answered ``lifespan.shutdown.failed``, or nothing.
        """
        await self._to_app.send({"type": "lifespan.shutdown"})
        answer = await self._from_app.receive()
        if answer is None or answer["type"] != "lifespan.shutdown.complete":
            detail = "no answer" if answer is None else repr(answer.get("message", ""))
            raise AppFailed(f"lifespan shutdown failed: {detail}")


async def run_http(app: ASGIApp, scope: Scope, body: bytes) -> None:
    """One request; the client disconnects only once the response is complete.

    Raises:
        AppFailed: the app sent a message out of order (as a server would refuse it), or
            returned without completing the response.
    """
    done = anyio.Event()
    requested = False
    guard = ProtocolGuard(HTTP)

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        refuse_violation(guard, message)
        if guard.state == "response complete":
            done.set()

    await app(scope, receive, send)
    if not done.is_set():
        raise AppFailed("the app returned without completing the response")


def refuse_violation(guard: ProtocolGuard, message: Message) -> None:
    """Check ``message`` with the protocol guard's tables, as a strict server would.

    Raises:
        AppFailed: the message breaks the protocol (the guard's explanation follows).
    """
    try:
        guard.check(message)
    except ProtocolViolation as exc:
        raise AppFailed(f"protocol error: {exc.violation}") from None


async def run_websocket(app: ASGIApp, scope: Scope, text: str | None) -> None:
    """Connect; once the app accepted, send ``text`` (if given); then disconnect.

    Raises:
        AppFailed: the app sent a message its state does not allow (data before accepting,
            anything after closing), by the protocol guard's tables.
    """
    answered = anyio.Event()
    accepted = False
    connected = False
    pending = text
    guard = ProtocolGuard(WEBSOCKET)

    async def receive() -> Message:
        nonlocal connected, pending
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        # A real client speaks only after the handshake, and not at all when refused.
        await answered.wait()
        if accepted and pending is not None:
            message: Message = {"type": "websocket.receive", "text": pending}
            pending = None
            return message
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        nonlocal accepted
        refuse_violation(guard, message)
        accepted = accepted or guard.state == "connected"
        answered.set()

    await app(scope, receive, send)


async def run_exchange(
    app: ASGIApp, scope: Scope, body: str | None, lifespan: bool, traces: list[Trace]
) -> None:
    """The lifespan (when wanted and supported) around one http or websocket exchange.

    Each connection's trace is appended to ``traces`` as it finishes, so the traces are
    there even when the exchange fails or times out. Errors are raised as they are, not
    in an ExceptionGroup.
    """
    traced = TraceMiddleware(app, traces.append, include_bodies=True)
    errors: list[Exception] = []
    state: dict[str, Any] = {}
    with LifespanDriver(traced, state) as driver:
        async with anyio.create_task_group() as task_group:
            try:
                started = lifespan and await driver.startup(task_group)
                # Each connection sees a shallow copy of the lifespan state, as in uvicorn.
                scope["state"] = dict(state)
                if scope["type"] == "websocket":
                    await run_websocket(traced, scope, body)
                else:
                    await run_http(traced, scope, (body or "").encode("utf-8"))
                if started:
                    await driver.shutdown()
            except Exception as exc:
                errors.append(exc)
                task_group.cancel_scope.cancel()
    if errors:
        raise errors[0]


def text_timeline(traces: list[Trace]) -> str:
    """Every trace's lines merged in the order they happened (lifespan around the request)."""
    lines = [
        (trace.clock + at, trace.number, format_line(trace.number, at, text))
        for trace in traces
        for at, text in trace.timeline()
    ]
    return "".join(line + "\n" for _, _, line in sorted(lines, key=lambda item: item[:2]))


def print_traces(traces: list[Trace], output_format: str, error: str | None) -> None:
    """The traces on stdout, by connection number: a timeline, or JSON with the error."""
    traces = sorted(traces, key=lambda trace: trace.number)
    if output_format == "json":
        document = {"traces": [trace.to_dict() for trace in traces], "error": error}
        print(json.dumps(document, indent=2))
    else:
        sys.stdout.write(text_timeline(traces))


def trace_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        headers = [parse_header(text) for text in args.header]
        if args.data is not None and not args.ws:
            length = str(len(args.data.encode("utf-8"))).encode("ascii")
            if all(name != b"content-length" for name, _ in headers):
                headers.append((b"content-length", length))
        scope = build_scope(args.method, args.path, headers, websocket=args.ws)
    except ValueError as exc:
        parser.error(str(exc))
    if args.timeout <= 0:
        parser.error(f"bad --timeout {args.timeout}: expected a number of seconds above 0")
    try:
        app = import_app(args.app)
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        traceback.print_exception(exc.__cause__, file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    traces: list[Trace] = []

    async def exchange() -> None:
        with anyio.fail_after(args.timeout):
            await run_exchange(app, scope, args.data, not args.no_lifespan, traces)

    try:
        anyio.run(exchange)
    except Exception as exc:
        code, error = describe_failure(exc, args.timeout)
        print_traces(traces, args.format, error)
        print(f"error: {error}", file=sys.stderr)
        return code
    print_traces(traces, args.format, None)
    return EXIT_OK


def describe_failure(exc: Exception, timeout: float) -> tuple[int, str]:
    """The exit code and the one-line error for an exchange that failed."""
    if isinstance(exc, TimeoutError):
        return EXIT_TIMEOUT, f"timed out after {timeout:g} s"
    if isinstance(exc, AppFailed):
        return EXIT_APP_FAILED, str(exc)
    traceback.print_exception(exc, file=sys.stderr)
    return EXIT_APP_FAILED, f"the app raised {exc!r}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse exits 2 on bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command_parser: argparse.ArgumentParser = args.command_parser
    code: int = args.handler(args, command_parser)
    return code


if __name__ == "__main__":
    sys.exit(main())
