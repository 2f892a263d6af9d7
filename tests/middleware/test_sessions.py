import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from microasgi.middleware.sessions import SessionMiddleware
from microasgi.testclient import TestClient
from microasgi.types import ASGIApp, Receive, Scope, Send

from .conftest import Result, ScopeRecorder, make_scope, run, text_app

SECRET = "test-secret-key-0123456789abcdef"


def session_app(change: Callable[[dict[str, Any]], object] | None = None) -> ASGIApp:
    """An app that lets ``change`` edit the session, then answers 200 ``ok``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if change is not None:
            change(scope["session"])
        await text_app()(scope, receive, send)

    return app


def request(middleware: SessionMiddleware, cookie: str | None = None) -> Result:
    headers = [("cookie", cookie)] if cookie is not None else []
    return run(middleware, make_scope(headers=headers))


def loaded_session(middleware_args: dict[str, Any], cookie: str) -> dict[str, Any]:
    recorder = ScopeRecorder()
    request(SessionMiddleware(recorder, **middleware_args), cookie)
    session: dict[str, Any] = recorder.scope["session"]
    return session


def cookie_pair(result: Result) -> str:
    """The ``name=value`` part of the response's only Set-Cookie header."""
    [set_cookie] = result.header_list("set-cookie")
    return set_cookie.split(";")[0]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_cookie(middleware: SessionMiddleware, payload: bytes, timestamp: bytes) -> str:
    """A correctly signed cookie around arbitrary payload and timestamp bytes."""
    signed = f"{b64(payload)}.{b64(timestamp)}".encode("ascii")
    return "session=" + (signed + b"." + middleware.sign(signed)).decode("ascii")


def issue(session: dict[str, Any]) -> str:
    """A cookie pair as the middleware itself issues it for ``session``."""
    return cookie_pair(request(SessionMiddleware(session_app(lambda s: s.update(session)), SECRET)))


def test_no_cookie_gives_an_empty_session_and_sets_nothing() -> None:
    recorder = ScopeRecorder()
    result = request(SessionMiddleware(recorder, SECRET))
    assert recorder.scope["session"] == {}
    assert result.header("set-cookie") is None


def test_a_changed_session_is_sent_as_a_signed_cookie_with_default_attributes() -> None:
    result = request(SessionMiddleware(session_app(lambda s: s.update(user=1)), SECRET))
    [set_cookie] = result.header_list("set-cookie")
    value, *attributes = set_cookie.split("; ")
    assert value.startswith("session=")
    assert value.count(".") == 2
    assert attributes == ["Path=/", "Max-Age=1209600", "HttpOnly", "SameSite=Lax"]


def test_cookie_round_trips_and_an_unchanged_session_is_not_resent() -> None:
    cookie = issue({"user": 1, "roles": ["a"]})
    recorder = ScopeRecorder()
    result = request(SessionMiddleware(recorder, SECRET), cookie)
    assert recorder.scope["session"] == {"user": 1, "roles": ["a"]}
    assert result.header("set-cookie") is None


def test_a_changed_value_is_resent() -> None:
    cookie = issue({"user": 1})
    middleware = SessionMiddleware(session_app(lambda s: s.update(user=2)), SECRET)
    new_cookie = cookie_pair(request(middleware, cookie))
    assert loaded_session({"secret_key": SECRET}, new_cookie) == {"user": 2}


def test_a_nested_mutation_counts_as_a_change() -> None:
    cookie = issue({"cart": [1]})
    middleware = SessionMiddleware(session_app(lambda s: s["cart"].append(2)), SECRET)
    new_cookie = cookie_pair(request(middleware, cookie))
    assert loaded_session({"secret_key": SECRET}, new_cookie) == {"cart": [1, 2]}


def test_a_cleared_session_deletes_the_cookie() -> None:
    cookie = issue({"user": 1})
    result = request(SessionMiddleware(session_app(lambda s: s.clear()), SECRET), cookie)
    [set_cookie] = result.header_list("set-cookie")
    assert set_cookie.startswith("session=;")
    assert "Max-Age=0" in set_cookie
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in set_cookie
    assert "Path=/" in set_cookie


def test_a_forged_signature_gives_an_empty_session_and_deletes_the_cookie() -> None:
    _payload, timestamp, signature = issue({"user": "alice"}).removeprefix("session=").split(".")
    forged_payload = b64(b'{"user":"admin"}')
    forged = f"session={forged_payload}.{timestamp}.{signature}"
    recorder = ScopeRecorder()
    result = request(SessionMiddleware(recorder, SECRET), forged)
    assert recorder.scope["session"] == {}
    assert "Max-Age=0" in (result.header("set-cookie") or "")


def test_a_cookie_signed_with_another_key_is_refused() -> None:
    other = SessionMiddleware(session_app(lambda s: s.update(user="admin")), "another-key")
    cookie = cookie_pair(request(other))
    assert loaded_session({"secret_key": SECRET}, cookie) == {}


@pytest.mark.parametrize("cut", [1, 10, 44])
def test_a_truncated_cookie_gives_an_empty_session(cut: int) -> None:
    cookie = issue({"user": 1})
    assert loaded_session({"secret_key": SECRET}, cookie[:-cut]) == {}


def test_a_cookie_without_dots_gives_an_empty_session() -> None:
    assert loaded_session({"secret_key": SECRET}, "session=notasignedvalue") == {}


@pytest.mark.parametrize(
    ("payload", "timestamp"),
    [
        (b"not json", b"0"),
        (b"\xff\xfe", b"0"),
        (b"[1, 2]", b"0"),
        (b'"text"', b"0"),
        (b"{}", b"yesterday"),
    ],
)
def test_a_signed_but_malformed_payload_gives_an_empty_session(
    payload: bytes, timestamp: bytes
) -> None:
    middleware = SessionMiddleware(ScopeRecorder(), SECRET, max_age=None)
    cookie = signed_cookie(middleware, payload, timestamp)
    assert loaded_session({"secret_key": SECRET, "max_age": None}, cookie) == {}


def test_an_expired_cookie_gives_an_empty_session() -> None:
    middleware = SessionMiddleware(ScopeRecorder(), SECRET, max_age=60)
    value = middleware.encode({"user": 1}, now=time.time() - 61)
    assert middleware.decode(value) is None
    assert loaded_session({"secret_key": SECRET, "max_age": 60}, f"session={value.decode()}") == {}


def test_a_cookie_within_max_age_is_accepted() -> None:
    middleware = SessionMiddleware(ScopeRecorder(), SECRET, max_age=60)
    value = middleware.encode({"user": 1}, now=time.time() - 30)
    assert middleware.decode(value) == {"user": 1}


def test_without_max_age_old_cookies_live_and_no_max_age_is_sent() -> None:
    middleware = SessionMiddleware(ScopeRecorder(), SECRET, max_age=None)
    value = middleware.encode({"user": 1}, now=0)
    assert middleware.decode(value) == {"user": 1}
    result = request(SessionMiddleware(session_app(lambda s: s.update(a=1)), SECRET, max_age=None))
    assert "Max-Age" not in (result.header("set-cookie") or "Max-Age")


def test_cookie_attributes_follow_the_options() -> None:
    middleware = SessionMiddleware(
        session_app(lambda s: s.update(a=1)),
        b"bytes-key",
        session_cookie="sid",
        max_age=10,
        path="/app",
        same_site="none",
        https_only=True,
        domain="example.com",
    )
    [set_cookie] = request(middleware).header_list("set-cookie")
    _, *attributes = set_cookie.split("; ")
    assert set_cookie.startswith("sid=")
    assert attributes == [
        "Path=/app",
        "Domain=example.com",
        "Max-Age=10",
        "HttpOnly",
        "SameSite=None",
        "Secure",
    ]


def test_the_delete_cookie_carries_the_same_scope_attributes() -> None:
    middleware = SessionMiddleware(
        session_app(lambda s: s.clear()),
        SECRET,
        path="/app",
        domain="example.com",
        same_site="strict",
    )
    cookie = issue({"a": 1})
    [set_cookie] = request(middleware, cookie).header_list("set-cookie")
    assert set_cookie == (
        "session=; Path=/app; Domain=example.com; Max-Age=0; "
        "Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict"
    )


def test_malformed_cookie_headers_are_tolerated() -> None:
    cookie = issue({"user": 1})
    messy = f"garbage; session; =; other=1; {cookie}"
    assert loaded_session({"secret_key": SECRET}, messy) == {"user": 1}


def test_a_later_valid_cookie_of_the_same_name_is_used() -> None:
    cookie = issue({"user": 1})
    assert loaded_session({"secret_key": SECRET}, f"session=bogus; {cookie}") == {"user": 1}


def test_a_quoted_cookie_value_is_accepted() -> None:
    name, value = issue({"user": 1}).split("=", 1)
    assert loaded_session({"secret_key": SECRET}, f'{name}="{value}"') == {"user": 1}


def test_cookies_across_several_header_fields_are_read() -> None:
    cookie = issue({"user": 1})
    recorder = ScopeRecorder()
    scope = make_scope(headers=[("cookie", "a=1"), ("accept", "*/*"), ("cookie", cookie)])
    run(SessionMiddleware(recorder, SECRET), scope)
    assert recorder.scope["session"] == {"user": 1}


def test_a_value_that_is_not_json_is_a_clear_type_error() -> None:
    middleware = SessionMiddleware(session_app(lambda s: s.update(when=object())), SECRET)
    with pytest.raises(TypeError, match="JSON values"):
        request(middleware)


def test_websocket_scopes_get_the_session() -> None:
    cookie = issue({"user": 1})
    recorder = ScopeRecorder()
    scope = make_scope("websocket", headers=[("cookie", cookie)])
    result = run(SessionMiddleware(recorder, SECRET), scope)
    assert recorder.scope["session"] == {"user": 1}
    assert result.messages[0] == {"type": "websocket.accept"}


def test_lifespan_passes_through() -> None:
    recorder = ScopeRecorder()
    run(SessionMiddleware(recorder, SECRET), {"type": "lifespan"}, [])
    assert "session" not in recorder.scope


def test_the_cookie_payload_is_plain_json() -> None:
    payload = issue({"user": 1}).removeprefix("session=").split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == {"user": 1}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secret_key": ""}, "secret_key must not be empty"),
        ({"secret_key": SECRET, "session_cookie": "bad name"}, "not a valid cookie name"),
        ({"secret_key": SECRET, "path": "/; Domain=evil"}, "path"),
        ({"secret_key": SECRET, "domain": "a\r\nb"}, "domain"),
        ({"secret_key": SECRET, "same_site": "sometimes"}, "same_site must be"),
        ({"secret_key": SECRET, "same_site": "none"}, "needs https_only=True"),
        ({"secret_key": SECRET, "max_age": -1}, "max_age"),
    ],
)
def test_invalid_options_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SessionMiddleware(ScopeRecorder(), **kwargs)


def test_a_counter_survives_requests_through_the_test_client() -> None:
    def count(session: dict[str, Any]) -> None:
        session["n"] = session.get("n", 0) + 1

    seen: list[int] = []

    def record(session: dict[str, Any]) -> None:
        count(session)
        seen.append(session["n"])

    with TestClient(SessionMiddleware(session_app(record), SECRET)) as client:
        for _ in range(3):
            client.get("/")
    assert seen == [1, 2, 3]
