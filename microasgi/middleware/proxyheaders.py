"""ProxyHeadersMiddleware: trust what a reverse proxy says about the original request.

Only when the direct peer is a trusted proxy, the ``Forwarded`` header (RFC 7239) or,
without it, ``X-Forwarded-For/-Proto/-Host/-Prefix`` are applied to a copy of the scope:
``client``, ``scheme``, ``server`` and the ``host`` header, ``root_path`` and ``path``.
Hops are walked right to left (the rightmost was written by our own proxy) and the first
untrusted one is the client, so a forged leftmost entry never wins. Invalid values are
ignored, never applied.
"""

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import unquote

from microasgi.middleware.trustedhost import parse_port, split_host_port
from microasgi.types import ASGIApp, Receive, Scope, Send

_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_SECURE = frozenset({"https", "wss"})
# A forwarded node: an address, "unknown" or an obfuscated "_name", with an optional port.
_NODE = re.compile(r"[A-Za-z0-9._\-:\[\]]+")
# Path characters a prefix may hold: no spaces, controls, "?" or "#".
_PREFIX_FORBIDDEN = frozenset(" \t\r\n\x00?#\\")

_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class _Hop:
    """What one proxy hop tells: the client it saw, and the proto/host it was asked for."""

    __slots__ = ("host", "node", "proto")

    def __init__(self, node: str | None, proto: str | None, host: str | None) -> None:
        self.node = node
        self.proto = proto
        self.host = host


def _split_quoted(text: str, separator: str) -> list[str] | None:
    """Split on ``separator`` outside RFC 9110 quoted-strings; None if a quote is unclosed."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif in_quotes and char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char == separator and not in_quotes:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if in_quotes:
        return None
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        out: list[str] = []
        escaped = False
        for char in value:
            if not escaped and char == "\\":
                escaped = True
                continue
            escaped = False
            out.append(char)
        value = "".join(out)
    return value


def parse_forwarded(value: str) -> list[_Hop] | None:
    """Parse a ``Forwarded`` header into hops, left to right; None when it is malformed.

    An element that repeats a parameter is invalid (RFC 7239 section 4) and kept as an
    empty hop, which stops the walk without applying anything from it.
    """
    elements = _split_quoted(value, ",")
    if elements is None:
        return None
    hops: list[_Hop] = []
    for element in elements:
        params: dict[str, str] = {}
        valid = True
        for pair in _split_quoted(element, ";") or ():
            name, equals, raw = pair.partition("=")
            name = name.strip().lower()
            if not name and not equals:
                continue  # an empty pair, as in "for=x;;proto=https"
            if not equals or name in params:
                valid = False
                break
            params[name] = _unquote(raw)
        if not valid:
            params = {}
        hops.append(_Hop(params.get("for"), params.get("proto"), params.get("host")))
    return hops


def parse_node(node: str) -> tuple[str, int] | None:
    """Split a forwarded node (``1.2.3.4``, ``"[::1]:80"``, ``unknown``) into host and port.

    IPv6 hosts come back without brackets, as in an ASGI ``client``; a missing or
    obfuscated port is 0. None when the node holds characters no node may hold.
    """
    node = node.strip()
    if not _NODE.fullmatch(node):
        return None
    if node.startswith("["):
        end = node.find("]")
        if end < 0:
            return None
        host, rest = node[1:end], node[end + 1 :]
    elif node.count(":") == 1:
        host, rest = node.split(":")
        rest = ":" + rest
    else:
        host, rest = node, ""
    port_text = rest[1:] if rest.startswith(":") else ""
    port = parse_port(port_text) or 0
    return (host, port) if host else None


class ProxyHeadersMiddleware:
    """Apply proxy headers from trusted peers to a copy of the scope.

    Args:
        app: the ASGI app to wrap.
        trusted_hosts: peers whose forwarding headers are believed: IP addresses, CIDR
            networks (``"10.0.0.0/8"``), other literal client names (a unix socket path),
            or ``"*"`` for any peer. A comma-separated string is accepted too.

    Raises:
        ValueError: an empty entry.
    """

    def __init__(self, app: ASGIApp, trusted_hosts: Sequence[str] | str = ("127.0.0.1",)) -> None:
        if isinstance(trusted_hosts, str):
            trusted_hosts = trusted_hosts.split(",")
        self.app = app
        self.trust_all = False
        literals: set[str] = set()
        networks: list[_IPNetwork] = []
        for entry in (item.strip() for item in trusted_hosts):
            if not entry:
                raise ValueError("trusted_hosts holds an empty entry; remove it.")
            if entry == "*":
                self.trust_all = True
                continue
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                literals.add(entry)
                continue
            if network.num_addresses == 1:
                literals.add(str(network.network_address))
            else:
                networks.append(network)
        self.trusted_literals = frozenset(literals)
        self.trusted_networks = tuple(networks)

    def is_trusted(self, host: str) -> bool:
        """Whether a peer address (as in ``scope["client"][0]``) is a trusted proxy."""
        if self.trust_all or host in self.trusted_literals:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        # str() gives the canonical spelling, so "::0001" matches a trusted "::1".
        if str(address) in self.trusted_literals:
            return True
        return any(address in network for network in self.trusted_networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] not in ("http", "websocket") or not client:
            await self.app(scope, receive, send)
            return
        if not self.is_trusted(client[0]):
            await self.app(scope, receive, send)
            return
        await self.app(self.forwarded_scope(scope), receive, send)

    def forwarded_scope(self, scope: Scope) -> Scope:
        """A copy of ``scope`` with the forwarding headers applied (the peer is trusted)."""
        fields: dict[bytes, list[str]] = {}
        for name, value in scope["headers"]:
            fields.setdefault(name.lower(), []).append(value.decode("latin-1"))
        if b"forwarded" in fields:
            hops = parse_forwarded(",".join(fields[b"forwarded"]))
            hop = self.select_hop(hops) if hops else None
        else:
            hop = self.x_forwarded_hop(fields)
        # No Forwarded parameter carries a path prefix, so this header applies either way.
        prefixes = _split_list(fields.get(b"x-forwarded-prefix"))
        prefix = prefixes[-1] if prefixes else None
        if hop is None and prefix is None:
            return scope
        new_scope = dict(scope)
        if hop is not None:
            self.apply_hop(new_scope, hop)
        if prefix is not None:
            _apply_prefix(new_scope, prefix)
        return new_scope

    def select_hop(self, hops: list[_Hop]) -> _Hop:
        """The hop describing the client: the rightmost whose ``for`` is not trusted."""
        for hop in reversed(hops):
            if hop.node is None:
                return hop
            parsed = parse_node(hop.node)
            if parsed is None or not self.is_trusted(parsed[0]):
                return hop
        return hops[0]

    def x_forwarded_hop(self, fields: dict[bytes, list[str]]) -> _Hop | None:
        """The client hop from ``X-Forwarded-*``; proto and host align with it when they can."""
        nodes = _split_list(fields.get(b"x-forwarded-for"))
        protos = _split_list(fields.get(b"x-forwarded-proto"))
        hosts = _split_list(fields.get(b"x-forwarded-host"))
        if not (nodes or protos or hosts):
            return None
        index = self.client_index(nodes)
        node = nodes[index] if nodes else None
        # Each proxy appends one entry; when the lists line up, the entry written by the
        # same proxy as the client's describes the request the client made. Otherwise only
        # the rightmost entry, written by our own proxy, is believable.
        proto = _aligned(protos, index, len(nodes))
        host = _aligned(hosts, index, len(nodes))
        return _Hop(node, proto, host)

    def client_index(self, nodes: list[str]) -> int:
        """Index of the rightmost untrusted node (the client); 0 when all are trusted."""
        for index in range(len(nodes) - 1, 0, -1):
            parsed = parse_node(nodes[index])
            if parsed is None or not self.is_trusted(parsed[0]):
                return index
        return 0

    @staticmethod
    def apply_hop(scope: Scope, hop: _Hop) -> None:
        """Write a hop's client, scheme and host into ``scope`` (a copy), skipping bad values."""
        if hop.node is not None:
            parsed = parse_node(hop.node)
            if parsed is not None:
                scope["client"] = parsed
        if hop.proto is not None and hop.proto.strip().lower() in _SCHEMES:
            secure = hop.proto.strip().lower() in _SECURE
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = "https" if secure else "http"
        if hop.host is not None and (host := split_host_port(hop.host)) is not None:
            name, port = host
            if port is None:
                port = 443 if scope.get("scheme") in _SECURE else 80
            scope["server"] = (name.strip("[]"), port)
            value = hop.host.strip().encode("latin-1")
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"]
            headers.append((b"host", value))
            scope["headers"] = headers


def _split_list(values: list[str] | None) -> list[str]:
    if not values:
        return []
    return [item.strip() for item in ",".join(values).split(",") if item.strip()]


def _aligned(values: list[str], index: int, count: int) -> str | None:
    if not values:
        return None
    return values[index] if len(values) == count else values[-1]


def _apply_prefix(scope: Scope, prefix: str) -> None:
    """Prepend a proxy's path prefix to ``root_path`` and ``path`` (ASGI: path holds root_path)."""
    prefix = prefix.rstrip("/")
    if (
        not prefix.startswith("/")
        or prefix.startswith("//")
        or not set(prefix).isdisjoint(_PREFIX_FORBIDDEN)
    ):
        return
    decoded = unquote(prefix)
    scope["root_path"] = decoded + scope.get("root_path", "")
    scope["path"] = decoded + scope["path"]
    raw_path = scope.get("raw_path")
    if raw_path is not None:
        scope["raw_path"] = prefix.encode("latin-1") + raw_path
