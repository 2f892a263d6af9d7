import copy
import io
import pickle
import tempfile
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from microasgi.datastructures import (
    URL,
    Address,
    FormData,
    Headers,
    MutableHeaders,
    QueryParams,
    State,
    UploadFile,
    URLPath,
)
from microasgi.types import Scope


def http_scope(**overrides: Any) -> Scope:
    scope: Scope = {
        "type": "http",
        "scheme": "http",
        "server": ("testserver", 80),
        "path": "/",
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    scope.update(overrides)
    return scope


# Address


def test_address_is_a_named_pair() -> None:
    address = Address("127.0.0.1", 8000)
    assert address.host == "127.0.0.1"
    assert address.port == 8000
    assert address == ("127.0.0.1", 8000)


# URL from a string


def test_url_components_from_string() -> None:
    url = URL("https://user:secret@Example.COM:8443/a/b?x=1&y=2#frag")
    assert url.scheme == "https"
    assert url.netloc == "user:secret@Example.COM:8443"
    assert url.path == "/a/b"
    assert url.query == "x=1&y=2"
    assert url.fragment == "frag"
    assert url.username == "user"
    assert url.password == "secret"
    assert url.hostname == "example.com"
    assert url.port == 8443
    assert url.is_secure


def test_url_is_secure_for_wss_only_among_websocket_schemes() -> None:
    assert URL("wss://h/").is_secure
    assert not URL("ws://h/").is_secure
    assert not URL("http://h/").is_secure


def test_url_without_port_or_credentials() -> None:
    url = URL("http://example.com/")
    assert url.port is None
    assert url.username is None
    assert url.password is None


def test_url_invalid_port_reads_as_none() -> None:
    assert URL("http://example.com:abc/").port is None
    assert URL("http://example.com:99999/").port is None


def test_url_str_is_the_text_given() -> None:
    assert str(URL("http://example.com/a?b=1")) == "http://example.com/a?b=1"


def test_url_empty() -> None:
    url = URL()
    assert str(url) == ""
    assert url.path == ""


def test_url_equals_url_and_str_with_same_text() -> None:
    url = URL("http://example.com/")
    assert url == URL("http://example.com/")
    assert url == "http://example.com/"
    assert url != "http://example.com"
    assert url != 42
    assert hash(url) == hash("http://example.com/")
    assert len({url, URL("http://example.com/")}) == 1


def test_url_repr_masks_password() -> None:
    assert repr(URL("http://user:secret@h/")) == "URL('http://user:********@h/')"
    assert repr(URL("http://h/")) == "URL('http://h/')"


def test_url_with_components_builds_from_them() -> None:
    url = URL(scheme="https", netloc="example.com", path="/p", query="a=1")
    assert str(url) == "https://example.com/p?a=1"


def test_url_string_with_components_replaces() -> None:
    assert str(URL("http://example.com/a", path="/b")) == "http://example.com/b"


def test_url_rejects_string_and_scope_together() -> None:
    with pytest.raises(ValueError, match="not both"):
        URL("http://x/", scope=http_scope())


# URL from a scope


def test_url_from_scope_drops_default_http_port() -> None:
    url = URL(scope=http_scope(path="/items", query_string=b"q=1"))
    assert str(url) == "http://testserver/items?q=1"


def test_url_from_scope_drops_default_https_port() -> None:
    url = URL(scope=http_scope(scheme="https", server=("example.com", 443)))
    assert str(url) == "https://example.com/"


def test_url_from_scope_keeps_non_default_port() -> None:
    url = URL(scope=http_scope(server=("example.com", 8000), path="/x"))
    assert str(url) == "http://example.com:8000/x"
    assert url.port == 8000


def test_url_from_scope_https_port_80_is_not_default() -> None:
    url = URL(scope=http_scope(scheme="https", server=("example.com", 80)))
    assert str(url) == "https://example.com:80/"


def test_url_from_scope_host_header_wins() -> None:
    scope = http_scope(headers=[(b"accept", b"*/*"), (b"host", b"example.org:8080")])
    assert str(URL(scope=scope)) == "http://example.org:8080/"


def test_url_from_scope_host_header_is_kept_verbatim() -> None:
    scope = http_scope(headers=[(b"host", b"example.org:80")])
    assert URL(scope=scope).netloc == "example.org:80"


def test_url_from_scope_ipv6_server_is_bracketed() -> None:
    url = URL(scope=http_scope(server=("::1", 8000)))
    assert str(url) == "http://[::1]:8000/"
    assert url.hostname == "::1"
    assert url.port == 8000


def test_url_from_scope_ipv6_host_header() -> None:
    url = URL(scope=http_scope(headers=[(b"host", b"[2001:db8::1]:9000")]))
    assert url.hostname == "2001:db8::1"
    assert url.port == 9000


def test_url_from_scope_ignores_host_header_that_is_not_a_host() -> None:
    scope = http_scope(headers=[(b"host", b"evil.example/x?y#z")], path="/real")
    url = URL(scope=scope)
    assert str(url) == "http://testserver/real"


def test_url_from_scope_ignores_empty_host_header() -> None:
    assert URL(scope=http_scope(headers=[(b"host", b"")])).netloc == "testserver"


def test_url_from_scope_host_header_with_non_ascii_bytes_does_not_crash() -> None:
    url = URL(scope=http_scope(headers=[(b"host", b"\xff\xfe")]))
    assert url.netloc == "testserver"


def test_url_from_scope_websocket_defaults_to_ws() -> None:
    scope = http_scope(type="websocket", server=("example.com", 80), path="/ws")
    del scope["scheme"]
    assert str(URL(scope=scope)) == "ws://example.com/ws"


def test_url_from_scope_http_defaults_to_http() -> None:
    scope = http_scope()
    del scope["scheme"]
    assert URL(scope=scope).scheme == "http"


def test_url_from_scope_wss_drops_443() -> None:
    scope = http_scope(type="websocket", scheme="wss", server=("example.com", 443))
    assert str(URL(scope=scope)) == "wss://example.com/"


def test_url_from_scope_does_not_prepend_root_path() -> None:
    scope = http_scope(root_path="/api", path="/api/users")
    assert URL(scope=scope).path == "/api/users"


def test_url_from_scope_without_server_or_host() -> None:
    scope = http_scope(path="/p")
    del scope["server"]
    url = URL(scope=scope)
    assert url.netloc == ""
    assert url.path == "/p"
    assert str(url) == "http:///p"


def test_url_from_scope_unix_socket_server_is_not_a_netloc() -> None:
    url = URL(scope=http_scope(server=("/tmp/app.sock", None)))
    assert url.netloc == ""


def test_url_from_scope_server_without_port() -> None:
    assert URL(scope=http_scope(server=("example.com", None))).netloc == "example.com"


def test_url_from_scope_missing_headers_key() -> None:
    scope = http_scope()
    del scope["headers"]
    assert URL(scope=scope).netloc == "testserver"


def test_url_from_scope_percent_encodes_decoded_path() -> None:
    url = URL(scope=http_scope(path="/a b/ü/50%/?#"))
    assert url.path == "/a%20b/%C3%BC/50%25/%3F%23"
    assert url.query == ""


def test_url_from_scope_path_starting_with_two_slashes_stays_a_path() -> None:
    scope = http_scope(path="//evil.example/x")
    del scope["server"]
    url = URL(scope=scope)
    assert URL(str(url)).netloc == ""
    assert URL(str(url)).path == "//evil.example/x"


def test_url_from_scope_query_is_latin1_decoded() -> None:
    url = URL(scope=http_scope(query_string=b"a=\xff"))
    assert url.query == "a=\xff"


def test_url_from_scope_with_components() -> None:
    url = URL(scope=http_scope(path="/x"), scheme="https")
    assert str(url) == "https://testserver/x"


def test_url_from_scope_reads_the_scope_on_first_use() -> None:
    scope = http_scope(path="/before")
    url = URL(scope=scope)
    scope["path"] = "/after"
    assert url.path == "/after"


# URL.replace and query helpers


def test_url_replace_simple_components() -> None:
    url = URL("http://example.com/a?x=1#f")
    assert str(url.replace(scheme="https")) == "https://example.com/a?x=1#f"
    assert str(url.replace(path="/b", query="", fragment="")) == "http://example.com/b"
    assert str(url.replace(netloc="other:81")) == "http://other:81/a?x=1#f"


def test_url_replace_port_and_hostname() -> None:
    url = URL("http://user:pw@example.com:8000/a")
    assert str(url.replace(port=9000)) == "http://user:pw@example.com:9000/a"
    assert str(url.replace(port=None)) == "http://user:pw@example.com/a"
    assert str(url.replace(hostname="other.org")) == "http://user:pw@other.org:8000/a"


def test_url_replace_ipv6_hostname_is_bracketed() -> None:
    assert str(URL("http://h:1/").replace(hostname="::1")) == "http://[::1]:1/"


def test_url_replace_credentials() -> None:
    url = URL("http://example.com/")
    assert str(url.replace(username="u")) == "http://u@example.com/"
    assert str(url.replace(username="u", password="p")) == "http://u:p@example.com/"
    assert str(url.replace(password="p")) == "http://:p@example.com/"


def test_url_replace_unknown_component_is_type_error() -> None:
    with pytest.raises(TypeError, match="unknown components: bogus"):
        URL("http://h/").replace(bogus="x")


def test_url_replace_netloc_with_hostname_is_value_error() -> None:
    with pytest.raises(ValueError, match="not both"):
        URL("http://h/").replace(netloc="a", port=1)


def test_url_replace_relative_path_gets_leading_slash() -> None:
    assert str(URL("http://h/a").replace(path="b")) == "http://h/b"


def test_url_replace_relative_url_keeps_relative_path() -> None:
    assert str(URL("a/b").replace(query="x=1")) == "a/b?x=1"


def test_url_include_query_params_replaces_and_adds() -> None:
    url = URL("http://h/p?a=1&b=2&a=3")
    assert str(url.include_query_params(a="9", c=3)) == "http://h/p?b=2&a=9&c=3"


def test_url_include_query_params_list_values_repeat() -> None:
    assert URL("/p").include_query_params(t=["x", "y"]).query == "t=x&t=y"


def test_url_replace_query_params() -> None:
    url = URL("http://h/p?a=1#f")
    assert str(url.replace_query_params(b="2 3")) == "http://h/p?b=2+3#f"


def test_url_remove_query_params_single_and_many() -> None:
    url = URL("http://h/?a=1&b=2&c=3&a=4")
    assert str(url.remove_query_params("a")) == "http://h/?b=2&c=3"
    assert str(url.remove_query_params(["a", "c"])) == "http://h/?b=2"


# URLPath


def test_urlpath_is_a_str() -> None:
    path = URLPath("/users/1", protocol="http")
    assert path == "/users/1"
    assert isinstance(path, str)
    assert path.protocol == "http"
    assert path.host == ""


def test_urlpath_rejects_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="protocol"):
        URLPath("/", protocol="ftp")


def test_urlpath_make_absolute_url_with_root_path() -> None:
    path = URLPath("/users/1", protocol="http")
    url = path.make_absolute_url("https://example.com/api/")
    assert str(url) == "https://example.com/api/users/1"


def test_urlpath_make_absolute_url_from_url_object() -> None:
    base = URL(scope=http_scope(server=("example.com", 8000), path="/"))
    assert str(URLPath("/x").make_absolute_url(base)) == "http://example.com:8000/x"


def test_urlpath_make_absolute_url_websocket_scheme() -> None:
    path = URLPath("/ws", protocol="websocket")
    assert str(path.make_absolute_url("http://h/")) == "ws://h/ws"
    assert str(path.make_absolute_url("https://h/")) == "wss://h/ws"


def test_urlpath_make_absolute_url_http_route_from_websocket_base() -> None:
    path = URLPath("/page", protocol="http")
    assert str(path.make_absolute_url("wss://h/")) == "https://h/page"
    assert str(path.make_absolute_url("ws://h/")) == "http://h/page"


def test_urlpath_make_absolute_url_without_protocol_keeps_scheme() -> None:
    assert str(URLPath("/p").make_absolute_url("ws://h/")) == "ws://h/p"


def test_urlpath_make_absolute_url_host_overrides_netloc() -> None:
    path = URLPath("/p", protocol="http", host="api.example.com")
    assert str(path.make_absolute_url("http://example.com/")) == "http://api.example.com/p"


# Headers


def test_headers_from_mapping_is_case_insensitive() -> None:
    headers = Headers({"Content-Type": "text/plain"})
    assert headers["content-type"] == "text/plain"
    assert headers["CONTENT-TYPE"] == "text/plain"
    assert headers.raw == [(b"content-type", b"text/plain")]


def test_headers_getitem_missing_is_key_error() -> None:
    with pytest.raises(KeyError):
        Headers()["x"]


def test_headers_get_first_value_and_default() -> None:
    headers = Headers(raw=[(b"a", b"1"), (b"a", b"2")])
    assert headers.get("a") == "1"
    assert headers.get("b") is None
    assert headers.get("b", "d") == "d"


def test_headers_getlist_in_order() -> None:
    headers = Headers(raw=[(b"set-cookie", b"a=1"), (b"x", b"y"), (b"set-cookie", b"b=2")])
    assert headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert headers.getlist("missing") == []


def test_headers_contains() -> None:
    headers = Headers(raw=[(b"x-a", b"")])
    assert "X-A" in headers
    assert "x-b" not in headers
    not_a_str: object = 1
    assert not_a_str not in headers


def test_headers_keys_values_items_include_duplicates() -> None:
    headers = Headers(raw=[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    assert headers.keys() == ["a", "b", "a"]
    assert headers.values() == ["1", "2", "3"]
    assert headers.items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert list(headers) == ["a", "b", "a"]
    assert len(headers) == 3


def test_headers_non_utf8_bytes_decode_as_latin1() -> None:
    headers = Headers(raw=[(b"x-\xe9", b"\xff\xfe\x80")])
    assert headers["x-\xe9"] == "\xff\xfe\x80"
    assert headers.items() == [("x-\xe9", "\xff\xfe\x80")]


def test_headers_non_latin1_key_is_simply_missing() -> None:
    headers = Headers(raw=[(b"a", b"1")])
    assert "\u20ac" not in headers
    assert headers.getlist("\u20ac") == []


def test_headers_mixed_case_raw_names_still_match() -> None:
    headers = Headers(raw=[(b"Content-Type", b"text/html")])
    assert headers["content-type"] == "text/html"
    assert headers.keys() == ["content-type"]


def test_headers_raw_is_used_without_copy() -> None:
    raw = [(b"a", b"1")]
    assert Headers(raw=raw).raw is raw


def test_headers_from_scope_list_is_shared() -> None:
    scope = http_scope(headers=[(b"host", b"h")])
    assert Headers(scope=scope).raw is scope["headers"]


def test_headers_from_scope_any_iterable_of_pairs() -> None:
    scope = http_scope(headers=((b"a", b"1"), [b"b", b"2"]))
    headers = Headers(scope=scope)
    assert headers.raw == [(b"a", b"1"), (b"b", b"2")]
    assert headers["b"] == "2"


def test_headers_from_scope_without_headers_key() -> None:
    assert len(Headers(scope={"type": "http"})) == 0


def test_headers_from_scope_list_of_lists() -> None:
    headers = Headers(scope=http_scope(headers=[[b"a", b"1"]]))
    assert headers["a"] == "1"


def test_headers_only_one_source_allowed() -> None:
    with pytest.raises(ValueError, match="at most one"):
        Headers({"a": "1"}, raw=[])
    with pytest.raises(ValueError, match="at most one"):
        Headers(raw=[], scope=http_scope())


def test_headers_mapping_is_validated() -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Headers({"x": "a\r\nb"})


def test_headers_equality_ignores_order_and_name_case() -> None:
    a = Headers(raw=[(b"a", b"1"), (b"B", b"2")])
    b = Headers(raw=[(b"b", b"2"), (b"a", b"1")])
    assert a == b
    assert a == MutableHeaders(raw=[(b"a", b"1"), (b"b", b"2")])
    assert a != Headers(raw=[(b"a", b"1")])
    assert a != {"a": "1", "b": "2"}


def test_headers_are_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(Headers())


def test_headers_repr() -> None:
    assert repr(Headers({"a": "1"})) == "Headers({'a': '1'})"
    assert repr(Headers(raw=[(b"a", b"1"), (b"a", b"2")])) == (
        "Headers(raw=[(b'a', b'1'), (b'a', b'2')])"
    )


def test_headers_mutablecopy_is_independent() -> None:
    headers = Headers(raw=[(b"a", b"1")])
    copied = headers.mutablecopy()
    copied["a"] = "2"
    assert isinstance(copied, MutableHeaders)
    assert headers["a"] == "1"
    assert copied["a"] == "2"


def test_headers_dict_conversion_takes_first_values() -> None:
    assert dict(Headers(raw=[(b"a", b"1"), (b"a", b"2")])) == {"a": "1"}


# MutableHeaders


def test_mutableheaders_setitem_adds_lowercased() -> None:
    headers = MutableHeaders()
    headers["X-Custom"] = "v"
    assert headers.raw == [(b"x-custom", b"v")]


def test_mutableheaders_setitem_replaces_all_at_first_position() -> None:
    raw = [(b"a", b"1"), (b"b", b"2"), (b"A", b"3"), (b"c", b"4"), (b"a", b"5")]
    headers = MutableHeaders(raw=raw)
    headers["a"] = "9"
    assert raw == [(b"a", b"9"), (b"b", b"2"), (b"c", b"4")]


def test_mutableheaders_edits_message_headers_in_place() -> None:
    message = {"type": "http.response.start", "status": 200, "headers": [(b"a", b"1")]}
    headers = MutableHeaders(scope=message)
    headers["b"] = "2"
    assert message["headers"] == [(b"a", b"1"), (b"b", b"2")]


def test_mutableheaders_creates_missing_message_headers() -> None:
    message: dict[str, Any] = {"type": "http.response.start", "status": 200}
    MutableHeaders(scope=message).append("x", "1")
    assert message["headers"] == [(b"x", b"1")]


def test_mutableheaders_converts_tuple_message_headers_and_writes_back() -> None:
    message: dict[str, Any] = {"type": "http.response.start", "headers": ((b"a", b"1"),)}
    MutableHeaders(scope=message)["b"] = "2"
    assert message["headers"] == [(b"a", b"1"), (b"b", b"2")]


def test_mutableheaders_delitem_removes_all_values() -> None:
    raw = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]
    headers = MutableHeaders(raw=raw)
    del headers["A"]
    assert raw == [(b"b", b"2")]


def test_mutableheaders_delitem_missing_is_a_no_op() -> None:
    headers = MutableHeaders(raw=[(b"a", b"1")])
    del headers["zzz"]
    assert headers.raw == [(b"a", b"1")]


def test_mutableheaders_setdefault() -> None:
    headers = MutableHeaders(raw=[(b"a", b"1")])
    assert headers.setdefault("a", "2") == "1"
    assert headers.setdefault("b", "3") == "3"
    assert headers.raw == [(b"a", b"1"), (b"b", b"3")]


def test_mutableheaders_update() -> None:
    headers = MutableHeaders(raw=[(b"a", b"1"), (b"a", b"2")])
    headers.update({"a": "3", "b": "4"})
    assert headers.raw == [(b"a", b"3"), (b"b", b"4")]


def test_mutableheaders_append_keeps_duplicates() -> None:
    headers = MutableHeaders()
    headers.append("Set-Cookie", "a=1")
    headers.append("set-cookie", "b=2")
    assert headers.getlist("set-cookie") == ["a=1", "b=2"]


def test_mutableheaders_add_vary_header() -> None:
    headers = MutableHeaders()
    headers.add_vary_header("Origin")
    headers.add_vary_header("accept-encoding, origin")
    headers.add_vary_header("Accept-Encoding")
    assert headers["vary"] == "Origin, accept-encoding"


def test_mutableheaders_add_vary_header_skips_empty_tokens() -> None:
    headers = MutableHeaders(raw=[(b"vary", b"Cookie,,")])
    headers.add_vary_header(" , Origin ,")
    assert headers["vary"] == "Cookie, Origin"


def test_mutableheaders_add_vary_header_star_covers_all() -> None:
    headers = MutableHeaders(raw=[(b"vary", b"*")])
    headers.add_vary_header("Origin")
    assert headers["vary"] == "*"


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\0b", "a\r\nSet-Cookie: x=1"])
def test_mutableheaders_setters_refuse_cr_lf_nul_in_value(bad: str) -> None:
    headers = MutableHeaders()
    with pytest.raises(ValueError, match="Header value must not contain CR, LF or NUL"):
        headers["x"] = bad
    with pytest.raises(ValueError, match="Header value must not contain CR, LF or NUL"):
        headers.append("x", bad)
    with pytest.raises(ValueError, match="Header value must not contain CR, LF or NUL"):
        headers.setdefault("x", bad)
    with pytest.raises(ValueError, match="Header value must not contain CR, LF or NUL"):
        headers.update({"x": bad})
    with pytest.raises(ValueError, match="Header value must not contain CR, LF or NUL"):
        headers.add_vary_header(bad)
    assert headers.raw == []


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\0b"])
def test_mutableheaders_setters_refuse_cr_lf_nul_in_name(bad: str) -> None:
    headers = MutableHeaders()
    with pytest.raises(ValueError, match="Header name must not contain CR, LF or NUL"):
        headers[bad] = "v"
    with pytest.raises(ValueError, match="Header name must not contain CR, LF or NUL"):
        headers.append(bad, "v")
    assert headers.raw == []


@pytest.mark.parametrize("bad", ["", "a b", "a:b", "a(b)", "\xe9"])
def test_mutableheaders_refuses_name_that_is_not_a_token(bad: str) -> None:
    with pytest.raises(ValueError, match="HTTP token"):
        MutableHeaders()[bad] = "v"


def test_mutableheaders_refuses_non_latin1_value() -> None:
    with pytest.raises(ValueError, match="not latin-1 encodable"):
        MutableHeaders()["x"] = "\u20ac"


def test_mutableheaders_refuses_non_latin1_name() -> None:
    with pytest.raises(ValueError, match="not latin-1 encodable"):
        MutableHeaders()["\u20ac"] = "v"


def test_mutableheaders_accepts_latin1_value() -> None:
    headers = MutableHeaders()
    headers["x"] = "caf\xe9"
    assert headers.raw == [(b"x", b"caf\xe9")]


def test_mutableheaders_refuses_non_str_value() -> None:
    headers = MutableHeaders()
    with pytest.raises(TypeError, match="must be str, got int"):
        headers["x"] = 1  # type: ignore[assignment]


# QueryParams


def test_queryparams_from_string() -> None:
    params = QueryParams("a=1&b=2&a=3")
    assert params["a"] == "1"
    assert params.getlist("a") == ["1", "3"]
    assert params.multi_items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert list(params.keys()) == ["a", "b"]
    assert list(params.values()) == ["1", "2"]
    assert list(params.items()) == [("a", "1"), ("b", "2")]
    assert len(params) == 2
    assert "b" in params
    assert "c" not in params


def test_queryparams_missing_key() -> None:
    params = QueryParams("a=1")
    with pytest.raises(KeyError):
        params["b"]
    assert params.get("b") is None
    assert params.getlist("b") == []


def test_queryparams_from_bytes() -> None:
    assert QueryParams(b"name=caf%C3%A9&x=%20")["name"] == "caf\xe9"


def test_queryparams_raw_non_utf8_bytes_do_not_raise() -> None:
    assert QueryParams(b"a=\xff")["a"] == "\ufffd"


def test_queryparams_malformed_string_does_not_raise() -> None:
    params = QueryParams("a=%zz&&=&b")
    assert params.multi_items() == [("a", "%zz"), ("", ""), ("b", "")]


def test_queryparams_invalid_utf8_percent_escape_is_replaced() -> None:
    assert QueryParams("a=%ff%fe&b=%C3")["a"] == "\ufffd\ufffd"
    assert QueryParams("b=%C3")["b"] == "\ufffd"


def test_queryparams_plus_is_space_and_blank_values_kept() -> None:
    params = QueryParams("q=a+b&empty=")
    assert params["q"] == "a b"
    assert params["empty"] == ""


def test_queryparams_from_mapping_sequence_and_none() -> None:
    assert QueryParams({"a": "1"}).multi_items() == [("a", "1")]
    assert QueryParams([("a", "1"), ("a", "2")]).getlist("a") == ["1", "2"]
    assert QueryParams().multi_items() == []
    assert QueryParams("").multi_items() == []


def test_queryparams_from_queryparams_keeps_duplicates() -> None:
    original = QueryParams("a=1&a=2")
    assert QueryParams(original).getlist("a") == ["1", "2"]


def test_queryparams_str_is_urlencoded() -> None:
    params = QueryParams([("a", "x y"), ("b", "&="), ("a", "é")])
    assert str(params) == "a=x+y&b=%26%3D&a=%C3%A9"


def test_queryparams_repr() -> None:
    assert repr(QueryParams("a=1&b=2")) == "QueryParams('a=1&b=2')"


def test_queryparams_equality() -> None:
    assert QueryParams("a=1&b=2") == QueryParams("b=2&a=1")
    assert QueryParams("a=1&a=2") != QueryParams("a=1")
    assert QueryParams("a=1") != {"a": "1"}


def test_queryparams_huge_query_does_not_raise() -> None:
    params = QueryParams("&".join(f"k{i}={i}" for i in range(5000)))
    assert len(params) == 5000


# UploadFile


def test_uploadfile_attributes_and_content_type() -> None:
    headers = Headers({"content-type": "image/png"})
    upload = UploadFile(io.BytesIO(), size=0, filename="a.png", headers=headers)
    assert upload.filename == "a.png"
    assert upload.size == 0
    assert upload.content_type == "image/png"
    assert upload.headers is headers


def test_uploadfile_defaults() -> None:
    upload = UploadFile(io.BytesIO())
    assert upload.filename is None
    assert upload.size is None
    assert upload.content_type is None
    assert len(upload.headers) == 0


def test_uploadfile_repr() -> None:
    upload = UploadFile(io.BytesIO(), size=3, filename="a.txt")
    assert repr(upload) == "UploadFile(filename='a.txt', size=3, headers=Headers({}))"


class ThreadCalls:
    """Records which file operations UploadFile sends to a worker thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        real = anyio.to_thread.run_sync

        async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            self.names.append(func.__name__)
            return await real(func, *args, **kwargs)

        monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)


def is_rolled(file: object) -> bool:
    return bool(vars(file)["_rolled"])


def test_uploadfile_in_memory_does_io_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = ThreadCalls(monkeypatch)

    async def main() -> None:
        with tempfile.SpooledTemporaryFile(max_size=1024) as file:
            upload = UploadFile(file, size=0)
            await upload.write(b"hello")
            await upload.write(b" world")
            assert upload.size == 11
            assert not is_rolled(file)
            await upload.seek(0)
            assert await upload.read(5) == b"hello"
            assert await upload.read() == b" world"
            await upload.close()
            assert file.closed

    anyio.run(main)
    assert calls.names == []


def test_uploadfile_rolled_to_disk_uses_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = ThreadCalls(monkeypatch)

    async def main() -> None:
        with tempfile.SpooledTemporaryFile(max_size=10) as file:
            upload = UploadFile(file, size=0)
            await upload.write(b"12345")
            assert not is_rolled(file)
            assert calls.names == []
            # This write passes max_size, so it is the one that rolls over (disk I/O).
            await upload.write(b"67890abcdef")
            assert is_rolled(file)
            await upload.write(b"!")
            assert upload.size == 17
            await upload.seek(0)
            assert await upload.read() == b"1234567890abcdef!"
            await upload.close()
            assert file.closed

    anyio.run(main)
    assert calls.names == ["write", "write", "seek", "read", "close"]


def test_uploadfile_write_exactly_max_size_stays_in_memory() -> None:
    async def main() -> None:
        with tempfile.SpooledTemporaryFile(max_size=10) as file:
            await UploadFile(file).write(b"x" * 10)
            assert not is_rolled(file)

    anyio.run(main)


def test_uploadfile_without_max_size_stays_in_memory() -> None:
    async def main() -> None:
        with tempfile.SpooledTemporaryFile() as file:
            upload = UploadFile(file)
            await upload.write(b"x" * 100)
            assert upload.size == 100
            assert not is_rolled(file)

    anyio.run(main)


def test_uploadfile_plain_file_object_uses_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = ThreadCalls(monkeypatch)

    async def main() -> None:
        buffer = io.BytesIO()
        upload = UploadFile(buffer)
        await upload.write(b"abc")
        await upload.seek(1)
        assert await upload.read() == b"bc"
        await upload.close()
        assert buffer.closed

    anyio.run(main)
    assert calls.names == ["write", "seek", "read", "close"]


# FormData


def test_formdata_multi_mapping() -> None:
    upload = UploadFile(io.BytesIO(), filename="f.txt")
    form = FormData([("a", "1"), ("file", upload), ("a", "2")])
    assert form["a"] == "1"
    assert form["file"] is upload
    assert form.getlist("a") == ["1", "2"]
    assert form.multi_items() == [("a", "1"), ("file", upload), ("a", "2")]
    assert list(form) == ["a", "file"]
    assert len(form) == 2


def test_formdata_from_mapping_formdata_and_none() -> None:
    assert FormData({"a": "1"}).multi_items() == [("a", "1")]
    assert FormData(FormData([("a", "1"), ("a", "2")])).getlist("a") == ["1", "2"]
    assert FormData().multi_items() == []


def test_formdata_equality_and_repr() -> None:
    assert FormData([("a", "1"), ("b", "2")]) == FormData([("b", "2"), ("a", "1")])
    assert FormData([("a", "1")]) != QueryParams("a=1")
    assert repr(FormData([("a", "1")])) == "FormData([('a', '1')])"


def test_formdata_close_closes_every_file() -> None:
    first = io.BytesIO()
    with tempfile.SpooledTemporaryFile(max_size=10) as second:
        form = FormData([("a", UploadFile(first)), ("b", "text"), ("a", UploadFile(second))])
        anyio.run(form.close)
        assert first.closed
        assert second.closed


def test_formdata_async_context_manager_closes_on_exit() -> None:
    file = io.BytesIO()

    async def main() -> None:
        async with FormData([("f", UploadFile(file))]) as form:
            assert isinstance(form, FormData)
            assert not file.closed
        assert file.closed

    anyio.run(main)


def test_formdata_async_context_manager_closes_on_error() -> None:
    file = io.BytesIO()

    async def main() -> None:
        async with FormData([("f", UploadFile(file))]):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        anyio.run(main)
    assert file.closed


# State


def test_state_attribute_roundtrip() -> None:
    state = State()
    state.db = "conn"
    assert state.db == "conn"
    assert state._state == {"db": "conn"}
    del state.db
    assert state._state == {}


def test_state_missing_attribute() -> None:
    with pytest.raises(AttributeError, match="'State' object has no attribute 'x'"):
        State().x  # noqa: B018


def test_state_delete_missing_attribute() -> None:
    state = State()
    with pytest.raises(AttributeError, match="'State' object has no attribute 'x'"):
        del state.x


def test_state_wraps_the_given_dict() -> None:
    data: dict[str, Any] = {"a": 1}
    state = State(data)
    state.b = 2
    assert data == {"a": 1, "b": 2}


def test_state_copy_from_other_is_independent() -> None:
    original = State({"a": 1})
    copied = State(dict(original._state))
    copied.a = 2
    assert original.a == 1


def test_state_hasattr_and_getattr_default() -> None:
    state = State({"a": 1})
    assert hasattr(state, "a")
    assert not hasattr(state, "b")
    assert getattr(state, "b", None) is None


def test_state_copy_and_pickle() -> None:
    state = State({"a": 1})
    assert copy.copy(state).a == 1
    assert pickle.loads(pickle.dumps(state)).a == 1


def test_state_repr() -> None:
    assert repr(State({"a": 1})) == "State({'a': 1})"
