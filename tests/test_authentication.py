"""Authentication: the middleware, request.user/auth, @requires on every kind of endpoint."""

import threading
from typing import Any

import pytest

from microasgi import App, JSONResponse, PlainTextResponse, Request, WebSocket, WebSocketEndpoint
from microasgi.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
    SimpleUser,
    UnauthenticatedUser,
    has_required_scope,
    requires,
)
from microasgi.middleware import AuthenticationMiddleware, Middleware, SessionMiddleware
from microasgi.requests import HTTPConnection
from microasgi.testclient import TestClient, WebSocketDenialResponse
from tests.conftest import HTTPScope, RunApp

TOKENS = {"t-ann": ("ann", ["authenticated"]), "t-root": ("root", ["authenticated", "admin"])}
ANN = {"Authorization": "Bearer t-ann"}
ROOT = {"Authorization": "Bearer t-root"}


class BearerBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token not in TOKENS:
            raise AuthenticationError("Invalid bearer token.")
        name, scopes = TOKENS[token]
        return AuthCredentials(scopes), SimpleUser(name)


def make_app(**middleware_options: Any) -> App:
    app = App(
        middleware=[Middleware(AuthenticationMiddleware, BearerBackend(), **middleware_options)]
    )

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        user = request.user
        return {
            "name": user.display_name,
            "in": user.is_authenticated,
            "scopes": request.auth.scopes,
        }

    @app.get("/items/{item_id:int}")
    @requires("authenticated")
    async def item(item_id: int) -> dict[str, int]:  # no request parameter: @requires adds one
        return {"item": item_id}

    @app.get("/secret")
    @requires(["authenticated", "admin"], status_code=404)
    async def secret(request: Request) -> str:
        return f"for {request.user.display_name}"

    @app.get("/sync/{name}")
    @requires("authenticated")
    def sync_endpoint(name: str) -> str:
        assert threading.current_thread() is not threading.main_thread()
        return f"sync {name}"

    @app.get("/private")
    @requires("authenticated", redirect="login")
    async def private(request: Request) -> str:
        return "private"

    @app.get("/sync-private")
    @requires("authenticated", redirect="login")
    def sync_private() -> str:
        return "sync private"

    @app.get("/login", name="login")
    async def login(request: Request) -> str:
        return f"login, then {request.query_params['next']}"

    @app.route("/admin")
    class Admin:
        @requires("admin")
        async def get(self, request: Request) -> str:
            return "admin page"

        @requires("admin")
        def post(self) -> str:
            return "admin post"

    return app


def test_anonymous_and_authenticated_users() -> None:
    client = TestClient(make_app())
    assert client.get("/whoami").json() == {"name": "", "in": False, "scopes": []}
    assert client.get("/whoami", headers=ANN).json() == {
        "name": "ann",
        "in": True,
        "scopes": ["authenticated"],
    }


def test_invalid_credentials_are_a_400_with_the_message() -> None:
    response = TestClient(make_app()).get("/whoami", headers={"Authorization": "Bearer nope"})
    assert (response.status_code, response.text) == (400, "Invalid bearer token.")


def test_an_error_without_a_message_still_says_something() -> None:
    class Refusing(AuthenticationBackend):
        async def authenticate(self, conn: HTTPConnection) -> None:
            raise AuthenticationError

    app = App(middleware=[Middleware(AuthenticationMiddleware, Refusing())])
    assert TestClient(app).get("/").text == "Invalid credentials."


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_on_error_answers_instead(kind: str) -> None:
    def sync_handler(conn: HTTPConnection, exc: AuthenticationError) -> JSONResponse:
        return JSONResponse({"error": str(exc), "path": conn.url.path}, status_code=401)

    async def async_handler(conn: HTTPConnection, exc: AuthenticationError) -> JSONResponse:
        return sync_handler(conn, exc)

    handler = sync_handler if kind == "sync" else async_handler
    client = TestClient(make_app(on_error=handler))
    response = client.get("/whoami", headers={"Authorization": "Basic x"})
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid bearer token.", "path": "/whoami"}


def test_requires_keeps_path_parameters_bound_by_name() -> None:
    client = TestClient(make_app())
    assert client.get("/items/5").status_code == 403
    assert client.get("/items/5", headers=ANN).json() == {"item": 5}
    assert client.get("/items/x", headers=ANN).status_code == 404  # the convertor still applies


def test_requires_several_scopes_and_a_custom_status() -> None:
    client = TestClient(make_app())
    assert client.get("/secret", headers=ANN).status_code == 404
    assert client.get("/secret", headers=ROOT).text == "for root"


def test_requires_on_a_sync_endpoint() -> None:
    client = TestClient(make_app())
    assert client.get("/sync/x").status_code == 403
    assert client.get("/sync/x", headers=ANN).text == "sync x"


def test_requires_redirects_to_the_login_route_with_the_path_to_come_back_to() -> None:
    client = TestClient(make_app(), follow_redirects=False)
    response = client.get("/private?tab=2")
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/login?next=%2Fprivate%3Ftab%3D2"
    assert TestClient(make_app()).get("/private").text == "login, then /private"
    assert client.get("/private", headers=ANN).text == "private"
    sync_refused = client.get("/sync-private")
    assert sync_refused.headers["location"] == "http://testserver/login?next=%2Fsync-private"
    assert client.get("/sync-private", headers=ANN).text == "sync private"


def test_requires_on_class_endpoint_methods() -> None:
    client = TestClient(make_app())
    assert client.get("/admin", headers=ANN).status_code == 403
    assert client.post("/admin", headers=ANN).status_code == 403
    assert client.get("/admin", headers=ROOT).text == "admin page"
    assert client.post("/admin", headers=ROOT).text == "admin post"


def websocket_app() -> App:
    app = App(middleware=[Middleware(AuthenticationMiddleware, BearerBackend())])

    @app.websocket("/ws")
    @requires("authenticated")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"hello {websocket.user.display_name}")
        await websocket.close()

    @app.websocket("/ws/{room}")
    @requires("admin")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.send_text(room)
        await websocket.close()

    @app.websocket("/endpoint")
    class Echo(WebSocketEndpoint):
        encoding = "text"

        @requires("authenticated")
        async def on_connect(self, websocket: WebSocket) -> None:
            await websocket.accept()

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            await websocket.send_text(data.upper())

    return app


def websocket_scope(http_scope: HTTPScope, path: str, token: str | None = None) -> Any:
    headers = [("authorization", f"Bearer {token}")] if token else []
    return http_scope(path, headers=headers, type="websocket", scheme="ws", subprotocols=[])


@pytest.mark.parametrize("path", ["/ws", "/ws/lobby", "/endpoint"])
def test_an_unauthorised_websocket_is_closed_with_1008(
    run_app: RunApp, http_scope: HTTPScope, path: str
) -> None:
    sent = run_app(
        websocket_app(), websocket_scope(http_scope, path), [{"type": "websocket.connect"}]
    )
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Not authorised."}]


def test_invalid_websocket_credentials_close_with_1008(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    scope = websocket_scope(http_scope, "/ws", token="forged")
    sent = run_app(websocket_app(), scope, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


def test_authorised_websockets_are_served() -> None:
    client = TestClient(websocket_app())
    with client.websocket_connect("/ws", headers=ANN) as websocket:
        assert websocket.receive_text() == "hello ann"
    with client.websocket_connect("/ws/lobby", headers=ROOT) as websocket:
        assert websocket.receive_text() == "lobby"
    with client.websocket_connect("/endpoint", headers=ANN) as websocket:
        websocket.send_text("hi")
        assert websocket.receive_text() == "HI"
    with pytest.raises(WebSocketDenialResponse), client.websocket_connect("/ws"):
        pass  # a close before accept reaches a browser as a refused handshake


def test_request_user_without_the_middleware_is_a_clear_error() -> None:
    app = App()

    @app.get("/")
    async def home(request: Request) -> str:
        return str(request.user)

    @app.get("/scoped")
    @requires("authenticated")
    async def scoped() -> str:
        return "never"

    client = TestClient(app)
    with pytest.raises(RuntimeError, match=r"request.user needs AuthenticationMiddleware"):
        client.get("/")
    with pytest.raises(RuntimeError, match=r"request.auth needs AuthenticationMiddleware"):
        client.get("/scoped")


def test_a_sync_backend_runs_in_a_worker_thread() -> None:
    class ThreadBackend(AuthenticationBackend):
        def authenticate(  # type: ignore[override]
            self, conn: HTTPConnection
        ) -> tuple[AuthCredentials, BaseUser]:
            assert threading.current_thread() is not threading.main_thread()
            return AuthCredentials(["authenticated"]), SimpleUser("thread")

    app = App(middleware=[Middleware(AuthenticationMiddleware, ThreadBackend())])

    @app.get("/")
    @requires("authenticated")
    async def home(request: Request) -> str:
        return request.user.display_name  # type: ignore[no-any-return]

    assert TestClient(app).get("/").text == "thread"


class SessionBackend(AuthenticationBackend):
    """Reads the user a login form stored in the session."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        username = conn.session.get("username")
        if username is None:
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(username)


def test_a_session_backed_backend() -> None:
    app = App(
        middleware=[
            Middleware(SessionMiddleware, secret_key="test-secret"),
            Middleware(AuthenticationMiddleware, SessionBackend()),
        ]
    )

    @app.post("/login")
    async def login(request: Request) -> str:
        request.session["username"] = (await request.json())["username"]
        return "ok"

    @app.get("/me")
    @requires("authenticated")
    async def me(request: Request) -> str:
        return request.user.display_name  # type: ignore[no-any-return]

    with TestClient(app) as client:  # the lifespan passes through the middleware
        assert client.get("/me").status_code == 403
        client.post("/login", json={"username": "ann"})
        assert client.get("/me").text == "ann"


def test_users_credentials_and_helpers(http_scope: HTTPScope) -> None:
    assert repr(AuthCredentials(["a"])) == "AuthCredentials(['a'])"
    assert AuthCredentials().scopes == []
    user = SimpleUser("ann")
    assert (user.identity, user.display_name, repr(user)) == ("ann", "ann", "SimpleUser('ann')")
    nobody = UnauthenticatedUser()
    assert (nobody.is_authenticated, nobody.identity, repr(nobody)) == (
        False,
        "",
        "UnauthenticatedUser()",
    )
    for name in ("is_authenticated", "display_name", "identity"):
        with pytest.raises(NotImplementedError):
            getattr(BaseUser(), name)
    conn = HTTPConnection(http_scope("/", auth=AuthCredentials(["a", "b"])))
    assert has_required_scope(conn, ["a", "b"])
    assert not has_required_scope(conn, ["a", "c"])
    with pytest.raises(TypeError, match="at least one scope"):
        requires([])


def test_the_base_backend_must_be_subclassed(http_scope: HTTPScope) -> None:
    app = App(middleware=[Middleware(AuthenticationMiddleware, AuthenticationBackend())])
    with pytest.raises(NotImplementedError):
        TestClient(app).get("/")


def test_requires_keeps_the_endpoints_name_and_docstring() -> None:
    @requires("authenticated")
    async def documented(item_id: int) -> str:
        """Shows one item."""
        return ""

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Shows one item."


def test_requires_with_kwargs_endpoint_adds_the_connection_before_them() -> None:
    app = App(middleware=[Middleware(AuthenticationMiddleware, BearerBackend())])

    @app.get("/k/{a}/{b}")
    @requires("authenticated")
    async def takes_all(**params: str) -> PlainTextResponse:
        return PlainTextResponse(",".join(f"{k}={v}" for k, v in sorted(params.items())))

    client = TestClient(app)
    assert client.get("/k/1/2", headers=ANN).text == "a=1,b=2"
    assert client.get("/k/1/2").status_code == 403


def test_other_scope_types_pass_through_untouched(run_app: RunApp) -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        assert "user" not in scope

    run_app(AuthenticationMiddleware(inner, BearerBackend()), {"type": "lifespan"})
    assert seen == ["lifespan"]
