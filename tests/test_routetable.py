"""The pure path compiler and RouteTable: compiling, match order, clashes, cost. No event loop."""

import re
from collections.abc import Iterator
from typing import Any

import pytest

from microasgi import _routetable
from microasgi._routetable import (
    Candidate,
    CompiledPath,
    RouteTable,
    SegmentMatcher,
    compile_host,
    compile_path,
)
from microasgi.convertors import CONVERTOR_TYPES, Convertor


def table_of(*paths: str) -> RouteTable:
    """A table whose entries are the path templates themselves."""
    table = RouteTable()
    for path in paths:
        table.add(compile_path(path), path)
    return table


def first(table: RouteTable, path: str) -> Candidate | None:
    return next(table.match(path), None)


def order(table: RouteTable, path: str) -> list[Any]:
    return [entry for entry, _values, _rest in table.match(path)]


# compile_path ---------------------------------------------------------------------------


def test_static_path_compiles_to_static_segments() -> None:
    compiled = compile_path("/users/me")
    assert compiled.segments == ("users", "me")
    assert compiled.is_static
    assert compiled.param_order == ()


def test_root_path_is_one_empty_segment() -> None:
    compiled = compile_path("/")
    assert compiled.segments == ("",)
    assert compiled.is_static


def test_parameter_without_kind_uses_the_str_convertor() -> None:
    compiled = compile_path("/users/{name}")
    assert compiled.param_convertors == {"name": CONVERTOR_TYPES["str"]}
    assert not compiled.is_static


def test_parameters_are_recorded_in_path_order() -> None:
    compiled = compile_path("/{b:int}/{a}/{c:uuid}")
    assert compiled.param_order == ("b", "a", "c")


def test_path_parameter_becomes_the_rest_not_a_segment() -> None:
    compiled = compile_path("/files/{file:path}")
    assert compiled.segments == ("files",)
    assert compiled.rest == "file"


def test_mixed_segment_compiles_to_one_regex_matcher() -> None:
    compiled = compile_path("/{name}.{ext}")
    matcher = compiled.segments[0]
    assert isinstance(matcher, SegmentMatcher)
    assert matcher.match("report.tar.gz") == ("report.tar", "gz")
    assert matcher.match("noext") is None


def test_mixed_segments_differing_in_names_share_a_key() -> None:
    one = compile_path("/{a}.{b}").segments[0]
    two = compile_path("/{x}.{y}").segments[0]
    assert isinstance(one, SegmentMatcher)
    assert isinstance(two, SegmentMatcher)
    assert one.key == two.key


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("users", "must start with '/'"),
        ("", "must start with '/'"),
        ("/users/{id:number}", "Unknown convertor 'number'"),
        ("/{id}/{id:int}", "Duplicate parameter 'id'"),
        ("/{rest:path}/{id}", "'path' parameter 'rest' must be the last parameter"),
        ("/files/x{rest:path}", "'path' parameter must start a segment"),
        ("/{a}{b:path}", "'path' parameter must start a segment"),
        ("/users/{id", "Malformed parameter"),
        ("/users/id}", "Malformed parameter"),
        ("/users/{id}}", "Malformed parameter"),
        ("/users/{1id}", "Malformed parameter"),
    ],
)
def test_compile_errors_name_the_problem(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_path(path)


def test_mount_prefix_drops_the_trailing_slash() -> None:
    compiled = compile_path("/api/", prefix_only=True)
    assert compiled.template == "/api"
    assert compiled.segments == ("api",)


def test_mount_prefix_of_slash_is_empty() -> None:
    assert compile_path("/", prefix_only=True).segments == ()


def test_mount_prefix_must_start_with_a_slash() -> None:
    with pytest.raises(ValueError, match="Mount path 'api' must start with '/'"):
        compile_path("api", prefix_only=True)


def test_mount_prefix_cannot_hold_a_path_parameter() -> None:
    with pytest.raises(ValueError, match="cannot hold a 'path' parameter"):
        compile_path("/files/{rest:path}", prefix_only=True)


def test_shape_erases_parameter_names() -> None:
    assert compile_path("/users/{id:int}/{name}").shape == "/users/{:int}/{:str}"


# CompiledPath.format --------------------------------------------------------------------


def test_format_fills_converted_values() -> None:
    compiled = compile_path("/users/{id:int}/posts/{slug}")
    assert compiled.format({"id": 7, "slug": "hello"}) == "/users/7/posts/hello"


def test_format_percent_encodes_values() -> None:
    compiled = compile_path("/tags/{tag}")
    assert compiled.format({"tag": "a b?c#d%"}) == "/tags/a%20b%3Fc%23d%25"


def test_format_keeps_slashes_of_a_path_parameter() -> None:
    compiled = compile_path("/files/{file:path}")
    assert compiled.format({"file": "css/site main.css"}) == "/files/css/site%20main.css"


def test_format_refuses_a_value_its_convertor_would_not_match() -> None:
    compiled = compile_path("/tags/{tag}")
    with pytest.raises(ValueError, match="no '/'"):
        compiled.format({"tag": "a/b"})


def test_format_refuses_text_that_fails_the_convertor_regex() -> None:
    class Lower(Convertor):
        regex = "[a-z]+"

        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: Any) -> str:
            return str(value)

    compiled = CompiledPath("/{word}", (), {"word": Lower()}, ("word",))
    with pytest.raises(ValueError, match="does not fit parameter 'word'"):
        compiled.format({"word": "ABC"})


# RouteTable.match -----------------------------------------------------------------------


def test_static_path_is_found_in_the_static_dict() -> None:
    table = table_of("/users/me")
    assert first(table, "/users/me") == ("/users/me", (), None)


def test_unknown_path_yields_nothing() -> None:
    assert first(table_of("/users/me", "/users/{id:int}"), "/nothing") is None


def test_path_without_leading_slash_yields_nothing() -> None:
    assert first(table_of("/{name}"), "name") is None


def test_parameter_values_are_yielded_raw() -> None:
    assert first(table_of("/users/{id:int}"), "/users/42") == ("/users/{id:int}", ("42",), None)


def test_static_segment_beats_parameter_at_the_same_position() -> None:
    table = table_of("/users/{name}/edit", "/users/me/{action}")
    assert order(table, "/users/me/edit") == ["/users/me/{action}", "/users/{name}/edit"]


def test_typed_parameter_beats_str_whatever_the_registration_order() -> None:
    table = table_of("/items/{name}", "/items/{id:int}")
    assert order(table, "/items/5") == ["/items/{id:int}", "/items/{name}"]


def test_str_beats_path() -> None:
    table = table_of("/files/{rest:path}", "/files/{name}")
    assert order(table, "/files/a") == ["/files/{name}", "/files/{rest:path}"]


def test_mixed_segment_beats_a_plain_parameter() -> None:
    table = table_of("/{name}", "/{stem}.{ext}")
    assert order(table, "/a.txt") == ["/{stem}.{ext}", "/{name}"]


def test_equal_specificity_keeps_registration_order() -> None:
    table = RouteTable()
    table.add(compile_path("/things/{a}"), "first")
    table.add(compile_path("/things/{b}"), "second")
    assert order(table, "/things/x") == ["first", "second"]


def test_typed_convertors_of_equal_rank_keep_registration_order() -> None:
    table = table_of("/n/{x:float}", "/n/{x:int}")
    assert order(table, "/n/5") == ["/n/{x:float}", "/n/{x:int}"]


def test_path_parameter_receives_the_rest_with_a_leading_slash() -> None:
    assert first(table_of("/files/{rest:path}"), "/files/a/b.txt") == (
        "/files/{rest:path}",
        (),
        "/a/b.txt",
    )


def test_path_parameter_matches_an_empty_rest_after_a_slash() -> None:
    assert first(table_of("/files/{rest:path}"), "/files/") == ("/files/{rest:path}", (), "/")


def test_path_parameter_needs_its_segment() -> None:
    assert first(table_of("/files/{rest:path}"), "/files") is None


def test_mount_matches_its_own_prefix_with_an_empty_rest() -> None:
    table = RouteTable()
    table.add(compile_path("/api", prefix_only=True), "mount", is_mount=True)
    assert first(table, "/api") == ("mount", (), "")
    assert first(table, "/api/users/1") == ("mount", (), "/users/1")
    assert first(table, "/apiary") is None


def test_a_route_below_a_mount_prefix_beats_the_mount() -> None:
    table = RouteTable()
    table.add(compile_path("/api", prefix_only=True), "mount", is_mount=True)
    table.add(compile_path("/api/{id:int}"), "route")
    assert order(table, "/api/3") == ["route", "mount"]


def test_empty_segments_do_not_match_parameters() -> None:
    assert first(table_of("/a/{name}/b"), "/a//b") is None


def test_double_slash_path_matches_only_a_route_with_empty_segments() -> None:
    table = table_of("/{name}")
    assert first(table, "//") is None
    assert first(table, "//evil.example") is None


# Clash detection ------------------------------------------------------------------------


def test_entries_at_finds_a_static_twin() -> None:
    table = table_of("/about")
    assert table.entries_at(compile_path("/about")) == ["/about"]


def test_entries_at_finds_a_parameter_route_with_other_names() -> None:
    table = table_of("/users/{id}")
    assert table.entries_at(compile_path("/users/{name}")) == ["/users/{id}"]


def test_entries_at_tells_kinds_apart() -> None:
    table = table_of("/users/{id:int}")
    assert table.entries_at(compile_path("/users/{id}")) == []


def test_entries_at_finds_nothing_below_an_unknown_branch() -> None:
    table = table_of("/users/{id:int}")
    assert table.entries_at(compile_path("/groups/{id:int}")) == []
    assert table.entries_at(compile_path("/users/{id:int}/{x}/{y}")) == []


def test_entries_at_finds_a_path_parameter_twin() -> None:
    table = table_of("/files/{a:path}")
    assert table.entries_at(compile_path("/files/{b:path}")) == ["/files/{a:path}"]


def test_entries_at_keeps_mounts_and_routes_apart() -> None:
    table = RouteTable()
    table.add(compile_path("/static", prefix_only=True), "mount", is_mount=True)
    table.add(compile_path("/static/{rest:path}"), "route")
    assert table.entries_at(compile_path("/static", prefix_only=True), is_mount=True) == ["mount"]
    assert table.entries_at(compile_path("/static/{x:path}")) == ["route"]


# Hosts ----------------------------------------------------------------------------------


def test_compile_host_matches_case_insensitively_with_positional_groups() -> None:
    compiled, pattern = compile_host("{tenant}.Example.com")
    found = pattern.fullmatch("acme.example.COM")
    assert found is not None
    assert found.group("p0") == "acme"
    assert compiled.param_order == ("tenant",)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("", "non-empty host name"),
        ("example.com/api", "without '/'"),
        ("{rest:path}", "cannot hold a 'path' parameter"),
        ("{sub:nope}.example.com", "Unknown convertor 'nope'"),
    ],
)
def test_compile_host_errors(host: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_host(host)


# Cost -----------------------------------------------------------------------------------


def count_walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every trie node the matcher visits (``_walk`` calls itself through the module)."""
    calls = [0]
    real_walk = _routetable._walk

    def counting_walk(*args: Any) -> Iterator[Candidate]:
        calls[0] += 1
        return real_walk(*args)

    monkeypatch.setattr(_routetable, "_walk", counting_walk)
    return calls


@pytest.mark.parametrize("route_count", [10, 1000])
def test_nodes_visited_do_not_grow_with_the_route_count(
    monkeypatch: pytest.MonkeyPatch, route_count: int
) -> None:
    table = table_of(*(f"/section{index}/{{id:int}}/items" for index in range(route_count)))
    calls = count_walks(monkeypatch)
    last = f"/section{route_count - 1}/5/items"
    assert first(table, last) == (f"/section{route_count - 1}/{{id:int}}/items", ("5",), None)
    # root, section node, int node, items node: one visit per path segment plus the root.
    assert calls[0] == 4
