"""TrustedHostMiddleware: refuse requests whose Host header is not one of ours.

Also owns the Host header grammar used by its siblings (``split_host_port``) and the
absolute redirect ``Location`` built from a scope (``redirect_location``), so that
HTTPSRedirectMiddleware and ProxyHeadersMiddleware parse hosts exactly the same way.
Works on raw ASGI headers only; it must not know about requests or responses.
"""

import re
from collections.abc import Sequence
from urllib.parse import quote

from microasgi.types import ASGIApp, Receive, Scope, Send

# A practical reg-name (RFC 3986 allows more, but nothing a real host uses) and an
# IP-literal; neither can smuggle "/", "@", "?", "#" or "\" into a redirect Location.
# Labels are checked non-empty apart (_is_reg_name): a repeated group would make the
# regex engine keep a backtracking entry per label.
_REG_NAME_CHARS = re.compile(r"[a-z0-9_.\-]+")
_IP_LITERAL = re.compile(r"\[[0-9a-f:.]+(?:%25[0-9a-z._~\-]+)?\]")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"

_INVALID_HOST_BODY = b"Invalid host header"
_INVALID_HOST_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_INVALID_HOST_BODY)).encode("ascii")),
]
# RFC 6455 7.4.1: 1008 is "policy violation", the closest code to "wrong host".
_WS_POLICY_VIOLATION = 1008


def split_host_port(value: str) -> tuple[str, int | None] | None:
    """Parse a ``Host`` header value (or an ``X-Forwarded-Host``).

    Returns:
        ``(host, port)`` with the host lowercased, a trailing dot removed and IPv6
        literals kept in brackets (``"[::1]"``); ``port`` is None when absent. None when
        the value is not a well-formed host, so callers can refuse or ignore it.
    """
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[: end + 1], value[end + 1 :]
        if end < 0 or not _IP_LITERAL.fullmatch(host):
            return None
    else:
        host, colon, port_text = value.partition(":")
        rest = colon + port_text
        if host.endswith("."):
            host = host[:-1]
        if not _is_reg_name(host):
            return None
    if not rest or rest == ":":
        return host, None
    port = parse_port(rest[1:]) if rest[0] == ":" else None
    if port is None:
        return None
    return host, port


def _is_reg_name(host: str) -> bool:
    """Dot-separated non-empty labels of letters, digits, ``_`` and ``-``."""
    return (
        _REG_NAME_CHARS.fullmatch(host) is not None
        and not host.startswith(".")
        and not host.endswith(".")
        and ".." not in host
    )


def parse_port(text: str) -> int | None:
    """A TCP port from ASCII digits (leading zeros allowed), or None for anything else.

    The digit count is checked before ``int()``, which refuses more than 4,300 digits.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > 5:
        return None
    port = int(digits)
    return port if port <= 65535 else None


def host_header(scope: Scope) -> str | None:
    """The ``Host`` header of an HTTP or websocket scope, latin-1 decoded; None when absent.

    A request with several gives ``""``, which no host parser accepts: RFC 9112 section 3.2
    asks for a 400, since which one a proxy routed by is unknowable.
    """
    found: str | None = None
    for name, value in scope["headers"]:
        if name.lower() == b"host":
            if found is not None:
                return ""
            found = value.decode("latin-1")
    return found


def redirect_location(scope: Scope, scheme: str, netloc: str) -> bytes:
    """An absolute URL for the same path and query as ``scope`` at ``scheme://netloc``.

    The path comes from ``raw_path`` when the server gives it (it keeps the client's
    escapes), and anything outside URL characters is percent-encoded.
    """
    raw_path = scope.get("raw_path")
    path = quote(raw_path if raw_path else scope["path"], safe=_PATH_SAFE)
    location = f"{scheme}://{netloc}{path}"
    query = scope.get("query_string", b"")
    if query:
        location += "?" + quote(query, safe=_QUERY_SAFE)
    return location.encode("ascii")


async def send_redirect(send: Send, location: bytes) -> None:
    """Answer an HTTP scope with a 307 to ``location`` (method and body are kept)."""
    await send(
        {
            "type": "http.response.start",
            "status": 307,
            "headers": [(b"location", location), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


class TrustedHostMiddleware:
    """Answer 400 (or close a websocket with 1008) unless the Host header is allowed.

    Args:
        app: the ASGI app to protect.
        allowed_hosts: host names, ``"*.example.com"`` for any subdomain (not the bare
            domain), or ``"*"`` for any host. Compared case-insensitively, port and
            trailing dot ignored.
        www_redirect: when ``www.example.com`` is allowed and a request arrives for
            ``example.com``, redirect it (307) to the ``www.`` host instead of refusing.

    Raises:
        ValueError: a pattern uses ``*`` anywhere but as a whole ``"*"`` or a leading ``"*."``.
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str] = ("*",),
        www_redirect: bool = True,
    ) -> None:
        if isinstance(allowed_hosts, str):
            raise TypeError(
                f"allowed_hosts must be a list of host names, got the string {allowed_hosts!r}; "
                f"write allowed_hosts=[{allowed_hosts!r}]."
            )
        self.app = app
        self.www_redirect = www_redirect
        self.allow_any = False
        exact: set[str] = set()
        suffixes: list[str] = []
        for pattern in allowed_hosts:
            if pattern == "*":
                self.allow_any = True
                continue
            wildcard = pattern.startswith("*.")
            name = pattern[2:] if wildcard else pattern
            if ":" in name and not name.startswith("["):
                name = f"[{name}]"  # a bare IPv6 address, written as the Host header has it
            parsed = split_host_port(name)
            if "*" in name or parsed is None or parsed[1] is not None:
                raise ValueError(
                    f"Invalid allowed_hosts pattern {pattern!r}: use a host name without "
                    "a port ('example.com'), a leading wildcard ('*.example.com') or '*'."
                )
            if wildcard:
                suffixes.append("." + parsed[0])
            else:
                exact.add(parsed[0])
        self.exact_hosts = frozenset(exact)
        self.suffixes = tuple(suffixes)

    def is_allowed(self, host: str) -> bool:
        """Whether a host, as returned by ``split_host_port``, matches ``allowed_hosts``."""
        return self.allow_any or host in self.exact_hosts or host.endswith(self.suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allow_any:
            await self.app(scope, receive, send)
            return
        raw_host = host_header(scope)
        parsed = split_host_port(raw_host) if raw_host is not None else None
        if parsed is not None and self.is_allowed(parsed[0]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION, "reason": ""})
            return
        if parsed is not None and self.www_redirect and ("www." + parsed[0]) in self.exact_hosts:
            host, port = parsed
            netloc = f"www.{host}" if port is None else f"www.{host}:{port}"
            await send_redirect(send, redirect_location(scope, scope.get("scheme", "http"), netloc))
            return
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                # A fresh list: outer middleware may edit response headers in place.
                "headers": list(_INVALID_HOST_HEADERS),
            }
        )
        await send({"type": "http.response.body", "body": _INVALID_HOST_BODY})
