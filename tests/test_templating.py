"""Jinja2 templates through the public API: rendering, url_for, escaping, async, test hooks."""

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest

from microasgi import App, BackgroundTask, Request, Response, StaticFiles
from microasgi.middleware import GZipMiddleware, Middleware
from microasgi.templating import Jinja2Templates, TemplateResponse
from microasgi.testclient import TestClient
from tests.conftest import HTTPScope, RunApp

CallNext = Callable[[Request], Awaitable[Response]]


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.css").write_text("body {}")
    files = {
        "hello.html": "<p>Hello, {{ name }}!</p>",
        "note.txt": "Note: {{ name }}",
        "links.html": (
            "<a href=\"{{ url_for('user', user_id=7) }}\">user</a>"
            "<link href=\"{{ url_for('static', path='/app.css') }}\">"
        ),
        "filters.html": "{{ 1250 | money }} {{ site }}",
        "async.html": "{{ await_me() }} {{ name }}",
        "big.html": "{% for i in range(400) %}<li>{{ i }}</li>{% endfor %}",
        "whoami.html": "{{ user }} on {{ site }}",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def make_app(templates: Jinja2Templates, template_dir: Path, **app_options: Any) -> App:
    app = App(**app_options)

    @app.get("/page/{name}")
    async def page(request: Request, name: str) -> Response:
        template = request.query_params.get("template", "hello.html")
        return templates.TemplateResponse(request, template, {"name": name})

    @app.get("/users/{user_id:int}", name="user")
    async def user(user_id: int) -> str:
        return str(user_id)

    app.mount("/static", StaticFiles(directory=template_dir / "static"), name="static")
    return app


def test_render_with_context_and_html_autoescape(template_dir: Path) -> None:
    client = TestClient(make_app(Jinja2Templates(template_dir), template_dir))
    response = client.get("/page/<script>")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "<p>Hello, &lt;script&gt;!</p>"
    # Not HTML: not escaped.
    assert client.get("/page/<b>?template=note.txt").text == "Note: <b>"


def test_templates_from_strings_are_escaped_too(template_dir: Path) -> None:
    templates = Jinja2Templates(template_dir)
    assert templates.env.from_string("{{ x }}").render(x="<i>") == "&lt;i&gt;"


def test_url_for_routes_and_static_mounts_honouring_root_path(template_dir: Path) -> None:
    app = make_app(Jinja2Templates(template_dir), template_dir)
    for root_path in ("", "/app"):
        client = TestClient(app, root_path=root_path)
        text = client.get("/page/x?template=links.html").text
        assert text == (
            f'<a href="http://testserver{root_path}/users/7">user</a>'
            f'<link href="http://testserver{root_path}/static/app.css">'
        )
        assert client.get("/static/app.css").text == "body {}"


def test_custom_filters_and_globals_through_the_environment(template_dir: Path) -> None:
    templates = Jinja2Templates(template_dir)
    templates.env.filters["money"] = lambda cents: f"{cents / 100:.2f} EUR"
    templates.env.globals["site"] = "Shop"
    client = TestClient(make_app(templates, template_dir))
    assert client.get("/page/x?template=filters.html").text == "12.50 EUR Shop"


def test_an_environment_of_your_own(template_dir: Path) -> None:
    env = jinja2.Environment(loader=jinja2.DictLoader({"hello.html": "Hi {{ name }}"}))
    templates = Jinja2Templates(env=env)
    assert templates.env is env
    assert "url_for" in env.globals
    assert TestClient(make_app(templates, template_dir)).get("/page/ann").text == "Hi ann"


def test_async_rendering_awaits_async_globals(template_dir: Path) -> None:
    templates = Jinja2Templates(template_dir, enable_async=True)

    async def await_me() -> str:
        return "awaited"

    templates.env.globals["await_me"] = await_me
    client = TestClient(make_app(templates, template_dir))
    response = client.get("/page/ann?template=async.html")
    assert response.text == "awaited ann"
    assert response.headers["content-length"] == str(len(response.content))


def test_the_test_client_sees_the_template_and_context_through_middleware(
    template_dir: Path,
) -> None:
    templates = Jinja2Templates(template_dir)
    app = make_app(templates, template_dir, middleware=[Middleware(GZipMiddleware)])

    @app.middleware("http")
    async def passing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        return await call_next(request)

    response = TestClient(app).get("/page/ann?template=big.html")
    assert response.headers["content-encoding"] == "gzip"  # the page is still compressed
    assert response.template.name == "big.html"  # type: ignore[attr-defined]
    assert response.extensions["http.response.debug"]["template"].name == "big.html"
    context = response.context  # type: ignore[attr-defined]
    assert context["name"] == "ann"
    assert isinstance(context["request"], Request)
    plain = TestClient(make_app(templates, template_dir)).get("/users/1")
    assert not hasattr(plain, "template")


def test_context_processors_and_the_explicit_context_winning(template_dir: Path) -> None:
    def site(request: Request) -> dict[str, str]:
        return {"site": request.url.hostname or "", "user": "anonymous"}

    templates = Jinja2Templates(template_dir, context_processors=[site])
    app = App()

    @app.get("/")
    async def home(request: Request) -> TemplateResponse:
        return templates.TemplateResponse(request, "whoami.html", {"user": "ann"})

    assert TestClient(app).get("/").text == "ann on testserver"


def test_status_headers_media_type_and_background(template_dir: Path) -> None:
    templates = Jinja2Templates(template_dir)
    ran: list[str] = []
    app = App()

    @app.get("/")
    async def home(request: Request) -> TemplateResponse:
        return templates.TemplateResponse(
            request,
            "note.txt",
            {"name": "n"},
            status_code=201,
            headers={"x-kind": "note"},
            media_type="text/plain",
            background=BackgroundTask(ran.append, "done"),
        )

    response = TestClient(app).get("/")
    assert (response.status_code, response.headers["x-kind"]) == (201, "note")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert ran == ["done"]


def test_mistakes_are_clear_errors(template_dir: Path) -> None:
    with pytest.raises(TypeError, match="either directory= or env="):
        Jinja2Templates()
    with pytest.raises(TypeError, match="either directory= or env="):
        Jinja2Templates(template_dir, env=jinja2.Environment())
    templates = Jinja2Templates(template_dir)
    with pytest.raises(TypeError, match="takes the request first"):
        templates.TemplateResponse("hello.html", {"request": None})  # type: ignore[arg-type]
    with pytest.raises(jinja2.TemplateNotFound):
        templates.get_template("missing.html")
    with pytest.raises(RuntimeError, match="needs the request in its context"):
        templates.get_template("links.html").render()


def test_a_missing_template_is_a_500_not_a_hang(template_dir: Path) -> None:
    client = TestClient(
        make_app(Jinja2Templates(template_dir), template_dir), raise_server_exceptions=False
    )
    assert client.get("/page/x?template=nope.html").status_code == 500


def test_without_jinja2_the_error_names_the_extra(
    template_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)  # makes `import jinja2` fail
    with pytest.raises(ImportError, match=r"pip install 'microasgi\[templates\]'"):
        Jinja2Templates(template_dir)


def test_under_a_server_without_the_debug_extension_nothing_extra_is_sent(
    template_dir: Path, run_app: RunApp, http_scope: HTTPScope
) -> None:
    app = make_app(Jinja2Templates(template_dir), template_dir)
    sent = run_app(app, http_scope("/page/ann"))
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"<p>Hello, ann!</p>"
