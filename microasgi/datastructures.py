"""Value types built per request: URL, URLPath, Headers, QueryParams, FormData, UploadFile, State.

They hold data and parse it lazily; they never talk to the connection. The only I/O is
UploadFile's file access, which runs in a worker thread once the file lives on disk.
This module knows nothing about requests, responses or routing.
"""

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import IO, Any, NamedTuple, Self, TypeVar, overload
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

from microasgi._concurrency import run_file_io
from microasgi.types import RawHeaders, Scope

__all__ = [
    "URL",
    "Address",
    "FormData",
    "Headers",
    "MutableHeaders",
    "QueryParams",
    "State",
    "URLPath",
    "UploadFile",
]

_T = TypeVar("_T")
_V = TypeVar("_V")

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


_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_RE = re.compile(r"[\r\n\0]")


def _check_header_text(what: str, text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"Header {what} must be str, got {type(text).__name__}: {text!r}")
    if _FORBIDDEN_RE.search(text):
        raise ValueError(f"Header {what} must not contain CR, LF or NUL: {text!r}")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"Header {what} {text!r} is not latin-1 encodable; percent-encode it "
            "(or use RFC 8187 encoding) before setting it."
        ) from None


def _encode_header(name: str, value: str) -> tuple[bytes, bytes]:
    raw_name = _check_header_text("name", name)
    if not _TOKEN_RE.fullmatch(name):
        raise ValueError(f"Header name must be an HTTP token (RFC 9110 5.6.2), got {name!r}")
    return raw_name.lower(), _check_header_text("value", value)


def _lookup_name(key: object) -> bytes | None:
    if not isinstance(key, str):
        return None
    try:
        return key.lower().encode("latin-1")
    except UnicodeEncodeError:
        return None


class Headers(Mapping[str, str]):
    """Immutable, case-insensitive multi-mapping over raw ASGI headers.

    Built from a ``Mapping[str, str]``, from ``raw=`` (a list of ``(name, value)`` bytes pairs,
    used as is) or from ``scope=`` (``scope["headers"]``). Nothing is decoded until asked;
    names and values decode as latin-1, so any bytes are readable. ``headers[key]`` and
    ``get`` give the first value, ``getlist`` all of them; ``keys()``, ``values()``,
    ``items()`` and ``len()`` count every entry, duplicates included.
    """

    __slots__ = ("_list",)

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        *,
        raw: RawHeaders | None = None,
        scope: Scope | None = None,
    ) -> None:
        if (headers is not None) + (raw is not None) + (scope is not None) > 1:
            raise ValueError("Headers() takes at most one of headers, raw= or scope=.")
        self._list: RawHeaders
        if raw is not None:
            self._list = raw
        elif scope is not None:
            items = scope.get("headers")
            # ASGI allows any iterable of pairs; copy only when it is not already a list.
            self._list = items if type(items) is list else [(k, v) for k, v in items or ()]
        elif headers is not None:
            self._list = [_encode_header(k, v) for k, v in headers.items()]
        else:
            self._list = []

    @property
    def raw(self) -> RawHeaders:
        """The underlying list of ``(lowercase name, value)`` bytes pairs."""
        return self._list

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key``, in order; empty when absent."""
        name = _lookup_name(key)
        return [v.decode("latin-1") for n, v in self._list if n.lower() == name]

    def _first(self, key: object) -> str | None:
        name = _lookup_name(key)
        for n, v in self._list:
            if n.lower() == name:
                return v.decode("latin-1")
        return None

    def __getitem__(self, key: str) -> str:
        value = self._first(key)
        if value is None:
            raise KeyError(key)
        return value

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str | _T) -> str | _T: ...
    def get(self, key: str, default: object = None) -> object:
        value = self._first(key)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return self._first(key) is not None

    # keys/values/items are lists of every entry, not set-like views: headers repeat.
    def keys(self) -> list[str]:  # type: ignore[override]
        return [n.lower().decode("latin-1") for n, _ in self._list]

    def values(self) -> list[str]:  # type: ignore[override]
        return [v.decode("latin-1") for _, v in self._list]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(n.lower().decode("latin-1"), v.decode("latin-1")) for n, v in self._list]

    def __len__(self) -> int:
        return len(self._list)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return sorted((n.lower(), v) for n, v in self._list) == sorted(
            (n.lower(), v) for n, v in other._list
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        items = self.items()
        if len({k for k, _ in items}) == len(items):
            return f"{type(self).__name__}({dict(items)!r})"
        return f"{type(self).__name__}(raw={self._list!r})"

    def mutablecopy(self) -> "MutableHeaders":
        return MutableHeaders(raw=list(self._list))


class MutableHeaders(Headers):
    """Headers that edit their raw list in place.

    ``MutableHeaders(scope=message)`` edits ``message["headers"]`` (creating it if missing),
    ``MutableHeaders(raw=lst)`` edits ``lst``. Setters store names lowercased and raise
    ValueError for a name that is not an HTTP token, a name or value holding CR, LF or NUL,
    or text that is not latin-1. Deleting a missing header does nothing.
    """

    __slots__ = ()

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        *,
        raw: RawHeaders | None = None,
        scope: Scope | None = None,
    ) -> None:
        super().__init__(headers, raw=raw, scope=scope)
        if scope is not None and scope.get("headers") is not self._list:
            scope["headers"] = self._list

    def __setitem__(self, key: str, value: str) -> None:
        """Replace every value of ``key`` with ``value``, at the place of the first one."""
        name, raw_value = _encode_header(key, value)
        found = [i for i, (n, _) in enumerate(self._list) if n.lower() == name]
        if not found:
            self._list.append((name, raw_value))
            return
        self._list[found[0]] = (name, raw_value)
        for index in reversed(found[1:]):
            del self._list[index]

    def __delitem__(self, key: str) -> None:
        name = _lookup_name(key)
        self._list[:] = [(n, v) for n, v in self._list if n.lower() != name]

    def setdefault(self, key: str, value: str) -> str:
        """Return the first value of ``key``, setting it to ``value`` first if absent."""
        existing = self._first(key)
        if existing is not None:
            return existing
        self[key] = value
        return value

    def update(self, headers: Mapping[str, str]) -> None:
        """Set each header of ``headers`` (replacing existing values of that name)."""
        for key, value in headers.items():
            self[key] = value

    def append(self, key: str, value: str) -> None:
        """Add a value for ``key`` after any existing ones (e.g. another ``set-cookie``)."""
        self._list.append(_encode_header(key, value))

    def add_vary_header(self, value: str) -> None:
        """Add the tokens of ``value`` to ``Vary``, skipping tokens already listed."""
        tokens = [t.strip() for t in self.get("vary", "").split(",") if t.strip()]
        if "*" in tokens:  # "Vary: *" already covers every header.
            return
        seen = {t.lower() for t in tokens}
        for token in (t.strip() for t in value.split(",")):
            if token and token.lower() not in seen:
                tokens.append(token)
                seen.add(token.lower())
        self["vary"] = ", ".join(tokens)


class _MultiMapping(Mapping[str, _V]):
    """Read-only multi-mapping: ``m[key]`` and ``get`` give the FIRST value of a key (like
    Headers); ``getlist`` every value; ``keys``/``values``/``items`` one entry per key;
    ``multi_items`` every pair in order.
    """

    __slots__ = ("_dict", "_list")

    def __init__(self, pairs: list[tuple[str, _V]] | None) -> None:
        self._list = pairs
        self._dict: dict[str, _V] | None = None

    def _pairs(self) -> list[tuple[str, _V]]:
        return self._list or []

    def _first_values(self) -> dict[str, _V]:
        if self._dict is None:
            first: dict[str, _V] = {}
            for key, value in self._pairs():
                first.setdefault(key, value)
            self._dict = first
        return self._dict

    def getlist(self, key: str) -> list[_V]:
        return [v for k, v in self._pairs() if k == key]

    def multi_items(self) -> list[tuple[str, _V]]:
        return list(self._pairs())

    def __getitem__(self, key: str) -> _V:
        return self._first_values()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._first_values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._first_values())

    def __len__(self) -> int:
        return len(self._first_values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return sorted(self._pairs(), key=_pair_key) == sorted(other._pairs(), key=_pair_key)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.multi_items()!r})"


def _pair_key(pair: tuple[str, object]) -> tuple[str, str]:
    # Values may be UploadFiles, which do not order; sort by key, then by text.
    return pair[0], str(pair[1])


class QueryParams(_MultiMapping[str]):
    """Query string parameters; a str or bytes query is parsed on first use.

    Parsing never raises: blank values are kept, malformed percent-escapes stay literal and
    invalid UTF-8 becomes U+FFFD. ``str()`` gives the urlencoded form.
    """

    __slots__ = ("_query",)

    def __init__(
        self,
        params: str | bytes | Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self._query = ""
        if params is None or isinstance(params, str):
            super().__init__(None)
            self._query = params or ""
        elif isinstance(params, bytes):
            super().__init__(None)
            self._query = params.decode("utf-8", "replace")
        elif isinstance(params, QueryParams):
            super().__init__(params.multi_items())
        elif isinstance(params, Mapping):
            super().__init__([(str(k), str(v)) for k, v in params.items()])
        else:
            super().__init__([(str(k), str(v)) for k, v in params])

    def _pairs(self) -> list[tuple[str, str]]:
        if self._list is None:
            self._list = parse_qsl(self._query, keep_blank_values=True, errors="replace")
        return self._list

    def __str__(self) -> str:
        return urlencode(self._pairs())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class UploadFile:
    """A file received in a multipart form.

    I/O happens inline while the file is an in-memory ``SpooledTemporaryFile`` and in a
    worker thread once it has rolled to disk (or for any other file object), so a large
    upload never blocks the event loop.
    """

    __slots__ = ("file", "filename", "headers", "size")

    def __init__(
        self,
        file: IO[bytes],
        *,
        size: int | None = None,
        filename: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        self.file = file
        self.size = size
        self.filename = filename
        self.headers = headers if headers is not None else Headers()

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def _in_memory(self, extra: int = 0) -> bool:
        # SpooledTemporaryFile keeps a private _rolled flag; anything else counts as on disk.
        if getattr(self.file, "_rolled", True):
            return False
        max_size = getattr(self.file, "_max_size", 0)
        # A write that pushes past max_size rolls over, writing to disk: do it in a thread.
        return not max_size or self.file.tell() + extra <= max_size

    async def read(self, size: int = -1) -> bytes:
        if self._in_memory():
            return self.file.read(size)
        return await run_file_io(self.file.read, size)

    async def write(self, data: bytes) -> None:
        """Append ``data`` at the current position; ``size`` grows by ``len(data)``."""
        self.size = (self.size or 0) + len(data)
        if self._in_memory(len(data)):
            self.file.write(data)
        else:
            await run_file_io(self.file.write, data)

    async def seek(self, offset: int) -> None:
        if self._in_memory():
            self.file.seek(offset)
        else:
            await run_file_io(self.file.seek, offset)

    async def close(self) -> None:
        if self.file.closed:  # closing twice is fine (`async with form`, then the router)
            return
        if self._in_memory():
            self.file.close()
        else:
            await run_file_io(self.file.close)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(filename={self.filename!r}, size={self.size!r}, "
            f"headers={self.headers!r})"
        )


class FormData(_MultiMapping[str | UploadFile]):
    """Parsed form fields and files; ``async with form:`` closes every file on exit."""

    __slots__ = ()

    def __init__(
        self,
        form: Mapping[str, str | UploadFile] | Iterable[tuple[str, str | UploadFile]] | None = None,
    ) -> None:
        if isinstance(form, _MultiMapping):
            super().__init__(form.multi_items())
        elif isinstance(form, Mapping):
            super().__init__(list(form.items()))
        else:
            super().__init__(list(form or ()))

    async def close(self) -> None:
        """Close every UploadFile in the form."""
        for _, value in self._pairs():
            if isinstance(value, UploadFile):
                await value.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class State:
    """An attribute bag over a dict (``_state``), for ``app.state`` and ``request.state``.

    The dict is used as given, not copied, so ``State(dict(other._state))`` costs one
    shallow dict copy.
    """

    __slots__ = ("_state",)

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_state", {} if state is None else state)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_state":
            object.__setattr__(self, name, value)
        else:
            self._state[name] = value

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; "_state" itself missing means a half-built
        # object (copy/pickle), which must not recurse.
        if name != "_state":
            try:
                return self._state[name]
            except KeyError:
                pass
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        try:
            del self._state[name]
        except KeyError:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}'"
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._state!r})"
