"""The command line: ``python -m microasgi trace module:app METHOD PATH [options]``.

``trace`` imports an ASGI app, drives one request (or one websocket session) through it
in process, as uvicorn would, and prints the scope and every message with
TraceMiddleware's formatting. The app's lifespan runs around the exchange when it
supports one. Exit codes: 0 the exchange completed, 1 the app failed, 2 bad arguments or
an unimportable app, 124 timeout.
"""

import argparse
import importlib
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import anyio
import anyio.abc

from microasgi.middleware.trace import TraceMiddleware
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
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
    trace.set_defaults(command_parser=trace)
    return parser


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
        AppFailed: the app returned without completing its response.
    """
    done = anyio.Event()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    await app(scope, receive, send)
    if not done.is_set():
        raise AppFailed("the app returned without completing the response")


async def run_websocket(app: ASGIApp, scope: Scope, text: str | None) -> None:
    """Connect; once the app accepted, send ``text`` (if given); then disconnect."""
    answered = anyio.Event()
    accepted = False
    connected = False
    pending = text

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
        if message["type"] == "websocket.accept":
            accepted = True
        answered.set()

    await app(scope, receive, send)


async def run_exchange(app: ASGIApp, scope: Scope, body: str | None, lifespan: bool) -> None:
    """The lifespan (when wanted and supported) around one http or websocket exchange.

    Errors are raised as they are, not in an ExceptionGroup.
    """
    traced = TraceMiddleware(app, include_bodies=True)
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


def trace(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
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

    async def main() -> None:
        with anyio.fail_after(args.timeout):
            await run_exchange(app, scope, args.data, not args.no_lifespan)

    try:
        anyio.run(main)
    except TimeoutError:
        print(f"error: timed out after {args.timeout:g} s", file=sys.stderr)
        return EXIT_TIMEOUT
    except AppFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_APP_FAILED
    except Exception as exc:
        traceback.print_exception(exc, file=sys.stderr)
        print(f"error: the app raised {exc!r}", file=sys.stderr)
        return EXIT_APP_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse exits 2 on bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # "trace" is the only command so far; argparse rejects anything else.
    command_parser: argparse.ArgumentParser = args.command_parser
    return trace(args, command_parser)


if __name__ == "__main__":
    sys.exit(main())
