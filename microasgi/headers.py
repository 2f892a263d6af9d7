"""HTTP headers: ``Headers`` (immutable, case-insensitive, over raw ASGI pairs) and
``MutableHeaders``, and the one check every header name and value passes.

Value types: they never talk to the connection. Also re-exported by
``microasgi.datastructures``.
"""

import re
from collections.abc import Iterator, Mapping
from typing import TypeVar, overload

from microasgi.types import RawHeaders, Scope

__all__ = ["Headers", "MutableHeaders"]

_T = TypeVar("_T")


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
