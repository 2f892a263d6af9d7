from collections.abc import Sequence

import pytest

from microasgi.middleware.proxyheaders import ProxyHeadersMiddleware, parse_forwarded, parse_node
from microasgi.testclient import TestClient
from microasgi.types import Scope

from .conftest import ScopeRecorder, make_scope, run

PROXY = "127.0.0.1"
CLIENT = "198.51.100.7"


def seen_scope(
    headers: Sequence[tuple[str, str]],
    *,
    peer: str | None = PROXY,
    trusted_hosts: Sequence[str] | str = (PROXY,),
    scope_type: str = "http",
    path: str = "/users",
    root_path: str = "",
) -> Scope:
    """The scope the app sees behind ProxyHeadersMiddleware."""
    recorder = ScopeRecorder()
    middleware = ProxyHeadersMiddleware(recorder, trusted_hosts=trusted_hosts)
    headers = [("host", "internal:8000"), *headers]
    client = (peer, 40000) if peer is not None else None
    scope = make_scope(scope_type, headers=headers, client=client, path=path, root_path=root_path)
    run(middleware, scope)
    return recorder.scope


def host_headers(scope: Scope) -> list[bytes]:
    return [value for name, value in scope["headers"] if name == b"host"]


# Who is trusted


def test_untrusted_peer_headers_are_ignored_entirely() -> None:
    scope = seen_scope(
        [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=1.1.1.1"),
        ],
        peer="203.0.113.9",
    )
    assert scope["client"] == ("203.0.113.9", 40000)
    assert scope["scheme"] == "http"
    assert host_headers(scope) == [b"internal:8000"]


def test_trusted_peer_x_forwarded_for_sets_the_client() -> None:
    scope = seen_scope([("x-forwarded-for", CLIENT)])
    assert scope["client"] == (CLIENT, 0)


def test_the_original_scope_is_not_modified() -> None:
    recorder = ScopeRecorder()
    original = make_scope(headers=[("x-forwarded-for", CLIENT)], client=(PROXY, 1))
    run(ProxyHeadersMiddleware(recorder), original)
    assert original["client"] == (PROXY, 1)
    assert recorder.scope["client"] == (CLIENT, 0)


def test_spoofed_leftmost_x_forwarded_for_entry_is_not_used() -> None:
    scope = seen_scope([("x-forwarded-for", f"6.6.6.6, {CLIENT}")])
    assert scope["client"] == (CLIENT, 0)


def test_trusted_hops_are_skipped_right_to_left() -> None:
    scope = seen_scope(
        [("x-forwarded-for", f"6.6.6.6, {CLIENT}, 10.1.2.3")],
        trusted_hosts=[PROXY, "10.0.0.0/8"],
    )
    assert scope["client"] == (CLIENT, 0)


def test_when_every_hop_is_trusted_the_leftmost_is_the_client() -> None:
    scope = seen_scope(
        [("x-forwarded-for", "10.0.0.5, 10.1.2.3")], trusted_hosts="127.0.0.1,10.0.0.0/8"
    )
    assert scope["client"] == ("10.0.0.5", 0)


def test_x_forwarded_for_fields_are_combined_in_order() -> None:
    scope = seen_scope([("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", CLIENT)])
    assert scope["client"] == (CLIENT, 0)


def test_star_trusts_every_peer() -> None:
    scope = seen_scope([("x-forwarded-for", CLIENT)], peer="203.0.113.9", trusted_hosts=["*"])
    assert scope["client"] == (CLIENT, 0)


def test_ipv6_networks_and_non_canonical_spellings_are_trusted() -> None:
    middleware = ProxyHeadersMiddleware(ScopeRecorder(), trusted_hosts=["::1", "fd00::/8"])
    assert middleware.is_trusted("::0001")
    assert middleware.is_trusted("fd00::1")
    assert not middleware.is_trusted("fe80::1")
    assert not middleware.is_trusted("not-an-address")


def test_literal_names_are_trusted_as_is() -> None:
    middleware = ProxyHeadersMiddleware(ScopeRecorder(), trusted_hosts=["/run/proxy.sock"])
    assert middleware.is_trusted("/run/proxy.sock")
    assert not middleware.is_trusted("127.0.0.1")


def test_an_empty_trusted_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="empty entry"):
        ProxyHeadersMiddleware(ScopeRecorder(), trusted_hosts="127.0.0.1,")


def test_scope_without_client_passes_through() -> None:
    scope = seen_scope([("x-forwarded-for", CLIENT)], peer=None)
    assert scope["client"] is None


def test_trusted_peer_without_forwarding_headers_gets_the_same_scope() -> None:
    recorder = ScopeRecorder()
    scope = make_scope(client=(PROXY, 1))
    run(ProxyHeadersMiddleware(recorder), scope)
    assert recorder.scope is scope


def test_lifespan_passes_through() -> None:
    recorder = ScopeRecorder()
    run(ProxyHeadersMiddleware(recorder), {"type": "lifespan"}, [])
    assert recorder.scope == {"type": "lifespan"}


# X-Forwarded-Proto / -Host / -Prefix


@pytest.mark.parametrize(
    ("scope_type", "proto", "scheme"),
    [
        ("http", "https", "https"),
        ("http", "HTTP", "http"),
        ("http", "wss", "https"),
        ("websocket", "https", "wss"),
        ("websocket", "http", "ws"),
        ("http", "javascript", "http"),
    ],
)
def test_proto_sets_the_scheme_for_the_scope_type(scope_type: str, proto: str, scheme: str) -> None:
    scope = seen_scope([("x-forwarded-proto", proto)], scope_type=scope_type)
    assert scope["scheme"] == scheme


def test_proto_aligned_with_the_client_hop_is_used() -> None:
    # client -> CDN over https, CDN -> load balancer over http; the CDN is trusted.
    scope = seen_scope(
        [("x-forwarded-for", f"{CLIENT}, 10.0.0.9"), ("x-forwarded-proto", "https, http")],
        trusted_hosts=[PROXY, "10.0.0.0/8"],
    )
    assert scope["scheme"] == "https"


def test_misaligned_proto_list_uses_the_rightmost_entry() -> None:
    scope = seen_scope(
        [("x-forwarded-for", f"6.6.6.6, {CLIENT}"), ("x-forwarded-proto", "https, http, https")]
    )
    assert scope["scheme"] == "https"


def test_forwarded_host_rewrites_the_host_header_and_server() -> None:
    scope = seen_scope([("x-forwarded-host", "Example.com"), ("x-forwarded-proto", "https")])
    assert host_headers(scope) == [b"Example.com"]
    assert scope["server"] == ("example.com", 443)


def test_forwarded_host_with_port_keeps_it() -> None:
    scope = seen_scope([("x-forwarded-host", "example.com:8443")])
    assert scope["server"] == ("example.com", 8443)
    assert host_headers(scope) == [b"example.com:8443"]


def test_forwarded_ipv6_host_sets_an_unbracketed_server() -> None:
    scope = seen_scope([("x-forwarded-host", "[2001:db8::1]")])
    assert scope["server"] == ("2001:db8::1", 80)


@pytest.mark.parametrize("host", ["evil.com/path", "evil.com\r\nx: y", "a b", "user@evil.com"])
def test_invalid_forwarded_host_is_ignored(host: str) -> None:
    scope = seen_scope([("x-forwarded-host", host)])
    assert host_headers(scope) == [b"internal:8000"]
    assert scope["server"] == ("testserver", 80)


def test_prefix_extends_root_path_and_path() -> None:
    scope = seen_scope([("x-forwarded-prefix", "/api/")], root_path="", path="/users")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/users"
    assert scope["raw_path"] == b"/api/users"


def test_percent_encoded_prefix_is_decoded_in_path_only() -> None:
    scope = seen_scope([("x-forwarded-prefix", "/my%20app")])
    assert scope["root_path"] == "/my app"
    assert scope["path"] == "/my app/users"
    assert scope["raw_path"] == b"/my%20app/users"


def test_prefix_without_raw_path_leaves_it_absent() -> None:
    recorder = ScopeRecorder()
    scope = make_scope(headers=[("x-forwarded-prefix", "/api")], client=(PROXY, 1))
    del scope["raw_path"]
    run(ProxyHeadersMiddleware(recorder), scope)
    assert recorder.scope["path"] == "/api/"
    assert "raw_path" not in recorder.scope


@pytest.mark.parametrize("prefix", ["api", "//evil.com", "/a b", "/a?b", "/"])
def test_invalid_prefix_is_ignored(prefix: str) -> None:
    scope = seen_scope([("x-forwarded-prefix", prefix)])
    assert scope["root_path"] == ""
    assert scope["path"] == "/users"


def test_invalid_x_forwarded_for_node_leaves_the_client() -> None:
    scope = seen_scope([("x-forwarded-for", "not an address!")])
    assert scope["client"] == (PROXY, 40000)


# Forwarded (RFC 7239)


def test_forwarded_sets_client_scheme_and_host() -> None:
    scope = seen_scope([("forwarded", f"for={CLIENT};proto=https;host=example.com")])
    assert scope["client"] == (CLIENT, 0)
    assert scope["scheme"] == "https"
    assert scope["server"] == ("example.com", 443)
    assert host_headers(scope) == [b"example.com"]


def test_forwarded_wins_over_x_forwarded() -> None:
    scope = seen_scope([("x-forwarded-for", "6.6.6.6"), ("forwarded", f"for={CLIENT}")])
    assert scope["client"] == (CLIENT, 0)


def test_forwarded_quoted_ipv6_with_port() -> None:
    scope = seen_scope([("forwarded", 'For="[2001:db8:cafe::17]:4711"')])
    assert scope["client"] == ("2001:db8:cafe::17", 4711)


def test_forwarded_spoofed_leftmost_element_is_not_used() -> None:
    scope = seen_scope(
        [("forwarded", "for=6.6.6.6;proto=https;host=evil.com"), ("forwarded", f"for={CLIENT}")]
    )
    assert scope["client"] == (CLIENT, 0)
    assert scope["scheme"] == "http"
    assert host_headers(scope) == [b"internal:8000"]


def test_forwarded_uses_proto_and_host_of_the_client_hop() -> None:
    scope = seen_scope(
        [("forwarded", f"for={CLIENT};proto=https;host=example.com, for=10.0.0.9;proto=http")],
        trusted_hosts=[PROXY, "10.0.0.0/8"],
    )
    assert scope["client"] == (CLIENT, 0)
    assert scope["scheme"] == "https"


def test_forwarded_all_trusted_uses_the_leftmost_element() -> None:
    scope = seen_scope([("forwarded", "for=127.0.0.1;proto=https, for=127.0.0.1")])
    assert scope["scheme"] == "https"


def test_forwarded_element_without_for_still_gives_proto() -> None:
    scope = seen_scope([("forwarded", "proto=https")])
    assert scope["scheme"] == "https"
    assert scope["client"] == (PROXY, 40000)


def test_forwarded_unknown_node_becomes_the_client_name() -> None:
    scope = seen_scope([("forwarded", "for=unknown")])
    assert scope["client"] == ("unknown", 0)


def test_malformed_forwarded_changes_nothing() -> None:
    scope = seen_scope([("forwarded", 'for="1.2.3.4;proto=https'), ("x-forwarded-for", CLIENT)])
    assert scope["client"] == (PROXY, 40000)
    assert scope["scheme"] == "http"


def test_forwarded_element_repeating_a_parameter_is_ignored() -> None:
    scope = seen_scope([("forwarded", f"for={CLIENT};for=6.6.6.6;proto=https")])
    assert scope["client"] == (PROXY, 40000)
    assert scope["scheme"] == "http"


def test_parse_forwarded_handles_quotes_escapes_and_empty_pairs() -> None:
    hops = parse_forwarded('for="_a\\"b";;proto=https, for=x;junk, host="a,b"')
    assert hops is not None
    assert [(h.node, h.proto, h.host) for h in hops] == [
        ('_a"b', "https", None),
        (None, None, None),
        (None, None, "a,b"),
    ]


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ("1.2.3.4", ("1.2.3.4", 0)),
        ("1.2.3.4:8080", ("1.2.3.4", 8080)),
        ("[::1]:8080", ("::1", 8080)),
        ("::1", ("::1", 0)),
        ("1.2.3.4:99999", ("1.2.3.4", 0)),
        ("1.2.3.4:_port", ("1.2.3.4", 0)),
        ("[::1", None),
        (":80", None),
        ("a b", None),
        ("", None),
    ],
)
def test_parse_node(node: str, expected: tuple[str, int] | None) -> None:
    assert parse_node(node) == expected


def test_forwarded_client_through_the_test_client() -> None:
    recorder = ScopeRecorder()
    client = TestClient(ProxyHeadersMiddleware(recorder, trusted_hosts=["testclient"]))
    client.get("/", headers={"x-forwarded-for": CLIENT, "x-forwarded-proto": "https"})
    assert recorder.scope["client"] == (CLIENT, 0)
    assert recorder.scope["scheme"] == "https"
