"""Multi-mappings: the read-only base shared with ``FormData``, and ``QueryParams``
(a parsed query string).

Value types: they never talk to the connection. ``QueryParams`` is also re-exported by
``microasgi.datastructures``.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode

__all__ = ["QueryParams"]

_V = TypeVar("_V")


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
