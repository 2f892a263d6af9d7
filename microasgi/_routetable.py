"""Path compiling and the route table: pure functions and data, no I/O.

A path like ``/users/{user_id:int}/posts`` compiles to segments. Fully static
paths live in a dict; the others go into a segment trie whose children are tried
most specific first: a static segment, then a segment mixing text and parameters,
then typed parameters, then ``str``; rest-consumers (``path`` parameters, which
static text may follow, and mounts) last. Lookup cost grows with the depth of the
path, not the route count.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from microasgi.convertors import CONVERTOR_TYPES, RANK_PATH, Convertor

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_][A-Za-z0-9_]*))?\}")
_RANK_MIXED = 3
_NEVER = re.compile(r"(?!)")
# RFC 3986 pchar minus the always-safe unreserved characters: what a built path may hold as is.
_SEGMENT_SAFE = "!$&'()*+,;=:@"
# What a whole path (a redirect's Location, url_path_for(mount_name, path=...)) may keep
# unencoded.
PATH_SAFE = "/!$&'()*+,;=:@"


@dataclass(frozen=True, slots=True)
class SegmentMatcher:
    """How one dynamic segment matches: one convertor, or a regex mixing text and params."""

    key: str
    rank: int
    convertor: Convertor | None = None
    pattern: re.Pattern[str] = _NEVER
    groups: int = 1

    def __post_init__(self) -> None:
        if self.convertor is not None:
            # Frozen dataclass: set the derived field through object.__setattr__.
            object.__setattr__(self, "test", self.convertor.segment_test())

    # The convertor's segment check, a C-level regex call for the built-in convertors.
    test: Callable[[str], object] = field(default=bool, init=False, compare=False, repr=False)

    def match(self, text: str) -> tuple[str, ...] | None:
        if self.convertor is not None:
            return (text,) if self.test(text) else None
        found = self.pattern.fullmatch(text)
        if found is None:
            return None
        return tuple(found.group(f"p{number}") for number in range(self.groups))


@dataclass(frozen=True)
class CompiledPath:
    """A compiled path template.

    ``segments`` holds a str for a static segment and a SegmentMatcher for a
    dynamic one. ``rest`` names the ``path`` parameter that consumes the remainder, and
    ``tail`` is the static text the remainder must end with (``/edit`` in
    ``/files/{p:path}/edit``; "" when the parameter ends the path).
    """

    template: str
    segments: tuple[str | SegmentMatcher, ...]
    param_convertors: dict[str, Convertor]
    param_order: tuple[str, ...]
    rest: str | None = None
    # (name, convert) per parameter but the rest, in path order: built once, used per request.
    converters: tuple[tuple[str, Callable[[str], Any]], ...] = ()
    tail: str = ""

    @property
    def is_static(self) -> bool:
        return self.rest is None and not self.param_convertors

    @property
    def shape(self) -> str:
        """The template with parameter names erased: two paths clash when shapes match."""
        return _PARAM.sub(lambda m: "{:" + (m.group(2) or "str") + "}", self.template)

    def format(self, params: dict[str, Any]) -> str:
        """Fill the template with percent-encoded values.

        Encoding makes the round trip exact: the server decodes the path, so the route
        sees the very value given here (``"a b"`` travels as ``a%20b``).

        Raises:
            ValueError: a value doesn't fit its convertor.
        """

        def fill(found: re.Match[str]) -> str:
            name = found.group(1)
            convertor = self.param_convertors[name]
            text = convertor.to_string(params[name])
            if not convertor.matches(text):
                raise ValueError(f"{text!r} does not fit parameter {name!r}")
            return quote(text, safe=_SEGMENT_SAFE + "/" if name == self.rest else _SEGMENT_SAFE)

        return _PARAM.sub(fill, self.template)


def compile_path(path: str, *, prefix_only: bool = False) -> CompiledPath:
    """Compile a route path (or, with ``prefix_only``, a mount prefix).

    Raises:
        ValueError: the path doesn't start with '/', names an unknown convertor,
            repeats a parameter, or has a ``path`` parameter that does not start a
            segment or is followed by another parameter (static text may follow it).
    """
    if prefix_only:
        path = path.rstrip("/")
    elif not path.startswith("/"):
        raise ValueError(f"Route path {path!r} must start with '/'.")
    if path and not path.startswith("/"):
        raise ValueError(f"Mount path {path!r} must start with '/'.")
    convertors: dict[str, Convertor] = {}
    order: list[str] = []
    segments: list[str | SegmentMatcher] = []
    rest: str | None = None
    raw_segments = path[1:].split("/") if path else []
    tail = ""
    start = 1  # where `raw` starts in `path`
    for raw in raw_segments:
        params = list(_PARAM.finditer(raw))
        text = _PARAM.sub("", raw)
        if "{" in text or "}" in text:
            raise ValueError(
                f"Malformed parameter in path {path!r}: {raw!r}; write {{name}} or {{name:kind}}."
            )
        for found in params:
            name, kind = found.group(1), found.group(2) or "str"
            if kind not in CONVERTOR_TYPES:
                raise ValueError(f"Unknown convertor {kind!r} in path {path!r}.")
            if name in convertors:
                raise ValueError(f"Duplicate parameter {name!r} in path {path!r}.")
            if rest is not None:
                raise ValueError(
                    f"In {path!r}, the 'path' parameter {rest!r} must be the last parameter: "
                    "only static text may follow it."
                )
            convertors[name] = CONVERTOR_TYPES[kind]
            order.append(name)
            if CONVERTOR_TYPES[kind].rank == RANK_PATH:
                if found.start() != 0:
                    raise ValueError(
                        f"In {path!r}, a 'path' parameter must start a segment "
                        f"(write '/{found.group(0)}', not {raw!r})."
                    )
                if prefix_only:
                    raise ValueError(f"Mount path {path!r} cannot hold a 'path' parameter.")
                rest = name
                # The template text after it: what the remainder must end with.
                tail = path[start + found.end() :]
        if rest is None:
            segments.append(_segment_matcher(raw, params) if params else raw)
        start += len(raw) + 1
    converters = tuple((name, convertors[name].converter()) for name in order if name != rest)
    return CompiledPath(path, tuple(segments), convertors, tuple(order), rest, converters, tail)


def _segment_matcher(raw: str, params: list[re.Match[str]]) -> SegmentMatcher:
    if len(params) == 1 and params[0].group(0) == raw:
        kind = params[0].group(2) or "str"
        convertor = CONVERTOR_TYPES[kind]
        return SegmentMatcher(key=kind, rank=convertor.rank, convertor=convertor)
    # Text mixed with parameters, e.g. "{name}.{ext}": one regex for the segment. Its groups
    # are positional so that routes differing only in param names share a node.
    regex = _mixed_regex(raw, params)
    return SegmentMatcher(
        key="re:" + regex, rank=_RANK_MIXED, pattern=re.compile(regex), groups=len(params)
    )


def _mixed_regex(raw: str, params: list[re.Match[str]]) -> str:
    """A regex for ``raw`` whose n-th parameter is the group ``p<n>``."""
    regex, position = "", 0
    for number, found in enumerate(params):
        kind_regex = CONVERTOR_TYPES[found.group(2) or "str"].regex
        regex += re.escape(raw[position : found.start()]) + f"(?P<p{number}>{kind_regex})"
        position = found.end()
    return regex + re.escape(raw[position:])


def compile_host(host: str) -> tuple[CompiledPath, re.Pattern[str]]:
    """Compile a ``Host`` pattern such as ``{tenant}.example.com``.

    Returns the compiled template (for its params and for URL building) and a
    case-insensitive regex whose n-th parameter is the group ``p<n>``.

    Raises:
        ValueError: the host holds '/', a malformed or unknown parameter, or a ``path`` one.
    """
    if not host or "/" in host:
        raise ValueError(f"Host pattern {host!r} must be a non-empty host name without '/'.")
    compiled = compile_path("/" + host)
    if compiled.rest is not None:
        raise ValueError(f"Host pattern {host!r} cannot hold a 'path' parameter.")
    regex = _mixed_regex(host, list(_PARAM.finditer(host)))
    return compiled, re.compile(regex, re.IGNORECASE)


# A matched entry, its raw parameter values, and for rest-consumers (mounts, `path`
# params) the unmatched remainder of the path ("" or starting with "/"). A plain
# tuple: one is built per request.
Candidate = tuple[Any, tuple[str, ...], str | None]
ParamConverter = Callable[[Candidate], dict[str, Any] | None]


def param_converter(compiled: CompiledPath) -> ParamConverter:
    """Build the function turning a candidate's raw values into converted path params
    (None when a convertor refuses a value), specialised for the usual shapes."""
    converters = compiled.converters
    rest = compiled.rest
    if rest is None and len(converters) == 1:
        # One parameter (/users/{id:int}): no loop, no zip.
        name, convert = converters[0]

        def one_param(candidate: Candidate) -> dict[str, Any] | None:
            try:
                return {name: convert(candidate[1][0])}
            except ValueError:
                return None

        return one_param

    def any_params(candidate: Candidate) -> dict[str, Any] | None:
        _, values, remainder = candidate
        params: dict[str, Any] = {}
        if values:
            try:
                for (name, convert), value in zip(converters, values, strict=False):
                    params[name] = convert(value)
            except ValueError:
                return None
        if rest is not None and remainder is not None:
            params[rest] = remainder[1:]
        return params

    return any_params


# A rest-consumer at a trie node: the entry, whether it is a mount, and the static tail
# the remainder must end with ("" for mounts and for `path` params ending the path).
_Rest = tuple[Any, bool, str]


@dataclass(slots=True)  # slots: attribute reads on the lookup path are faster
class _Node:
    static: dict[str, "_Node"] = field(default_factory=dict)
    dynamic: list[tuple[SegmentMatcher, "_Node"]] = field(default_factory=list)
    leaves: list[Any] = field(default_factory=list)
    # Entries that take whatever follows this node: `path` params and mounts, the longest
    # tails first (the most specific), registration order among equals.
    rest: list[_Rest] = field(default_factory=list)


def _rest_remainder(remainder: str, tail: str) -> str | None:
    """``remainder`` ("/" + the rest of the path) as the ``path`` value sees it: "/" + the
    text before ``tail``; None when the remainder does not end with the tail."""
    if not tail:
        return remainder
    # The value may be empty, but the tail cannot overlap the remainder's leading "/".
    if len(remainder) <= len(tail) or not remainder.endswith(tail):
        return None
    return remainder[: -len(tail)]


class RouteTable:
    """Routes of one scope type, indexed by path.

    Entries are opaque to the table; it only needs their compiled path.
    """

    def __init__(self) -> None:
        # Static paths map straight to their candidates, built once here. Public: the
        # router reads it first, before any call.
        self.static: dict[str, list[Candidate]] = {}
        self._root = _Node()

    def add(self, compiled: CompiledPath, entry: Any, *, is_mount: bool = False) -> None:
        """Index ``entry`` under ``compiled`` (registration order breaks ties)."""
        if compiled.is_static and not is_mount:
            self.static.setdefault(compiled.template, []).append((entry, (), None))
            return
        node = self._root
        for segment in compiled.segments:
            node = _child(node, segment)
        if is_mount or compiled.rest is not None:
            node.rest.append((entry, is_mount, compiled.tail))
            node.rest.sort(key=lambda rest: -len(rest[2]))  # stable: ties keep their order
        else:
            node.leaves.append(entry)

    def entries_at(self, compiled: CompiledPath, *, is_mount: bool = False) -> list[Any]:
        """Entries registered with the same path shape (for clash detection)."""
        if compiled.is_static and not is_mount:
            return [entry for entry, _, _ in self.static.get(compiled.template, ())]
        node: _Node | None = self._root
        for segment in compiled.segments:
            node = _find_child(node, segment) if node is not None else None
        if node is None:
            return []
        if is_mount or compiled.rest is not None:
            return [
                entry
                for entry, mount, tail in node.rest
                if mount == is_mount and tail == compiled.tail
            ]
        return list(node.leaves)

    def first(self, path: str) -> Candidate | None:
        """The most specific trie entry for ``path``, or None: the hot path's lookup for a
        path the caller already found no ``static`` entry for.

        Plain recursion, no generators; when the router can't use this entry (wrong
        method, a convertor refusing the value) it falls back to ``match``.
        """
        if not path.startswith("/"):
            return None
        return _first(self._root, path[1:].split("/"), 0, ())

    def match(self, path: str) -> Iterator[Candidate]:
        """Iterate over the entries matching ``path``, most specific first (lazily)."""
        static = self.static.get(path)
        if static:
            # Split and walk only if no static entry serves (a 405 needs them all).
            return _then_walk(static, self._root, path)
        if not path.startswith("/"):
            return iter(())
        return _walk(self._root, path[1:].split("/"), 0, ())


def _then_walk(static: list[Candidate], root: "_Node", path: str) -> Iterator[Candidate]:
    yield from static
    yield from _walk(root, path[1:].split("/"), 0, ())


def _child(node: _Node, segment: str | SegmentMatcher) -> _Node:
    if isinstance(segment, str):
        return node.static.setdefault(segment, _Node())
    for matcher, child in node.dynamic:
        if matcher.key == segment.key:
            return child
    child = _Node()
    node.dynamic.append((segment, child))
    # Stable sort: equal ranks keep registration order.
    node.dynamic.sort(key=lambda pair: -pair[0].rank)
    return child


def _find_child(node: _Node, segment: str | SegmentMatcher) -> _Node | None:
    if isinstance(segment, str):
        return node.static.get(segment)
    for matcher, child in node.dynamic:
        if matcher.key == segment.key:
            return child
    return None


def _first(
    node: _Node, segments: list[str], index: int, values: tuple[str, ...]
) -> Candidate | None:
    """The first candidate ``_walk`` would yield, found without generators."""
    # Descend without recursing while there is one way down (the usual case); only a
    # node offering a choice (static and dynamic children, or rest-consumers) recurses.
    count = len(segments)
    while index < count and not node.rest:
        segment = segments[index]
        dynamic = node.dynamic
        child = node.static.get(segment)
        if child is not None:
            if dynamic:
                break
        elif len(dynamic) == 1:
            matcher, child = dynamic[0]
            if matcher.convertor is not None:  # one parameter: one C call, no tuple to build
                if not matcher.test(segment):
                    return None
                values += (segment,)
            else:
                groups = matcher.match(segment)
                if groups is None:
                    return None
                values += groups
        else:
            break
        node = child
        index += 1
    if index == count:
        if node.leaves:
            return node.leaves[0], values, None
        for entry, is_mount, _tail in node.rest:
            if is_mount:
                return entry, values, ""
        return None
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        found = _first(child, segments, index + 1, values)
        if found is not None:
            return found
    for matcher, child in node.dynamic:
        groups = matcher.match(segment)
        if groups is not None:
            found = _first(child, segments, index + 1, values + groups)
            if found is not None:
                return found
    if node.rest:
        remainder = "/" + "/".join(segments[index:])
        for entry, _is_mount, tail in node.rest:
            value = _rest_remainder(remainder, tail)
            if value is not None:
                return entry, values, value
    return None


def _walk(
    node: _Node, segments: list[str], index: int, values: tuple[str, ...]
) -> Iterator[Candidate]:
    if index == len(segments):
        for entry in node.leaves:
            yield entry, values, None
        for entry, is_mount, _tail in node.rest:
            if is_mount:
                yield entry, values, ""
        return
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        yield from _walk(child, segments, index + 1, values)
    for matcher, child in node.dynamic:
        groups = matcher.match(segment)
        if groups is not None:
            yield from _walk(child, segments, index + 1, values + groups)
    if node.rest:
        remainder = "/" + "/".join(segments[index:])
        for entry, _is_mount, tail in node.rest:
            value = _rest_remainder(remainder, tail)
            if value is not None:
                yield entry, values, value
