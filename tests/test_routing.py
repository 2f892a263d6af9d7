"""Routing: matching, specificity, 404/405/HEAD, slashes, mounts, hosts, URL building, clashes."""

import uuid
from typing import Any

import pytest

from microasgi import (
    App,
    Convertor,
    Host,
    JSONResponse,
    Mount,
    NoMatchFound,
    PlainTextResponse,
    Request,
    Route,
    Router,
    URLPath,
    WebSocket,
    WebSocketEndpoint,
    WebSocketRoute,
    register_convertor,
)
from microasgi.convertors import CONVERTOR_TYPES
from microasgi.middleware import Middleware
from microasgi.requests import MAX_MESSAGE_SIZE_KEY
from microasgi.routing import INHERIT
from microasgi.testclient import TestClient, WebSocketDenialResponse
from microasgi.types import ASGIApp, Message, Receive, Scope, Send
from tests.conftest import HTTPScope, RunApp


class TagMiddleware:
    """Adds ``x-tag: <label>`` to every HTTP response it wraps."""

    def __init__(self, app: ASGIApp, label: str = "on") -> None:
        self.app = app
        self.label = label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-tag", self.label.encode())]
            await send(message)

        await self.app(scope, receive, send_tagged)


def scope_recorder(seen: list[Scope]) -> ASGIApp:
    """A raw ASGI app that records its scope and answers 200 ``ok``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await PlainTextResponse("ok")(scope, receive, send)

    return app


def start_of(sent: list[Message]) -> Message:
    return next(message for message in sent if message["type"] == "http.response.start")


def header(message: Message, name: bytes) -> bytes | None:
    return next((value for key, value in message["headers"] if key == name), None)


# Path parameters and convertors ---------------------------------------------------------


def test_str_parameter_is_passed_as_text() -> None:
    app = App()

    @app.get("/users/{name}")
    async def user(name: str) -> dict[str, Any]:
        return {"name": name}

    assert TestClient(app).get("/users/ada").json() == {"name": "ada"}


def test_int_parameter_is_converted() -> None:
    app = App()

    @app.get("/items/{item_id:int}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "type": type(item_id).__name__}

    assert TestClient(app).get("/items/0042").json() == {"id": 42, "type": "int"}


def test_int_parameter_refuses_other_text_with_404() -> None:
    app = App()

    @app.get("/items/{item_id:int}")
    async def item(item_id: int) -> str:
        return "found"

    assert TestClient(app).get("/items/abc").status_code == 404


def test_float_parameter_is_converted() -> None:
    app = App()

    @app.get("/price/{amount:float}")
    async def price(amount: float) -> dict[str, Any]:
        return {"amount": amount}

    assert TestClient(app).get("/price/9.75").json() == {"amount": 9.75}


def test_uuid_parameter_is_converted() -> None:
    app = App()
    seen: list[Any] = []

    @app.get("/orders/{order_id:uuid}")
    async def order(order_id: uuid.UUID) -> str:
        seen.append(order_id)
        return "ok"

    value = uuid.uuid4()
    assert TestClient(app).get(f"/orders/{value}").status_code == 200
    assert seen == [value]


def test_path_parameter_takes_the_rest_with_slashes() -> None:
    app = App()

    @app.get("/files/{file_path:path}")
    async def files(file_path: str) -> str:
        return file_path

    assert TestClient(app).get("/files/css/site/main.css").text == "css/site/main.css"


def test_several_parameters_in_one_path() -> None:
    app = App()

    @app.get("/users/{user_id:int}/posts/{slug}")
    async def post(user_id: int, slug: str) -> dict[str, Any]:
        return {"user_id": user_id, "slug": slug}

    assert TestClient(app).get("/users/3/posts/hello").json() == {"user_id": 3, "slug": "hello"}


def test_mixed_segment_splits_text_and_parameters() -> None:
    app = App()

    @app.get("/download/{name}.{ext}")
    async def download(name: str, ext: str) -> dict[str, str]:
        return {"name": name, "ext": ext}

    assert TestClient(app).get("/download/report.pdf").json() == {"name": "report", "ext": "pdf"}


def test_str_parameter_does_not_span_segments() -> None:
    app = App()

    @app.get("/users/{name}")
    async def user(name: str) -> str:
        return name

    assert TestClient(app).get("/users/a/b").status_code == 404


def test_path_params_are_in_the_request_and_scope() -> None:
    app = App()

    @app.get("/users/{user_id:int}")
    async def user(request: Request) -> dict[str, Any]:
        return {"request": request.path_params, "scope": request.scope["path_params"]}

    assert TestClient(app).get("/users/5").json() == {
        "request": {"user_id": 5},
        "scope": {"user_id": 5},
    }


# Most specific wins ---------------------------------------------------------------------


def test_static_segment_beats_a_parameter_registered_first() -> None:
    app = App()

    @app.get("/users/{name}")
    async def by_name(name: str) -> str:
        return "param"

    @app.get("/users/me")
    async def me() -> str:
        return "static"

    client = TestClient(app)
    assert client.get("/users/me").text == "static"
    assert client.get("/users/ada").text == "param"


def test_typed_parameter_beats_str_registered_first() -> None:
    app = App()

    @app.get("/items/{slug}")
    async def by_slug(slug: str) -> str:
        return "str"

    @app.get("/items/{item_id:int}")
    async def by_id(item_id: int) -> str:
        return "int"

    client = TestClient(app)
    assert client.get("/items/5").text == "int"
    assert client.get("/items/five").text == "str"


def test_str_parameter_beats_path_registered_first() -> None:
    app = App()

    @app.get("/docs/{rest:path}")
    async def rest(rest: str) -> str:
        return "path"

    @app.get("/docs/{page}")
    async def page(page: str) -> str:
        return "str"

    client = TestClient(app)
    assert client.get("/docs/intro").text == "str"
    assert client.get("/docs/guide/intro").text == "path"


@pytest.mark.parametrize("float_first", [True, False])
def test_equal_specificity_falls_back_to_registration_order(float_first: bool) -> None:
    app = App()

    async def as_float(value: float) -> str:
        return "float"

    async def as_int(value: int) -> str:
        return "int"

    first, second = (as_float, as_int) if float_first else (as_int, as_float)
    app.add_route("/n/{value:float}" if float_first else "/n/{value:int}", first)
    app.add_route("/n/{value:int}" if float_first else "/n/{value:float}", second)
    assert TestClient(app).get("/n/5").text == ("float" if float_first else "int")


def test_mixed_segment_beats_a_whole_segment_parameter() -> None:
    app = App()

    @app.get("/{page}")
    async def page(page: str) -> str:
        return "page"

    @app.get("/{name}.{ext}")
    async def file(name: str, ext: str) -> str:
        return "file"

    client = TestClient(app)
    assert client.get("/logo.png").text == "file"
    assert client.get("/about").text == "page"


def test_an_earlier_static_segment_beats_a_later_one() -> None:
    app = App()

    @app.get("/{kind}/latest")
    async def latest(kind: str) -> str:
        return "param-first"

    @app.get("/posts/{post_id}")
    async def post(post_id: str) -> str:
        return "static-first"

    assert TestClient(app).get("/posts/latest").text == "static-first"


def test_a_route_wrong_only_in_method_lets_a_less_specific_route_serve() -> None:
    app = App()

    @app.get("/users/me")
    async def me() -> str:
        return "static"

    @app.post("/users/{name}")
    async def create(name: str) -> str:
        return "param"

    assert TestClient(app).post("/users/me").text == "param"


# 404, 405, HEAD -------------------------------------------------------------------------


def test_no_path_match_is_404() -> None:
    app = App()

    @app.get("/here")
    async def here() -> str:
        return "here"

    response = TestClient(app).get("/elsewhere")
    assert response.status_code == 404
    assert response.text == "Not Found"


def test_method_mismatch_is_405_with_a_sorted_allow_header_including_head() -> None:
    app = App()

    @app.post("/things")
    async def create() -> str:
        return "created"

    @app.get("/things")
    async def index() -> str:
        return "list"

    response = TestClient(app).delete("/things")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_unknown_method_is_405() -> None:
    app = App()

    @app.get("/things")
    async def index() -> str:
        return "list"

    response = TestClient(app).request("FOO", "/things")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_lowercase_methods_are_registered_uppercase() -> None:
    app = App()

    @app.route("/submit", methods=["post"])
    async def submit() -> str:
        return "ok"

    assert TestClient(app).post("/submit").text == "ok"


def test_head_gets_the_get_headers_without_a_body() -> None:
    app = App()

    @app.get("/hello")
    async def hello() -> str:
        return "hello, world"

    client = TestClient(app)
    get = client.get("/hello")
    head = client.head("/hello")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == "12"
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_on_a_post_only_route_is_405() -> None:
    app = App()

    @app.post("/submit")
    async def submit() -> str:
        return "ok"

    response = TestClient(app).head("/submit")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_bare_router_answers_404_itself() -> None:
    router = Router([Route("/here", lambda: "here")])
    response = TestClient(router).get("/elsewhere")
    assert response.status_code == 404
    assert response.text == "Not Found"


def test_bare_router_answers_405_itself() -> None:
    router = Router([Route("/here", lambda: "here")])
    response = TestClient(router).post("/here")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_404_under_an_app_goes_to_its_handler() -> None:
    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"missing": request.url.path}, status_code=404)

    app = App(exception_handlers={404: not_found})
    response = TestClient(app).get("/nope")
    assert response.json() == {"missing": "/nope"}


# redirect_slashes -----------------------------------------------------------------------


def test_missing_trailing_slash_redirects_to_the_twin() -> None:
    app = App()

    @app.get("/items/")
    async def items() -> str:
        return "items"

    response = TestClient(app, follow_redirects=False).get("/items")
    assert response.status_code == 307
    assert response.headers["location"] == "/items/"


def test_extra_trailing_slash_redirects_to_the_twin_keeping_the_query() -> None:
    app = App()

    @app.get("/items")
    async def items() -> str:
        return "items"

    response = TestClient(app, follow_redirects=False).get("/items/?page=2&sort=name")
    assert response.status_code == 307
    assert response.headers["location"] == "/items?page=2&sort=name"


def test_redirect_is_followed_to_the_route() -> None:
    app = App()

    @app.get("/users/{name}")
    async def user(name: str) -> str:
        return name

    assert TestClient(app).get("/users/ada/").text == "ada"


def test_redirect_keeps_the_root_path() -> None:
    app = App()

    @app.get("/items/")
    async def items() -> str:
        return "items"

    client = TestClient(app, root_path="/api", follow_redirects=False)
    assert client.get("/items").headers["location"] == "/api/items/"


def test_redirect_keeps_the_client_percent_encoding(run_app: RunApp, http_scope: HTTPScope) -> None:
    app = App()

    @app.get("/tags/{tag}/")
    async def tag(tag: str) -> str:
        return tag

    scope = http_scope("/tags/100%", raw_path=b"/tags/100%25")
    start = start_of(run_app(app, scope))
    assert start["status"] == 307
    assert header(start, b"location") == b"/tags/100%25/"


def test_redirect_encodes_the_path_when_raw_path_disagrees(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = App()

    @app.get("/caf\u00e9/")
    async def cafe() -> str:
        return "cafe"

    # As if a middleware had rewritten scope["path"] but not raw_path.
    scope = http_scope("/caf\u00e9", raw_path=b"/old")
    start = start_of(run_app(app, scope))
    assert header(start, b"location") == b"/caf%C3%A9/"


def test_no_redirect_when_the_twin_does_not_match_either() -> None:
    app = App()

    @app.get("/items")
    async def items() -> str:
        return "items"

    assert TestClient(app, follow_redirects=False).get("/other/").status_code == 404


def test_redirect_slashes_false_gives_404() -> None:
    app = App(redirect_slashes=False)

    @app.get("/items/")
    async def items() -> str:
        return "items"

    assert TestClient(app, follow_redirects=False).get("/items").status_code == 404


def test_root_path_is_never_redirected(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router([Route("//", lambda: "double")])
    start = start_of(run_app(router, http_scope("/")))
    assert start["status"] == 404


def test_no_redirect_to_a_scheme_relative_location(run_app: RunApp, http_scope: HTTPScope) -> None:
    app = App()

    @app.get("//evil.example/")
    async def trap() -> str:
        return "trap"

    sent = run_app(app, http_scope("//evil.example"))
    assert start_of(sent)["status"] == 404
    assert all(header(message, b"location") is None for message in sent if "headers" in message)


def test_no_redirect_to_a_backslash_location(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router([Route("/{name}/", lambda name: name)])
    sent = run_app(router, http_scope("/\\evil.example", raw_path=b"/\\evil.example"))
    assert start_of(sent)["status"] == 404


def test_encoded_backslash_redirects_safely(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router([Route("/{name}/", lambda name: name)])
    sent = run_app(router, http_scope("/\\evil.example", raw_path=b"/%5Cevil.example"))
    start = start_of(sent)
    assert start["status"] == 307
    assert header(start, b"location") == b"/%5Cevil.example/"


def test_empty_segment_convertor_cannot_open_a_redirect(
    run_app: RunApp, http_scope: HTTPScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Optional(Convertor):
        regex = "[^/]*"

        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: Any) -> str:
            return str(value)

    monkeypatch.delitem(CONVERTOR_TYPES, "optional", raising=False)
    register_convertor("optional", Optional())
    router = Router([Route("/{lang:optional}/{page}/", lambda lang, page: page)])
    sent = run_app(router, http_scope("//evil.example", raw_path=b"//evil.example"))
    assert start_of(sent)["status"] == 404


def test_mount_prefix_without_slash_redirects_into_the_mount() -> None:
    app = App(routes=[Mount("/api", routes=[Route("/", lambda: "api root")])])
    client = TestClient(app, follow_redirects=False)
    response = client.get("/api?x=1")
    assert response.status_code == 307
    assert response.headers["location"] == "/api/?x=1"
    assert client.get("/api/").text == "api root"


# Odd paths ------------------------------------------------------------------------------


def test_non_utf8_percent_encoding_is_replaced_not_a_crash() -> None:
    app = App()

    @app.get("/files/{name}")
    async def file(name: str) -> str:
        return name

    response = TestClient(app).get("/files/%FF")
    assert response.status_code == 200
    assert response.text == "\ufffd"


def test_percent_encoded_text_is_decoded_before_matching() -> None:
    app = App()

    @app.get("/caf\u00e9/{name}")
    async def cafe(name: str) -> str:
        return name

    assert TestClient(app).get("/caf%C3%A9/a%20b").text == "a b"


def test_encoded_slash_is_a_segment_boundary_after_decoding() -> None:
    app = App()

    @app.get("/files/{name}")
    async def file(name: str) -> str:
        return name

    assert TestClient(app, follow_redirects=False).get("/files/a%2Fb").status_code == 404


def test_double_slash_path_redirects_only_to_a_local_path(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    router = Router([Route("/", lambda: "root"), Route("/{name}", lambda name: name)])
    start = start_of(run_app(router, http_scope("//", raw_path=b"//")))
    assert start["status"] == 307
    assert header(start, b"location") == b"/"


def test_double_slash_path_without_twin_is_404(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router([Route("/{name}", lambda name: name)])
    assert start_of(run_app(router, http_scope("//", raw_path=b"//")))["status"] == 404


def test_double_slash_inside_a_path_is_404(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router([Route("/a/{name}/b", lambda name: name)])
    assert start_of(run_app(router, http_scope("/a//b")))["status"] == 404


def test_path_without_a_leading_slash_is_404(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router([Route("/{name}", lambda name: name)])
    assert start_of(run_app(router, http_scope("name", raw_path=b"name")))["status"] == 404


def test_very_long_path_is_404_not_a_crash(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router(
        [Route("/{a}/{b}/{c}", lambda a, b, c: "deep"), Route("/x{name}.{ext}", lambda: "x")]
    )
    long_path = "/a" * 20_000 + "/x" + "y" * 100_000 + ".txt"
    assert start_of(run_app(router, http_scope(long_path)))["status"] == 404


def test_very_long_path_reaches_a_path_parameter(run_app: RunApp, http_scope: HTTPScope) -> None:
    seen: list[str] = []

    def catch_all(rest: str) -> str:
        seen.append(rest)
        return "ok"

    router = Router([Route("/{rest:path}", catch_all)])
    assert start_of(run_app(router, http_scope("/a" * 20_000)))["status"] == 200
    assert len(seen[0]) == 40_000 - 1


def test_traversal_looking_path_is_just_text_to_the_router() -> None:
    app = App()

    @app.get("/static/{file_path:path}")
    async def static(file_path: str) -> str:
        return file_path

    @app.get("/pages/{name}")
    async def page(name: str) -> str:
        return name

    client = TestClient(app)
    # httpx would normalise "..": send it encoded, as an attacker would.
    assert client.get("/static/%2E%2E/%2E%2E/etc/passwd").text == "../../etc/passwd"
    assert client.get("/pages/%2E%2E").text == ".."


def test_nul_byte_in_a_path_is_just_text() -> None:
    app = App()

    @app.get("/pages/{name}")
    async def page(name: str) -> dict[str, str]:
        return {"name": name}

    assert TestClient(app).get("/pages/a%00b").json() == {"name": "a\x00b"}


# Mount ----------------------------------------------------------------------------------


def test_mount_keeps_the_full_path_and_extends_root_path() -> None:
    seen: list[Scope] = []
    app = App(routes=[Mount("/api", scope_recorder(seen))])
    assert TestClient(app).get("/api/users/1").text == "ok"
    assert seen[0]["path"] == "/api/users/1"
    assert seen[0]["root_path"] == "/api"


def test_mount_under_a_server_root_path() -> None:
    seen: list[Scope] = []
    app = App(routes=[Mount("/api", scope_recorder(seen))])
    TestClient(app, root_path="/site").get("/api/users")
    assert seen[0]["path"] == "/site/api/users"
    assert seen[0]["root_path"] == "/site/api"


def test_nested_mounts_extend_root_path_twice() -> None:
    seen: list[Scope] = []
    inner = Mount("/v1", scope_recorder(seen))
    app = App(routes=[Mount("/api", routes=[inner])])
    assert TestClient(app).get("/api/v1/items").text == "ok"
    assert seen[0]["path"] == "/api/v1/items"
    assert seen[0]["root_path"] == "/api/v1"


def test_mount_with_routes_serves_them() -> None:
    async def users() -> list[str]:
        return ["ada"]

    app = App(routes=[Mount("/api", routes=[Route("/users", users)])])
    assert TestClient(app).get("/api/users").json() == ["ada"]


def test_mount_parameters_reach_the_inner_route() -> None:
    # Binding sees only the route's own path: mount params come through request.path_params.
    async def post(request: Request, post_id: int) -> dict[str, int]:
        return {"user_id": request.path_params["user_id"], "post_id": post_id}

    app = App(routes=[Mount("/users/{user_id:int}", routes=[Route("/posts/{post_id:int}", post)])])
    assert TestClient(app).get("/users/1/posts/2").json() == {"user_id": 1, "post_id": 2}


def test_mount_at_root_catches_what_no_route_matches() -> None:
    seen: list[Scope] = []

    async def health() -> str:
        return "healthy"

    app = App(routes=[Route("/health", health), Mount("/", scope_recorder(seen))])
    client = TestClient(app)
    assert client.get("/health").text == "healthy"
    assert client.get("/anything/else").text == "ok"
    assert seen[0]["root_path"] == ""


def test_miss_inside_a_mount_is_404() -> None:
    app = App(routes=[Mount("/api", routes=[Route("/users", lambda: "users")])])
    assert TestClient(app).get("/api/nothing").status_code == 404


def test_mount_does_not_match_a_longer_segment() -> None:
    seen: list[Scope] = []
    app = App(routes=[Mount("/api", scope_recorder(seen))])
    assert TestClient(app).get("/apiary").status_code == 404
    assert seen == []


def test_mount_needs_exactly_one_of_app_and_routes() -> None:
    with pytest.raises(ValueError, match="exactly one of app= or routes="):
        Mount("/api")
    with pytest.raises(ValueError, match="exactly one of app= or routes="):
        Mount("/api", scope_recorder([]), routes=[])


def test_mount_routes_lists_the_inner_routes() -> None:
    route = Route("/users", lambda: "users")
    assert Mount("/api", routes=[route]).routes == [route]
    assert Mount("/raw", scope_recorder([])).routes == []


def test_mount_middleware_wraps_only_the_mount() -> None:
    app = App(
        routes=[
            Mount(
                "/api", routes=[Route("/a", lambda: "a")], middleware=[Middleware(TagMiddleware)]
            ),
            Route("/b", lambda: "b"),
        ]
    )
    client = TestClient(app)
    assert client.get("/api/a").headers.get("x-tag") == "on"
    assert "x-tag" not in client.get("/b").headers


def test_websocket_through_a_mount() -> None:
    async def echo(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.send_text(f"{room}:{websocket.scope['root_path']}")
        await websocket.close()

    app = App(routes=[Mount("/ws", routes=[WebSocketRoute("/rooms/{room}", echo)])])
    with TestClient(app).websocket_connect("/ws/rooms/lobby") as session:
        assert session.receive_text() == "lobby:/ws"


def test_unknown_websocket_path_is_denied_with_404() -> None:
    app = App()
    session = TestClient(app).websocket_connect("/nowhere")
    with pytest.raises(WebSocketDenialResponse) as denied, session:
        pass
    assert denied.value.status_code == 404
    assert denied.value.text == "Not Found"


def test_bare_router_denies_a_websocket_by_closing(run_app: RunApp) -> None:
    scope: Scope = {"type": "websocket", "path": "/nowhere", "root_path": "", "headers": []}
    sent = run_app(Router(), scope, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1000}]


def test_mount_max_body_size_overrides_the_app() -> None:
    async def upload(request: Request) -> str:
        return str(len(await request.body()))

    app = App(
        max_body_size=4,
        routes=[Mount("/big", routes=[Route("/up", upload, methods=["POST"])], max_body_size=None)],
    )
    client = TestClient(app)
    assert client.post("/big/up", content=b"x" * 100).text == "100"


# Host -----------------------------------------------------------------------------------


def test_host_with_a_parameter_serves_its_app() -> None:
    async def home(request: Request) -> dict[str, Any]:
        return request.path_params

    app = App(routes=[Host("{tenant}.example.com", Router([Route("/", home)]))])
    client = TestClient(app, base_url="http://acme.example.com:8000")
    assert client.get("/").json() == {"tenant": "acme"}


def test_host_match_ignores_case() -> None:
    app = App(routes=[Host("API.example.com", Router([Route("/", lambda: "api")]))])
    assert TestClient(app, base_url="http://api.EXAMPLE.com").get("/").text == "api"


def test_unmatched_host_falls_through_to_path_routes() -> None:
    app = App(
        routes=[
            Host("api.example.com", Router([Route("/", lambda: "api")])),
            Route("/", lambda: "main"),
        ]
    )
    assert TestClient(app, base_url="http://www.example.com").get("/").text == "main"
    assert TestClient(app, base_url="http://api.example.com").get("/").text == "api"


def test_host_of_an_ipv6_literal_keeps_its_brackets(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router([Host("[::1]", Router([Route("/", lambda: "v6")]))])
    sent = run_app(router, http_scope("/", headers=[("host", "[::1]:8000")]))
    assert sent[-1]["body"] == b"v6"


def test_host_falls_back_to_the_server_address(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router([Host("internal", Router([Route("/", lambda: "internal")]))])
    scope = http_scope("/", server=("internal", 80))
    scope["headers"] = []
    assert run_app(router, scope)[-1]["body"] == b"internal"


def test_host_without_host_header_or_server_matches_no_host(
    run_app: RunApp, http_scope: HTTPScope
) -> None:
    router = Router([Host("internal", Router([Route("/", lambda: "internal")]))])
    scope = http_scope("/", server=None)
    scope["headers"] = []
    assert start_of(run_app(router, scope))["status"] == 404


def test_host_param_that_a_convertor_refuses_does_not_match(
    run_app: RunApp, http_scope: HTTPScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Short(Convertor):
        regex = "[a-z]+"

        def convert(self, value: str) -> str:
            if len(value) > 3:
                raise ValueError("too long")
            return value

        def to_string(self, value: Any) -> str:
            return str(value)

    monkeypatch.delitem(CONVERTOR_TYPES, "short", raising=False)
    register_convertor("short", Short())
    router = Router([Host("{code:short}.example.com", Router([Route("/", lambda: "short")]))])
    long_host = http_scope("/", headers=[("host", "toolong.example.com")])
    assert start_of(run_app(router, long_host))["status"] == 404


def test_host_routes_lists_the_inner_routes() -> None:
    route = Route("/", lambda: "x")
    assert Host("example.com", Router([route])).routes == [route]
    assert Host("example.com", scope_recorder([])).routes == []


# url_path_for and url_for ---------------------------------------------------------------


def test_url_path_for_returns_a_urlpath() -> None:
    app = App()

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> str:
        return ""

    path = app.url_path_for("user", user_id=7)
    assert isinstance(path, URLPath)
    assert path == "/users/7"
    assert path.protocol == "http"


def test_url_path_for_uses_an_explicit_name() -> None:
    app = App()

    @app.get("/about", name="about-page")
    async def about() -> str:
        return ""

    assert app.url_path_for("about-page") == "/about"
    with pytest.raises(NoMatchFound):
        app.url_path_for("about")


def test_url_path_for_a_websocket_route_has_the_websocket_protocol() -> None:
    async def chat(websocket: WebSocket) -> None:
        await websocket.close()

    router = Router([WebSocketRoute("/chat/{room}", chat)])
    path = router.url_path_for("chat", room="lobby")
    assert path == "/chat/lobby"
    assert path.protocol == "websocket"


def test_nested_names_join_mount_and_route() -> None:
    users = Route("/users/{user_id:int}", lambda user_id: "", name="user")
    app = App(routes=[Mount("/api", name="api", routes=[Mount("/v1", name="v1", routes=[users])])])
    assert app.url_path_for("api:v1:user", user_id=3) == "/api/v1/users/3"


def test_routes_of_an_unnamed_mount_keep_their_own_names() -> None:
    app = App(routes=[Mount("/api", routes=[Route("/users", lambda: "", name="users")])])
    assert app.url_path_for("users") == "/api/users"


def test_named_mount_hides_the_bare_route_name() -> None:
    app = App(
        routes=[Mount("/api", name="api", routes=[Route("/users", lambda: "", name="users")])]
    )
    with pytest.raises(NoMatchFound):
        app.url_path_for("users")


def test_mount_parameters_are_filled_too() -> None:
    route = Route("/posts/{post_id:int}", lambda post_id: "", name="post")
    app = App(routes=[Mount("/users/{user_id:int}", name="users", routes=[route])])
    assert app.url_path_for("users:post", user_id=1, post_id=2) == "/users/1/posts/2"


def test_missing_mount_parameter_is_no_match() -> None:
    route = Route("/posts/{post_id:int}", lambda post_id: "", name="post")
    app = App(routes=[Mount("/users/{user_id:int}", name="users", routes=[route])])
    with pytest.raises(NoMatchFound, match=r'"users:post".*\(post_id\)'):
        app.url_path_for("users:post", post_id=2)


def test_mount_parameter_that_does_not_fit_is_no_match() -> None:
    route = Route("/posts", lambda: "", name="posts")
    app = App(routes=[Mount("/users/{user_id:int}", name="users", routes=[route])])
    with pytest.raises(NoMatchFound):
        app.url_path_for("users:posts", user_id="abc")


def test_named_mount_with_path_gives_a_path_under_it() -> None:
    app = App(routes=[Mount("/static", scope_recorder([]), name="static")])
    path = app.url_path_for("static", path="/css/site main.css")
    assert path == "/static/css/site%20main.css"


def test_named_mount_with_path_needs_exactly_its_parameters() -> None:
    app = App(routes=[Mount("/{lang}/static", scope_recorder([]), name="static")])
    assert app.url_path_for("static", lang="en", path="a.css") == "/en/static/a.css"
    with pytest.raises(NoMatchFound):
        app.url_path_for("static", path="a.css")


def test_mount_of_a_plain_app_has_no_inner_names() -> None:
    app = App(routes=[Mount("/raw", scope_recorder([]), name="raw")])
    with pytest.raises(NoMatchFound):
        app.url_path_for("raw:anything")


def test_url_path_for_round_trips_encoded_values() -> None:
    app = App()

    @app.get("/tags/{tag}")
    async def tag(tag: str) -> str:
        return tag

    path = app.url_path_for("tag", tag="a b?c%")
    assert path == "/tags/a%20b%3Fc%25"
    assert TestClient(app).get(path).text == "a b?c%"


@pytest.mark.parametrize(
    ("params", "listed"),
    [
        ({}, "()"),
        ({"user_id": 1, "extra": 2}, "(extra, user_id)"),
        ({"id": 1}, "(id)"),
    ],
)
def test_wrong_or_missing_params_raise_no_match_naming_route_and_params(
    params: dict[str, Any], listed: str
) -> None:
    app = App()

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> str:
        return ""

    with pytest.raises(NoMatchFound, match=rf'"user".*{listed}'):
        app.url_path_for("user", **params)


def test_value_the_convertor_refuses_is_no_match() -> None:
    app = App()

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> str:
        return ""

    with pytest.raises(NoMatchFound, match='"user"'):
        app.url_path_for("user", user_id="abc")
    with pytest.raises(NoMatchFound, match='"user"'):
        app.url_path_for("user", user_id=-1)


def test_unknown_name_is_no_match() -> None:
    with pytest.raises(NoMatchFound, match='"nothing"'):
        App().url_path_for("nothing")


def test_request_url_for_is_absolute() -> None:
    app = App()

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> str:
        return ""

    @app.get("/link")
    async def link(request: Request) -> str:
        return str(request.url_for("user", user_id=5))

    assert TestClient(app).get("/link").text == "http://testserver/users/5"


def test_request_url_for_honours_root_path() -> None:
    app = App()

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> str:
        return ""

    @app.get("/link")
    async def link(request: Request) -> str:
        return str(request.url_for("user", user_id=5))

    client = TestClient(app, root_path="/api")
    assert client.get("/link").text == "http://testserver/api/users/5"


def test_request_url_for_honours_scheme_and_host() -> None:
    app = App()

    @app.get("/page")
    async def page(request: Request) -> str:
        return str(request.url_for("page"))

    client = TestClient(app, base_url="https://example.org:8443")
    assert client.get("/page").text == "https://example.org:8443/page"


def test_request_url_for_inside_a_mount_starts_at_the_app_root() -> None:
    async def link(request: Request) -> str:
        return str(request.url_for("home")) + " " + str(request.url_for("api:link"))

    app = App(
        routes=[
            Route("/", lambda: "home", name="home"),
            Mount("/api", name="api", routes=[Route("/link", link)]),
        ]
    )
    client = TestClient(app, root_path="/site")
    assert client.get("/api/link").text == "http://testserver/site/ http://testserver/site/api/link"


def test_request_url_for_a_websocket_route_uses_ws() -> None:
    async def chat(websocket: WebSocket) -> None:
        await websocket.close()

    app = App()
    app.add_websocket_route("/chat", chat)

    @app.get("/link")
    async def link(request: Request) -> str:
        return str(request.url_for("chat"))

    assert TestClient(app, base_url="https://testserver").get("/link").text == (
        "wss://testserver/chat"
    )


def test_url_for_through_a_host_gives_that_host() -> None:
    inner = Router([Route("/users/{user_id:int}", lambda user_id: "", name="user")])
    app = App(routes=[Host("{tenant}.example.com", inner, name="tenant")])

    @app.get("/link")
    async def link(request: Request) -> str:
        return str(request.url_for("tenant:user", tenant="acme", user_id=2))

    path = app.url_path_for("tenant:user", tenant="acme", user_id=2)
    assert path == "/users/2"
    assert path.host == "acme.example.com"
    assert TestClient(app).get("/link").text == "http://acme.example.com/users/2"


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("other:user", {"tenant": "acme", "user_id": 2}),
        ("tenant:user", {"user_id": 2}),
        ("tenant:user", {"tenant": "a/b", "user_id": 2}),
    ],
)
def test_host_url_path_for_refusals(name: str, params: dict[str, Any]) -> None:
    inner = Router([Route("/users/{user_id:int}", lambda user_id: "", name="user")])
    app = App(routes=[Host("{tenant}.example.com", inner, name="tenant")])
    with pytest.raises(NoMatchFound):
        app.url_path_for(name, **params)


def test_host_of_a_plain_app_has_no_inner_names() -> None:
    app = App(routes=[Host("example.com", scope_recorder([]))])
    with pytest.raises(NoMatchFound):
        app.url_path_for("anything")


# Registration clashes -------------------------------------------------------------------


def test_same_path_and_method_is_a_clash_naming_both_endpoints() -> None:
    app = App()

    @app.get("/users")
    async def list_users() -> str:
        return ""

    async def other_users() -> str:
        return ""

    with pytest.raises(ValueError, match=r"other_users.*list_users.*GET, HEAD.*'/users'"):
        app.add_route("/users", other_users)


def test_same_shape_with_other_param_names_is_a_clash() -> None:
    app = App()

    @app.get("/users/{user_id}")
    async def by_id(user_id: str) -> str:
        return ""

    with pytest.raises(ValueError, match=r"by_name.*by_id.*'/users/\{:str\}'"):

        @app.get("/users/{name}")
        async def by_name(name: str) -> str:
            return ""


def test_websocket_routes_at_one_path_clash() -> None:
    async def first(websocket: WebSocket) -> None:
        await websocket.close()

    async def second(websocket: WebSocket) -> None:
        await websocket.close()

    router = Router([WebSocketRoute("/ws", first)])
    with pytest.raises(ValueError, match=r"second.*first.*websocket"):
        router.add(WebSocketRoute("/ws", second))


def test_mounts_at_one_prefix_clash() -> None:
    router = Router([Mount("/api", scope_recorder([]), name="one")])
    with pytest.raises(
        ValueError, match=r"Mount\('/api', name='two'\).*Mount\('/api', name='one'\)"
    ):
        router.add(Mount("/api/", scope_recorder([]), name="two"))


def test_disjoint_methods_on_one_path_are_fine() -> None:
    app = App()

    @app.get("/items")
    async def read() -> str:
        return "read"

    @app.post("/items")
    async def write() -> str:
        return "write"

    client = TestClient(app)
    assert client.get("/items").text == "read"
    assert client.post("/items").text == "write"


def test_http_and_websocket_routes_at_one_path_are_fine() -> None:
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("socket")
        await websocket.close()

    app = App()
    app.add_route("/live", lambda: "page")
    app.add_websocket_route("/live", socket)
    client = TestClient(app)
    assert client.get("/live").text == "page"
    with client.websocket_connect("/live") as session:
        assert session.receive_text() == "socket"


def test_other_kinds_at_one_position_are_fine() -> None:
    app = App()
    app.add_route("/items/{item_id:int}", lambda item_id: "int")
    app.add_route("/items/{slug}", lambda slug: "str")
    assert TestClient(app).get("/items/1").text == "int"


def test_registering_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Expected a Route, WebSocketRoute, Mount or Host"):
        Router().add(object())  # type: ignore[arg-type]


# include_router -------------------------------------------------------------------------


def test_include_router_adds_the_prefix_and_keeps_names() -> None:
    users = Router()

    @users.get("/{user_id:int}")
    async def user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    app = App()
    app.include_router(users, prefix="/users/")
    assert TestClient(app).get("/users/4").json() == {"user_id": 4}
    assert app.url_path_for("user", user_id=4) == "/users/4"


def test_include_router_without_prefix() -> None:
    router = Router([Route("/ping", lambda: "pong")])
    app = App()
    app.include_router(router)
    assert TestClient(app).get("/ping").text == "pong"


def test_include_router_prefix_needs_a_leading_slash() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        App().include_router(Router(), prefix="users")


def test_include_router_middleware_wraps_only_the_included_routes() -> None:
    admin = Router([Route("/panel", lambda: "panel")])
    app = App()
    app.add_route("/public", lambda: "public")
    app.include_router(admin, prefix="/admin", middleware=[Middleware(TagMiddleware)])
    client = TestClient(app)
    assert client.get("/admin/panel").headers.get("x-tag") == "on"
    assert "x-tag" not in client.get("/public").headers


def test_include_router_puts_its_middleware_outside_the_routes_own() -> None:
    inner = Route("/x", lambda: "x", middleware=[Middleware(TagMiddleware, "route")])
    app = App()
    app.include_router(
        Router([inner]), prefix="/p", middleware=[Middleware(TagMiddleware, "include")]
    )
    # The innermost adds its header first, so it comes first in the list.
    assert TestClient(app).get("/p/x").headers.get_list("x-tag") == ["route", "include"]


def test_include_router_copies_class_websocket_and_mount_routes() -> None:
    class Items:
        async def get(self) -> str:
            return "items"

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    seen: list[Scope] = []
    router = Router()
    router.route("/items")(Items)
    router.websocket("/ws")(socket)
    router.mount("/raw", scope_recorder(seen), name="raw")
    app = App()
    app.include_router(router, prefix="/v1")
    client = TestClient(app)
    assert client.get("/v1/items").text == "items"
    assert client.post("/v1/items").status_code == 405
    with client.websocket_connect("/v1/ws") as session:
        assert session.receive_text() == "hi"
    assert client.get("/v1/raw/x").text == "ok"
    assert seen[0]["root_path"] == "/v1/raw"


def test_include_router_keeps_a_host_without_prefix() -> None:
    host = Host("api.example.com", Router([Route("/", lambda: "api")]))
    app = App()
    app.include_router(Router([host]))
    assert TestClient(app, base_url="http://api.example.com").get("/").text == "api"


def test_include_router_refuses_a_host_under_a_prefix() -> None:
    host = Host("api.example.com", Router([Route("/", lambda: "api")]))
    with pytest.raises(ValueError, match="Cannot include Host"):
        App().include_router(Router([host]), prefix="/v1")


def test_include_router_clash_is_reported() -> None:
    app = App()
    app.add_route("/users", lambda: "")
    with pytest.raises(ValueError, match="Route clash"):
        app.include_router(Router([Route("/users", lambda: "")]))


# Per-route middleware -------------------------------------------------------------------


def test_route_middleware_wraps_only_its_route() -> None:
    app = App()

    @app.get("/wrapped", middleware=[Middleware(TagMiddleware)])
    async def wrapped() -> str:
        return "wrapped"

    @app.get("/plain")
    async def plain() -> str:
        return "plain"

    client = TestClient(app)
    assert client.get("/wrapped").headers.get("x-tag") == "on"
    assert "x-tag" not in client.get("/plain").headers


def test_route_middleware_first_listed_is_outermost() -> None:
    app = App()
    app.add_route(
        "/x",
        lambda: "x",
        middleware=[Middleware(TagMiddleware, "outer"), Middleware(TagMiddleware, "inner")],
    )
    assert TestClient(app).get("/x").headers.get_list("x-tag") == ["inner", "outer"]


def test_route_middleware_sees_path_params_and_route() -> None:
    seen: list[Scope] = []

    class Spy:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope)
            await self.app(scope, receive, send)

    app = App()
    app.add_route("/users/{user_id:int}", lambda user_id: "u", middleware=[Middleware(Spy)])
    TestClient(app).get("/users/9")
    assert seen[0]["path_params"] == {"user_id": 9}
    assert isinstance(seen[0]["route"], Route)


def test_websocket_route_middleware_wraps_only_its_route() -> None:
    seen: list[str] = []

    class Spy:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope["path"])
            await self.app(scope, receive, send)

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    app = App()
    app.add_websocket_route("/spied", socket, middleware=[Middleware(Spy)])
    app.add_websocket_route("/plain", socket, name="plain")
    client = TestClient(app)
    for path in ("/spied", "/plain"):
        with client.websocket_connect(path):
            pass
    assert seen == ["/spied"]


# Matching cost --------------------------------------------------------------------------


class CountingConvertor(Convertor):
    """An int-like convertor that counts how often the router asks it to match."""

    regex = "[0-9]+"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def matches(self, text: str) -> bool:
        self.calls += 1
        return super().matches(text)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: Any) -> str:
        return str(value)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingConvertor:
    convertor = CountingConvertor()
    monkeypatch.delitem(CONVERTOR_TYPES, "counted", raising=False)
    register_convertor("counted", convertor)
    return convertor


def test_matching_the_last_of_1000_routes_checks_one_parameter(
    counting: CountingConvertor,
) -> None:
    app = App()
    for index in range(1000):
        app.add_route(f"/resource{index}/{{item_id:counted}}", lambda item_id: str(item_id))
    client = TestClient(app)
    counting.calls = 0
    assert client.get("/resource999/7").text == "7"
    assert counting.calls == 1


def test_a_shared_parameter_node_is_checked_once_for_1000_routes(
    counting: CountingConvertor,
) -> None:
    app = App()
    for index in range(1000):
        app.add_route(f"/{{tenant:counted}}/page{index}", lambda tenant: str(tenant))
    client = TestClient(app)
    counting.calls = 0
    assert client.get("/5/page999").text == "5"
    assert counting.calls == 1
    counting.calls = 0
    assert client.get("/5/page1000").status_code == 404
    assert counting.calls <= 2  # the miss, then the slash-twin check


# Router odds and ends -------------------------------------------------------------------


def test_router_answers_lifespan_without_hooks(run_app: RunApp) -> None:
    sent = run_app(
        Router(),
        {"type": "lifespan", "asgi": {"version": "3.0"}},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


def test_router_refuses_an_unknown_scope_type(run_app: RunApp) -> None:
    with pytest.raises(ValueError, match="Unsupported scope type 'smtp'"):
        run_app(Router(), {"type": "smtp", "path": "/"})


def test_scope_records_the_router_endpoint_and_route() -> None:
    app = App()

    @app.get("/who")
    async def who(request: Request) -> dict[str, Any]:
        scope = request.scope
        return {
            "router": scope["router"] is app.router,
            "endpoint": scope["endpoint"] is who,
            "route": repr(scope["route"]),
        }

    assert TestClient(app).get("/who").json() == {
        "router": True,
        "endpoint": True,
        "route": "Route(path='/who', name='who', methods=['GET', 'HEAD'])",
    }


def test_reprs_name_path_and_name() -> None:
    async def socket(websocket: WebSocket) -> None:
        await websocket.close()

    assert repr(WebSocketRoute("/ws", socket)) == "WebSocketRoute(path='/ws', name='socket')"
    assert repr(Host("example.com", Router(), name="h")) == "Host(host='example.com', name='h')"
    assert repr(Mount("/api", routes=[], name="api")).startswith("Mount(path='/api', name='api'")


def test_router_decorators_register_on_the_router() -> None:
    router = Router()

    @router.put("/r")
    async def put() -> str:
        return "put"

    @router.patch("/r")
    async def patch() -> str:
        return "patch"

    @router.delete("/r")
    async def delete() -> str:
        return "delete"

    @router.options("/r")
    async def options() -> str:
        return "options"

    client = TestClient(router)
    assert [client.request(m, "/r").text for m in ("PUT", "PATCH", "DELETE", "OPTIONS")] == [
        "put",
        "patch",
        "delete",
        "options",
    ]


def test_router_host_method_registers_a_host() -> None:
    router = Router()
    router.host("api.example.com", Router([Route("/", lambda: "api")]), name="api")
    assert TestClient(router, base_url="http://api.example.com").get("/").text == "api"


def test_inherit_marker_has_a_readable_repr() -> None:
    assert repr(INHERIT) == "INHERIT"


def test_route_max_body_size_overrides_the_app() -> None:
    app = App(max_body_size=4)

    @app.post("/small")
    async def small(request: Request) -> str:
        return str(len(await request.body()))

    @app.post("/large", max_body_size=1000)
    async def large(request: Request) -> str:
        return str(len(await request.body()))

    client = TestClient(app)
    assert client.post("/small", content=b"x" * 10).status_code == 413
    assert client.post("/large", content=b"x" * 10).text == "10"


def test_form_read_by_an_endpoint_is_closed_after_the_response() -> None:
    forms: list[Any] = []
    app = App()

    @app.post("/upload")
    async def upload(request: Request) -> str:
        form = await request.form()
        forms.append(form)
        return str(form["name"])

    response = TestClient(app).post("/upload", files={"name": ("a.txt", b"data")})
    assert response.status_code == 200
    upload_file = forms[0]["name"]
    assert upload_file.file.closed


def test_websocket_endpoint_class_is_served() -> None:
    class Echo(WebSocketEndpoint):
        encoding = "text"

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            await websocket.send_text(f"echo {data}")

    app = App(routes=[WebSocketRoute("/echo", Echo)])
    with TestClient(app).websocket_connect("/echo") as session:
        session.send_text("hi")
        assert session.receive_text() == "echo hi"


def test_mount_max_message_size_overrides_the_app() -> None:
    async def size(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(str(websocket.scope[MAX_MESSAGE_SIZE_KEY]))
        await websocket.close()

    app = App(routes=[Mount("/ws", routes=[WebSocketRoute("/size", size)], max_message_size=99)])
    with TestClient(app).websocket_connect("/ws/size") as session:
        assert session.receive_text() == "99"


def test_host_header_is_found_among_others(run_app: RunApp, http_scope: HTTPScope) -> None:
    router = Router([Host("api.example.com", Router([Route("/", lambda: "api")]))])
    scope = http_scope("/", headers=[("accept", "*/*"), ("host", "api.example.com")])
    assert run_app(router, scope)[-1]["body"] == b"api"


def test_websocket_param_a_convertor_refuses_falls_through(
    counting: CountingConvertor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(value: str) -> int:
        raise ValueError(value)

    monkeypatch.setattr(counting, "convert", refuse)

    async def numbered(websocket: WebSocket, number: int) -> None:
        await websocket.accept()
        await websocket.send_text("numbered")
        await websocket.close()

    async def named(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        await websocket.send_text("named")
        await websocket.close()

    app = App(
        routes=[
            WebSocketRoute("/n/{number:counted}", numbered),
            WebSocketRoute("/n/{name}", named),
        ]
    )
    with TestClient(app).websocket_connect("/n/5") as session:
        assert session.receive_text() == "named"


def test_router_lifespan_refuses_messages_out_of_protocol(run_app: RunApp) -> None:
    with pytest.raises(RuntimeError, match=r"Unexpected 'lifespan\.other'"):
        run_app(
            Router(),
            {"type": "lifespan", "asgi": {"version": "3.0"}},
            [{"type": "lifespan.other"}, {"type": "lifespan.shutdown"}],
        )
