import pytest

from microasgi.middleware.cors import CORSMiddleware
from microasgi.testclient import TestClient
from microasgi.types import Receive, Scope, Send

from .conftest import Result, ScopeRecorder, make_scope, run, text_app

ORIGIN = "https://app.example.com"


def get(middleware: CORSMiddleware, *headers: tuple[str, str]) -> Result:
    return run(middleware, make_scope(headers=headers))


def preflight(
    middleware: CORSMiddleware,
    origin: str = ORIGIN,
    method: str = "PUT",
    request_headers: str | None = None,
) -> Result:
    headers = [("origin", origin), ("access-control-request-method", method)]
    if request_headers is not None:
        headers.append(("access-control-request-headers", request_headers))
    return run(middleware, make_scope(method="OPTIONS", headers=headers))


def allow_headers_of(result: Result) -> list[bytes]:
    return [name for name, _ in result.raw_headers if name.startswith(b"access-control-allow")]


# Simple requests


def test_wildcard_answers_a_literal_star_without_vary() -> None:
    result = get(CORSMiddleware(text_app(), allow_origins=["*"]), ("origin", ORIGIN))
    assert result.header("access-control-allow-origin") == "*"
    assert result.header("vary") is None
    assert result.body == b"ok"


def test_listed_origin_is_reflected_with_vary_origin() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=[ORIGIN])
    result = get(middleware, ("accept", "*/*"), ("origin", ORIGIN))
    assert result.header("access-control-allow-origin") == ORIGIN
    assert result.header("vary") == "Origin"


def test_origin_comparison_ignores_case() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=["https://App.Example.com"])
    result = get(middleware, ("origin", ORIGIN))
    assert result.header("access-control-allow-origin") == ORIGIN


def test_unlisted_origin_is_not_reflected_but_still_served() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=[ORIGIN])
    result = get(middleware, ("origin", "https://evil.example.net"))
    assert result.header("access-control-allow-origin") is None
    assert result.header("vary") == "Origin"
    assert result.body == b"ok"


def test_origin_null_is_refused_unless_listed() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=[ORIGIN], allow_origin_regex=".*")
    result = get(middleware, ("origin", "null"))
    assert result.header("access-control-allow-origin") is None


def test_origin_null_is_allowed_when_listed_explicitly() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=["null"])
    result = get(middleware, ("origin", "null"))
    assert result.header("access-control-allow-origin") == "null"


def test_regex_must_match_the_whole_origin() -> None:
    middleware = CORSMiddleware(text_app(), allow_origin_regex=r"https://([a-z]+\.)?example\.com")
    result = get(middleware, ("origin", "https://example.com.evil.net"))
    assert result.header("access-control-allow-origin") is None


def test_regex_matching_origin_is_reflected() -> None:
    middleware = CORSMiddleware(text_app(), allow_origin_regex=r"https://([a-z]+\.)?example\.com")
    result = get(middleware, ("origin", ORIGIN))
    assert result.header("access-control-allow-origin") == ORIGIN


def test_credentials_and_exposed_headers_are_sent_to_allowed_origins() -> None:
    middleware = CORSMiddleware(
        text_app(),
        allow_origins=[ORIGIN],
        allow_credentials=True,
        expose_headers=["X-Total", "X-Page"],
    )
    result = get(middleware, ("origin", ORIGIN))
    assert result.header("access-control-allow-credentials") == "true"
    assert result.header("access-control-expose-headers") == "X-Total, X-Page"


def test_credentials_are_not_sent_to_refused_origins() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=[ORIGIN], allow_credentials=True)
    result = get(middleware, ("origin", "https://evil.example.net"))
    assert allow_headers_of(result) == []


def test_app_cors_headers_are_replaced_for_allowed_origins() -> None:
    app = text_app(headers=[(b"Access-Control-Allow-Origin", b"*")])
    result = get(CORSMiddleware(app, allow_origins=[ORIGIN]), ("origin", ORIGIN))
    assert result.header_list("access-control-allow-origin") == [ORIGIN]


def test_existing_vary_header_is_extended() -> None:
    app = text_app(headers=[(b"vary", b"Accept-Encoding")])
    result = get(CORSMiddleware(app, allow_origins=[ORIGIN]), ("origin", ORIGIN))
    assert result.header_list("vary") == ["Accept-Encoding, Origin"]


def test_request_without_origin_still_gets_vary_when_answers_differ() -> None:
    result = get(CORSMiddleware(text_app(), allow_origins=[ORIGIN]))
    assert result.header("vary") == "Origin"
    assert result.header("access-control-allow-origin") is None


def test_request_without_origin_is_untouched_with_wildcard() -> None:
    result = get(CORSMiddleware(text_app(), allow_origins=["*"]))
    assert result.header("vary") is None
    assert allow_headers_of(result) == []


def test_options_without_request_method_is_a_simple_request() -> None:
    recorder = ScopeRecorder()
    middleware = CORSMiddleware(recorder, allow_origins=[ORIGIN])
    result = run(middleware, make_scope(method="OPTIONS", headers=[("origin", ORIGIN)]))
    assert recorder.scope["method"] == "OPTIONS"
    assert result.header("access-control-allow-origin") == ORIGIN


# Construction


def test_wildcard_with_credentials_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="allow_credentials") as info:
        CORSMiddleware(text_app(), allow_origins=["*"], allow_credentials=True)
    assert "any website could then read" in str(info.value)


def test_a_single_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="allow_origins must be a list"):
        CORSMiddleware(text_app(), allow_origins=ORIGIN)


# Preflight


def test_allowed_preflight_answers_200_with_the_allowed_set() -> None:
    recorder = ScopeRecorder()
    middleware = CORSMiddleware(
        recorder,
        allow_origins=[ORIGIN],
        allow_methods=["GET", "put"],
        allow_headers=["X-Token"],
        max_age=120,
    )
    result = preflight(middleware, request_headers="x-token, content-type")
    assert recorder.scopes == []
    assert result.status == 200
    assert result.body == b"OK"
    assert result.header("access-control-allow-origin") == ORIGIN
    assert result.header("access-control-allow-methods") == "GET, PUT"
    allowed = result.header("access-control-allow-headers") or ""
    assert {"x-token", "content-type"} <= set(allowed.split(", "))
    assert result.header("access-control-max-age") == "120"
    assert result.header("vary") == "Origin"
    assert result.header("content-length") == "2"


def test_preflight_with_wildcard_origins_answers_star_without_vary() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=["*"], allow_methods=["PUT"])
    result = preflight(middleware)
    assert result.status == 200
    assert result.header("access-control-allow-origin") == "*"
    assert result.header("vary") is None


def test_preflight_from_refused_origin_is_400_without_allow_headers() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=[ORIGIN], allow_methods=["PUT"])
    result = preflight(middleware, origin="https://evil.example.net")
    assert result.status == 400
    assert allow_headers_of(result) == []
    assert result.body == b"Disallowed CORS origin"


def test_preflight_with_refused_method_names_the_method() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=[ORIGIN], allow_methods=["GET"])
    result = preflight(middleware, method="DELETE")
    assert result.status == 400
    assert result.body == b"Disallowed CORS method"
    assert allow_headers_of(result) == []


def test_preflight_with_refused_header_names_the_headers() -> None:
    middleware = CORSMiddleware(
        text_app(), allow_origins=[ORIGIN], allow_methods=["PUT"], allow_headers=["x-token"]
    )
    result = preflight(middleware, request_headers="x-token, x-admin")
    assert result.status == 400
    assert result.body == b"Disallowed CORS headers"
    assert allow_headers_of(result) == []


def test_preflight_lists_every_refusal() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=[ORIGIN])
    result = preflight(middleware, origin="null", method="PATCH", request_headers="x-admin")
    assert result.body == b"Disallowed CORS origin, method, headers"


def test_preflight_compares_header_names_case_insensitively() -> None:
    middleware = CORSMiddleware(
        text_app(), allow_origins=[ORIGIN], allow_methods=["PUT"], allow_headers=["X-Token"]
    )
    result = preflight(middleware, request_headers="X-TOKEN")
    assert result.status == 200


def test_safelisted_headers_are_always_allowed() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=[ORIGIN], allow_methods=["PUT"])
    result = preflight(middleware, request_headers="Content-Type")
    assert result.status == 200


def test_preflight_request_headers_from_several_fields_are_all_checked() -> None:
    middleware = CORSMiddleware(
        text_app(), allow_origins=[ORIGIN], allow_methods=["PUT"], allow_headers=["x-a"]
    )
    scope = make_scope(
        method="OPTIONS",
        headers=[
            ("origin", ORIGIN),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "x-a"),
            ("access-control-request-headers", "x-b"),
        ],
    )
    assert run(middleware, scope).status == 400


def test_wildcards_with_credentials_answer_the_concrete_request_values() -> None:
    middleware = CORSMiddleware(
        text_app(),
        allow_origins=[ORIGIN],
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials=True,
    )
    result = preflight(middleware, method="PATCH", request_headers="X-One, x-two")
    assert result.status == 200
    assert result.header_list("access-control-allow-methods") == ["PATCH"]
    assert result.header_list("access-control-allow-headers") == ["x-one, x-two"]
    assert result.header("access-control-allow-credentials") == "true"
    assert result.header("access-control-allow-origin") == ORIGIN


def test_wildcard_headers_without_request_headers_add_no_allow_headers() -> None:
    middleware = CORSMiddleware(
        text_app(), allow_origins=[ORIGIN], allow_methods=["PUT"], allow_headers=["*"]
    )
    result = preflight(middleware)
    assert result.status == 200
    assert result.header("access-control-allow-headers") is None


def test_preflight_refuses_a_method_that_is_not_a_token() -> None:
    middleware = CORSMiddleware(text_app(), allow_origins=[ORIGIN], allow_methods=["*"])
    result = preflight(middleware, method="GET POST")
    assert result.status == 400
    assert result.body == b"Disallowed CORS method"


def test_preflight_refuses_a_header_name_that_is_not_a_token() -> None:
    middleware = CORSMiddleware(
        text_app(), allow_origins=[ORIGIN], allow_methods=["PUT"], allow_headers=["*"]
    )
    result = preflight(middleware, request_headers="x-ok, bad header")
    assert result.status == 400


# Other scopes


def test_websocket_scopes_pass_through() -> None:
    recorder = ScopeRecorder()
    middleware = CORSMiddleware(recorder, allow_origins=[ORIGIN])
    result = run(middleware, make_scope("websocket", headers=[("origin", ORIGIN)]))
    assert [m["type"] for m in result.messages] == ["websocket.accept", "websocket.close"]
    assert recorder.scope["type"] == "websocket"


def test_lifespan_passes_through() -> None:
    called: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope["type"])

    run(CORSMiddleware(app, allow_origins=[ORIGIN]), {"type": "lifespan"}, [])
    assert called == ["lifespan"]


def test_browser_flow_through_the_test_client() -> None:
    middleware = CORSMiddleware(
        text_app(), allow_origins=[ORIGIN], allow_methods=["PUT"], allow_headers=["x-token"]
    )
    with TestClient(middleware) as client:
        answer = client.options(
            "/",
            headers={
                "origin": ORIGIN,
                "access-control-request-method": "PUT",
                "access-control-request-headers": "X-Token",
            },
        )
        assert answer.status_code == 200
        response = client.put("/", headers={"origin": ORIGIN, "x-token": "t"})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.text == "ok"
