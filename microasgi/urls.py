"""URLs: ``URL`` (parsed lazily, rebuilt from a scope), ``URLPath`` (what ``url_path_for``
returns) and ``Address`` (a client or server ``(host, port)``).

Value types: they parse text and never talk to the connection. Also re-exported by
``microasgi.datastructures``.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Self
from urllib.parse import SplitResult, quote, urlencode, urlsplit

from microasgi.queryparams import QueryParams
from microasgi.types import Scope

__all__ = ["URL", "Address", "URLPath"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SECURE_SCHEMES = frozenset({"https", "wss"})
# host[:port] where host is a reg-name, an IPv4 address or a bracketed IPv6 literal (RFC 3986
# 3.2.2). A Host header that is not one of these is ignored so it cannot inject a path.
_HOST_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?")
# Characters left as they are when the decoded scope path is percent-encoded back into a URL:
# the RFC 3986 pchar set minus "%", so that unquoting url.path gives scope["path"] back.
_PATH_SAFE = "/:@!$&'()*+,;="
_URL_COMPONENTS = frozenset({"scheme", "netloc", "path", "query", "fragment"})
_NETLOC_COMPONENTS = frozenset({"username", "password", "hostname", "port"})


class Address(NamedTuple):
    """A peer's ``(host, port)``, as in ``scope["client"]`` and ``scope["server"]``."""

    host: str
    port: int


def _unsplit(parts: SplitResult) -> str:
    # urlunsplit drops the "//" when the netloc is empty, turning a path of "//evil.example"
    # into an authority; writing the "//" whenever the path starts with it keeps them apart.
    scheme, netloc, path, query, fragment = parts
    url = f"{scheme}:" if scheme else ""
    if netloc or path.startswith("//") or scheme in _DEFAULT_PORTS:
        if path and not path.startswith("/"):
            path = "/" + path
        url += "//" + netloc
    url += path
    if query:
        url += "?" + query
    if fragment:
        url += "#" + fragment
    return url


def _split_from_scope(scope: Scope) -> SplitResult:
    default_scheme = "ws" if scope.get("type") == "websocket" else "http"
    scheme = scope.get("scheme") or default_scheme
    netloc = ""
    for name, value in scope.get("headers") or ():
        if name.lower() == b"host":
            netloc = value.decode("latin-1")
            break
    if not _HOST_RE.fullmatch(netloc):
        netloc = ""
        server = scope.get("server")
        if server:
            host, port = server[0], server[1]
            host = f"[{host}]" if ":" in host else host
            if port is not None and port != _DEFAULT_PORTS.get(scheme):
                host = f"{host}:{port}"
            netloc = host if _HOST_RE.fullmatch(host) else ""
    # Per ASGI, scope["path"] is decoded and already includes root_path.
    # surrogateescape: servers decode undecodable path bytes that way; encode them back.
    path = quote(scope.get("path", ""), safe=_PATH_SAFE, errors="surrogateescape")
    query = scope.get("query_string", b"").decode("latin-1")
    return SplitResult(scheme, netloc, path, query, "")


def _query_pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, str(item)) for item in values)
    return pairs


class URL:
    """An absolute or relative URL, parsed with ``urlsplit`` only when a part is read.

    ``URL(scope=scope)`` rebuilds the request URL: the scheme, the ``Host`` header (else
    ``scope["server"]`` without a default port), ``scope["path"]`` percent-encoded, and the
    query string. A URL compares equal to another URL or to a ``str`` with the same text.
    """

    __slots__ = ("_parts", "_scope", "_text")

    def __init__(self, url: str = "", *, scope: Scope | None = None, **components: Any) -> None:
        if scope is not None and url:
            raise ValueError("URL() takes a url string or scope=, not both.")
        self._text: str | None = url if scope is None else None
        self._scope = scope
        self._parts: SplitResult | None = None
        if components:
            replaced = self.replace(**components)
            self._text, self._parts, self._scope = replaced._text, replaced._parts, None

    @classmethod
    def _from_parts(cls, parts: SplitResult) -> "URL":
        url = cls()
        url._text, url._parts = _unsplit(parts), parts
        return url

    @property
    def _split(self) -> SplitResult:
        if self._parts is None:
            if self._scope is not None:
                self._parts = _split_from_scope(self._scope)
            else:
                self._parts = urlsplit(str(self))
        return self._parts

    @property
    def scheme(self) -> str:
        return self._split.scheme

    @property
    def netloc(self) -> str:
        return self._split.netloc

    @property
    def path(self) -> str:
        return self._split.path

    @property
    def query(self) -> str:
        return self._split.query

    @property
    def fragment(self) -> str:
        return self._split.fragment

    @property
    def username(self) -> str | None:
        return self._split.username

    @property
    def password(self) -> str | None:
        return self._split.password

    @property
    def hostname(self) -> str | None:
        return self._split.hostname

    @property
    def port(self) -> int | None:
        """The explicit port, or None when absent or not a valid port number."""
        try:
            return self._split.port
        except ValueError:
            return None

    @property
    def is_secure(self) -> bool:
        return self.scheme in _SECURE_SCHEMES

    def replace(self, **components: Any) -> "URL":
        """Return a copy with some of ``scheme``, ``netloc``, ``path``, ``query``, ``fragment``,
        ``hostname``, ``port``, ``username`` or ``password`` replaced (``port=None`` drops it).
        """
        unknown = components.keys() - _URL_COMPONENTS - _NETLOC_COMPONENTS
        if unknown:
            raise TypeError(f"URL.replace() got unknown components: {', '.join(sorted(unknown))}")
        if components.keys() & _NETLOC_COMPONENTS:
            if "netloc" in components:
                raise ValueError("Pass netloc= or hostname/port/username/password, not both.")
            username = components.pop("username", self.username)
            password = components.pop("password", self.password)
            hostname = components.pop("hostname", self.hostname) or ""
            port = components.pop("port", self.port)
            netloc = f"[{hostname}]" if ":" in hostname else hostname
            if port is not None:
                netloc = f"{netloc}:{port}"
            if username is not None or password is not None:
                userinfo = username or ""
                if password is not None:
                    userinfo = f"{userinfo}:{password}"
                netloc = f"{userinfo}@{netloc}"
            components["netloc"] = netloc
        return URL._from_parts(self._split._replace(**components))

    def include_query_params(self, **params: Any) -> "URL":
        """Set these params (a list or tuple value gives repeated keys), keeping the others."""
        kept = [(k, v) for k, v in QueryParams(self.query).multi_items() if k not in params]
        return self.replace(query=urlencode(kept + _query_pairs(params)))

    def replace_query_params(self, **params: Any) -> "URL":
        """Replace the whole query with these params."""
        return self.replace(query=urlencode(_query_pairs(params)))

    def remove_query_params(self, keys: str | Sequence[str]) -> "URL":
        """Drop every value of the given key or keys."""
        drop = {keys} if isinstance(keys, str) else set(keys)
        kept = [(k, v) for k, v in QueryParams(self.query).multi_items() if k not in drop]
        return self.replace(query=urlencode(kept))

    def __str__(self) -> str:
        if self._text is None:
            self._text = _unsplit(self._split)
        return self._text

    def __repr__(self) -> str:
        text = str(self)
        if self.password is not None:
            # Keep credentials out of logs and tracebacks.
            text = str(self.replace(password="********"))
        return f"{type(self).__name__}({text!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, URL | str):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


class URLPath(str):
    """A path from ``url_path_for``: a ``str`` that also knows its protocol and host.

    ``protocol`` is ``"http"``, ``"websocket"`` or ``""`` (keep the base URL's scheme).
    """

    protocol: str
    host: str

    def __new__(cls, path: str, protocol: str = "", host: str = "") -> Self:
        if protocol not in ("http", "websocket", ""):
            raise ValueError(f"protocol must be 'http', 'websocket' or '', got {protocol!r}.")
        self = super().__new__(cls, path)
        self.protocol = protocol
        self.host = host
        return self

    def make_absolute_url(self, base_url: "str | URL") -> URL:
        """Join this path onto ``base_url``'s scheme, netloc and path (the root_path).

        Websocket routes get ``ws``/``wss`` and HTTP routes ``http``/``https``, whatever the
        base URL's scheme; a ``host`` on the path replaces the base URL's netloc.
        """
        base = base_url if isinstance(base_url, URL) else URL(base_url)
        scheme = base.scheme
        if self.protocol == "websocket":
            scheme = "wss" if base.is_secure else "ws"
        elif self.protocol == "http":
            scheme = "https" if base.is_secure else "http"
        path = base.path.rstrip("/") + str(self)
        return URL._from_parts(SplitResult(scheme, self.host or base.netloc, path, "", ""))
