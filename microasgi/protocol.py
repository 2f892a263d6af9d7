"""The ASGI protocol rules an app's ``send`` must follow, as data, and the guard that checks them.

Each protocol is a transition table, ``{state: {event: next state}}``, read from the app's
side: what it may send in each state and where that leads. An *event* is a message's type,
refined where the protocol cares about a flag: ``"http.response.body, final"`` is a body
with ``more_body`` false, ``"http.response.start, trailers"`` a start announcing trailers.
Each state also has a one-line explanation of what the protocol allows next (the
playground shows them beside every event) and the phrase an error uses for it.

:class:`ProtocolGuard` follows one connection through its table and refuses the first
message that breaks it with a :class:`ProtocolViolation` (a ``RuntimeError``) naming the
violation and what was expected next. :class:`ProtocolGuardMiddleware` puts a guard on the
``send`` of every http and websocket connection, before the message reaches the server, so
an invalid message is never forwarded. ``App(debug=True)`` and ``TestClient`` use it, and
``python -m microasgi trace`` uses the same tables. This module imports only
``microasgi.types``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from microasgi.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "HTTP",
    "LIFESPAN",
    "PROTOCOLS",
    "WEBSOCKET",
    "Protocol",
    "ProtocolGuard",
    "ProtocolGuardMiddleware",
    "ProtocolViolation",
    "event_of",
]

# What a flag turns an event into (the table's key is "type, refinement").
FINAL = "final"
TRAILERS = "trailers"
# Messages that continue while their flag is true, and the flag's name.
_CONTINUED_BY = {
    "http.response.body": "more_body",
    "http.response.trailers": "more_trailers",
    "websocket.http.response.body": "more_body",
}
# Messages whose "headers" must be a list of (bytes, bytes) pairs.
_WITH_HEADERS = frozenset(
    {"http.response.start", "http.response.trailers", "websocket.accept",
     "websocket.http.response.start"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Protocol:
    """One ASGI protocol, from the app's side.

    Attributes:
        name: ``"http"``, ``"websocket"`` or ``"lifespan"`` (the scope type).
        transitions: ``{state: {event: next state}}``; the first state is the initial one,
            a state with no events is final.
        allows: ``{state: one line saying what the protocol allows next}``.
        where: ``{state: the phrase an error uses}`` ("before 'http.response.start'").
    """

    name: str
    transitions: Mapping[str, Mapping[str, str]]
    allows: Mapping[str, str]
    where: Mapping[str, str]

    @property
    def initial(self) -> str:
        return next(iter(self.transitions))

    @property
    def message_types(self) -> frozenset[str]:
        """Every message type the app may send in this protocol, in some state."""
        return frozenset(
            base_type(event) for events in self.transitions.values() for event in events
        )

    def expected(self, state: str) -> list[str]:
        """The message types the app may send next in ``state`` (each once, in table order)."""
        return list(dict.fromkeys(base_type(event) for event in self.transitions[state]))


HTTP = Protocol(
    name="http",
    transitions={
        "response not started": {
            "http.response.start": "sending the body",
            f"http.response.start, {TRAILERS}": "sending the body, then trailers",
            "http.response.debug": "response not started",
        },
        "sending the body": {
            "http.response.body": "sending the body",
            f"http.response.body, {FINAL}": "response complete",
            "http.response.pathsend": "response complete",
        },
        "sending the body, then trailers": {
            "http.response.body": "sending the body, then trailers",
            f"http.response.body, {FINAL}": "sending trailers",
            "http.response.pathsend": "sending trailers",
        },
        "sending trailers": {
            "http.response.trailers": "sending trailers",
            f"http.response.trailers, {FINAL}": "response complete",
        },
        "response complete": {},
    },
    allows={
        "response not started": "The app must send 'http.response.start' (status and headers) "
        "before any body.",
        "sending the body": "The response started: the app sends 'http.response.body' "
        "messages until one has more_body=False (or one 'http.response.pathsend').",
        "sending the body, then trailers": "The response started and announced trailers: "
        "the body follows, then 'http.response.trailers'.",
        "sending trailers": "The body is complete: the app sends 'http.response.trailers' "
        "until one has more_trailers=False.",
        "response complete": "The response is complete: the app may send nothing more "
        "(its receive() reports 'http.disconnect').",
    },
    where={
        "response not started": "before 'http.response.start'",
        "sending the body": "after the response started",
        "sending the body, then trailers": "after the response started",
        "sending trailers": "after the final body",
        "response complete": "after the response completed",
    },
)

WEBSOCKET = Protocol(
    name="websocket",
    transitions={
        "handshake": {
            "websocket.accept": "connected",
            "websocket.close": "closed",
            "websocket.http.response.start": "sending the denial body",
        },
        "connected": {"websocket.send": "connected", "websocket.close": "closed"},
        "sending the denial body": {
            "websocket.http.response.body": "sending the denial body",
            f"websocket.http.response.body, {FINAL}": "closed",
        },
        "closed": {},
    },
    allows={
        "handshake": "The client asked to connect: the app accepts ('websocket.accept'), "
        "refuses ('websocket.close', an HTTP 403) or denies with an HTTP response "
        "('websocket.http.response.start').",
        "connected": "The websocket is open: the app sends 'websocket.send' messages "
        "(text or bytes) and ends with 'websocket.close'.",
        "sending the denial body": "The denial response started: the app sends "
        "'websocket.http.response.body' until one has more_body=False.",
        "closed": "The websocket is closed: the app may send nothing more.",
    },
    where={
        "handshake": "before 'websocket.accept'",
        "connected": "after 'websocket.accept'",
        "sending the denial body": "during the denial response",
        "closed": "after the websocket closed",
    },
)

LIFESPAN = Protocol(
    name="lifespan",
    transitions={
        "starting": {"lifespan.startup.complete": "started", "lifespan.startup.failed": "stopped"},
        "started": {
            "lifespan.shutdown.complete": "stopped",
            "lifespan.shutdown.failed": "stopped",
        },
        "stopped": {},
    },
    allows={
        "starting": "The server sent 'lifespan.startup': the app answers "
        "'lifespan.startup.complete' or 'lifespan.startup.failed'.",
        "started": "The app is serving: at 'lifespan.shutdown' it answers "
        "'lifespan.shutdown.complete' or 'lifespan.shutdown.failed'.",
        "stopped": "The lifespan is over: the app may send nothing more.",
    },
    where={
        "starting": "before the startup was answered",
        "started": "after the startup was answered",
        "stopped": "after the lifespan ended",
    },
)

PROTOCOLS: Mapping[str, Protocol] = {p.name: p for p in (HTTP, WEBSOCKET, LIFESPAN)}


def base_type(event: str) -> str:
    """``"http.response.body, final"`` -> ``"http.response.body"``."""
    return event.partition(",")[0]


def event_of(message: Message) -> str:
    """The table event a message is: its type, refined by the flag the protocol reads."""
    kind = str(message.get("type"))
    flag = _CONTINUED_BY.get(kind)
    if flag is not None and not message.get(flag, False):
        return f"{kind}, {FINAL}"
    if kind == "http.response.start" and message.get("trailers", False):
        return f"{kind}, {TRAILERS}"
    return kind


class ProtocolViolation(RuntimeError):
    """A message the ASGI protocol does not allow where the app sent it (never forwarded).

    Attributes:
        violation: what went wrong: "'websocket.send' sent before 'websocket.accept'".
        message_type: the type of the refused message.
        state: the connection's state when it was sent.
        expected: the message types that were allowed next (empty once the connection ended).
    """

    def __init__(
        self, violation: str, explanation: str, message_type: str, state: str, expected: list[str]
    ) -> None:
        super().__init__(f"ASGI protocol violation: {violation}. {explanation}")
        self.violation = violation
        self.message_type = message_type
        self.state = state
        self.expected = expected


class ProtocolGuard:
    """One connection's position in its protocol; ``check`` each message before sending it.

    Args:
        protocol: the rules (``HTTP``, ``WEBSOCKET``, ``LIFESPAN``).
    """

    __slots__ = ("protocol", "state")

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.state = protocol.initial

    @property
    def allows(self) -> str:
        """What the protocol allows next, in one line."""
        return self.protocol.allows[self.state]

    def advance(self, message: Message) -> bool:
        """Move on by ``message`` if the protocol allows it here; False (and stay) if not."""
        next_state = self.protocol.transitions[self.state].get(event_of(message))
        if next_state is None:
            return False
        self.state = next_state
        return True

    def check(self, message: Message) -> None:
        """Move on by ``message``, or refuse it.

        Raises:
            ProtocolViolation: the message is of an unknown type, out of order here, or its
                headers are not a list of (bytes, bytes) pairs; the state does not change.
        """
        kind = message.get("type")
        if not isinstance(kind, str) or kind not in self.protocol.message_types:
            self.refuse(
                f"unknown message type {kind!r} for a {self.protocol.name} connection", kind
            )
        if kind in _WITH_HEADERS:
            self._check_headers(kind, message.get("headers", ()))
        if not self.advance(message):
            self.refuse(self._misplaced(kind), kind)

    def refuse(self, what: str, kind: object) -> NoReturn:
        """Raise the ProtocolViolation for ``what`` went wrong with a ``kind`` message."""
        expected = self.protocol.expected(self.state)
        next_text = " or ".join(map(repr, expected)) if expected else "nothing more"
        raise ProtocolViolation(
            what,
            f"Expected next: {next_text} ({self.protocol.name}: {self.state}). {self.allows}",
            str(kind),
            self.state,
            expected,
        )

    def _misplaced(self, kind: str) -> str:
        """How a known message is out of place here: "'websocket.send' sent before ..."."""
        where = self.protocol.where[self.state]
        opening = self.protocol.transitions[self.protocol.initial]
        led_here = {after for event, after in opening.items() if base_type(event) == kind}
        if self.state != self.protocol.initial and self.state in led_here:
            return f"{kind!r} sent twice ({where})"
        return f"{kind!r} sent {where}"

    def _check_headers(self, kind: str, headers: Any) -> None:
        """Refuse headers that are not an iterable of (bytes, bytes) pairs."""
        try:
            pairs = list(headers)
        except TypeError:
            self.refuse(f"{kind!r} headers must be a list of (bytes, bytes) pairs", kind)
        for pair in pairs:
            if not (
                isinstance(pair, (tuple, list))
                and len(pair) == 2
                and isinstance(pair[0], bytes)
                and isinstance(pair[1], bytes)
            ):
                shown = repr(pair)[:80]
                self.refuse(f"{kind!r} has a header that is not a pair of bytes: {shown}", kind)


class ProtocolGuardMiddleware:
    """Check every message the app sends on an http or websocket connection; refuse (raise
    :class:`ProtocolViolation`, forwarding nothing) the first that breaks the protocol.

    Lifespan connections pass through unchecked: the server checks those itself. Built into
    the stack by ``App(debug=True)``; it costs nothing to an app without it.
    """

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        protocol = PROTOCOLS.get(scope["type"])
        if protocol is None or protocol is LIFESPAN:
            await self.app(scope, receive, send)
            return
        guard = ProtocolGuard(protocol)

        async def guarded_send(message: Message) -> None:
            guard.check(message)
            await send(message)

        await self.app(scope, receive, guarded_send)
