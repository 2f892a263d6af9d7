"""StaticFiles: serving a folder, html mode, methods, and every way out of the folder refused."""

import os
from pathlib import Path

import pytest

from microasgi import App
from microasgi.datastructures import Headers
from microasgi.staticfiles import StaticFiles
from microasgi.testclient import TestClient
from microasgi.types import Message
from tests.conftest import HTTPScope, RunApp

SECRET = b"top secret"


@pytest.fixture
def public(tmp_path: Path) -> Path:
    """tmp/public/{hello.txt, docs/index.html, docs/guide.txt, empty/, 404.html}, tmp/secret.txt."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    root = tmp_path / "public"
    (root / "docs").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "hello.txt").write_text("hello")
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (root / "docs" / "guide.txt").write_text("guide")
    (root / "404.html").write_text("<h1>lost</h1>")
    return root


def client(directory: Path, **options: bool) -> TestClient:
    app = App()
    app.mount("/static", StaticFiles(directory=directory, **options), name="static")
    return TestClient(app, follow_redirects=False)


def raw_get(
    run_app: RunApp, http_scope: HTTPScope, app: StaticFiles, path: str
) -> tuple[int, bytes]:
    """Send ``path`` as is (no client-side normalisation), the way a hostile client can."""
    sent = run_app(app, http_scope(path))
    body = b"".join(message.get("body", b"") for message in sent[1:])
    status: int = sent[0]["status"]
    return status, body


# serving


def test_serves_a_file_with_its_media_type(public: Path) -> None:
    response = client(public).get("/static/hello.txt")
    assert (response.status_code, response.text) == (200, "hello")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "etag" in response.headers


def test_serves_a_file_in_a_subfolder(public: Path) -> None:
    assert client(public).get("/static/docs/guide.txt").text == "guide"


def test_head_sends_headers_only(public: Path) -> None:
    response = client(public).head("/static/hello.txt")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-length"] == "5"


def test_range_request_is_honoured(public: Path) -> None:
    response = client(public).get("/static/hello.txt", headers={"range": "bytes=1-2"})
    assert (response.status_code, response.text) == (206, "el")


def test_conditional_request_gives_304(public: Path) -> None:
    static = client(public)
    etag = static.get("/static/hello.txt").headers["etag"]
    assert static.get("/static/hello.txt", headers={"if-none-match": etag}).status_code == 304


def test_missing_file_is_404_plain_text(public: Path) -> None:
    response = client(public).get("/static/nope.txt")
    assert (response.status_code, response.text) == (404, "Not Found")


def test_folder_without_html_mode_is_404(public: Path) -> None:
    assert client(public).get("/static/docs/").status_code == 404


def test_post_is_405_with_allow(public: Path) -> None:
    response = client(public).post("/static/hello.txt")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD")


def test_works_without_a_mount(run_app: RunApp, http_scope: HTTPScope, public: Path) -> None:
    assert raw_get(run_app, http_scope, StaticFiles(directory=public), "/hello.txt") == (
        200,
        b"hello",
    )


def test_missing_directory_is_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not a folder"):
        StaticFiles(directory=tmp_path / "nope")


def test_missing_directory_without_check_answers_404(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path
) -> None:
    app = StaticFiles(directory=tmp_path / "nope", check_dir=False)
    assert raw_get(run_app, http_scope, app, "/x.txt")[0] == 404


def test_websocket_is_closed(run_app: RunApp, public: Path) -> None:
    scope = {"type": "websocket", "path": "/", "root_path": "", "headers": []}
    sent = run_app(StaticFiles(directory=public), scope)
    assert sent == [{"type": "websocket.close", "code": 1000}]


def test_other_scope_types_are_an_error(run_app: RunApp, public: Path) -> None:
    with pytest.raises(RuntimeError, match="'http' scopes"):
        run_app(StaticFiles(directory=public), {"type": "lifespan"})


def test_special_files_are_404(run_app: RunApp, http_scope: HTTPScope, public: Path) -> None:
    os.mkfifo(public / "pipe")
    assert raw_get(run_app, http_scope, StaticFiles(directory=public), "/pipe")[0] == 404


# html mode


def test_html_mode_serves_index_for_a_folder(public: Path) -> None:
    response = client(public, html=True).get("/static/docs/")
    assert (response.status_code, response.text) == (200, "<h1>docs</h1>")
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_html_mode_redirects_a_folder_to_its_trailing_slash(public: Path) -> None:
    response = client(public, html=True).get("/static/docs?lang=en")
    assert (response.status_code, response.headers["location"]) == (307, "/static/docs/?lang=en")


def test_html_mode_serves_404_page_for_a_miss(public: Path) -> None:
    response = client(public, html=True).get("/static/nope")
    assert (response.status_code, response.text) == (404, "<h1>lost</h1>")


def test_html_mode_folder_without_index_is_a_miss(public: Path) -> None:
    response = client(public, html=True).get("/static/empty/")
    assert (response.status_code, response.text) == (404, "<h1>lost</h1>")


def test_html_mode_without_404_page_answers_plain_404(public: Path) -> None:
    (public / "404.html").unlink()
    response = client(public, html=True).get("/static/nope")
    assert (response.status_code, response.text) == (404, "Not Found")


def test_html_mode_404_page_ignores_ranges(public: Path) -> None:
    response = client(public, html=True).get("/static/nope", headers={"range": "bytes=0-1"})
    assert (response.status_code, response.text) == (404, "<h1>lost</h1>")


def test_html_mode_mounted_at_root_serves_index(public: Path) -> None:
    (public / "index.html").write_text("home")
    app = App()
    app.mount("/", StaticFiles(directory=public, html=True))
    assert TestClient(app).get("/").text == "home"


def test_folder_redirect_is_never_scheme_relative(
    run_app: RunApp, http_scope: HTTPScope, public: Path
) -> None:
    (public / "evil.com").mkdir()
    (public / "evil.com" / "index.html").write_text("x")
    sent = run_app(StaticFiles(directory=public, html=True), http_scope("//evil.com"))
    assert sent[0]["status"] == 307
    assert Headers(raw=sent[0]["headers"])["location"] == "/evil.com/"


def test_folder_redirect_percent_encodes_the_path(
    run_app: RunApp, http_scope: HTTPScope, public: Path
) -> None:
    (public / "a b%").mkdir()
    (public / "a b%" / "index.html").write_text("x")
    sent: list[Message] = run_app(StaticFiles(directory=public, html=True), http_scope("/a b%"))
    assert Headers(raw=sent[0]["headers"])["location"] == "/a%20b%25/"


# attacks: no way out of the folder


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/./hello.txt",
        "/docs/..",
    ],
)
def test_static_rejects_dotdot_traversal(
    run_app: RunApp, http_scope: HTTPScope, public: Path, path: str
) -> None:
    status, body = raw_get(run_app, http_scope, StaticFiles(directory=public), path)
    assert (status, body) == (404, b"Not Found")


def test_static_rejects_encoded_dotdot_traversal(
    run_app: RunApp, http_scope: HTTPScope, public: Path
) -> None:
    # Decoded by the server, %2e%2e arrives as "..": refused above. Left encoded (double
    # encoding upstream), it is a literal file name and is not decoded again.
    app = StaticFiles(directory=public)
    assert raw_get(run_app, http_scope, app, "/%2e%2e/secret.txt")[0] == 404
    assert raw_get(run_app, http_scope, app, "/%2E%2E%2Fsecret.txt")[0] == 404


def test_static_rejects_encoded_dotdot_through_the_app(public: Path) -> None:
    # The test client percent-decodes the raw path into scope["path"], as a server does.
    static = client(public)
    assert static.get("/static/%2e%2e/secret.txt").status_code == 404
    assert static.get("/static/docs/%2e%2e%2f%2e%2e%2fsecret.txt").status_code == 404


def test_static_rejects_backslash_traversal(
    run_app: RunApp, http_scope: HTTPScope, public: Path
) -> None:
    app = StaticFiles(directory=public)
    assert raw_get(run_app, http_scope, app, "/..\\secret.txt")[0] == 404
    assert raw_get(run_app, http_scope, app, "/docs\\guide.txt")[0] == 404


def test_static_rejects_absolute_paths(
    run_app: RunApp, http_scope: HTTPScope, public: Path, tmp_path: Path
) -> None:
    # A doubled slash must not make os.path.join restart from the filesystem root.
    secret = str(tmp_path / "secret.txt")
    assert raw_get(run_app, http_scope, StaticFiles(directory=public), "/" + secret)[0] == 404


def test_static_rejects_nul_bytes(run_app: RunApp, http_scope: HTTPScope, public: Path) -> None:
    app = StaticFiles(directory=public)
    assert raw_get(run_app, http_scope, app, "/hello.txt\x00.png")[0] == 404


def test_static_rejects_overlong_names(
    run_app: RunApp, http_scope: HTTPScope, public: Path
) -> None:
    assert raw_get(run_app, http_scope, StaticFiles(directory=public), "/" + "a" * 5000)[0] == 404


def test_static_rejects_symlink_leaving_the_folder(
    run_app: RunApp, http_scope: HTTPScope, public: Path, tmp_path: Path
) -> None:
    (public / "link.txt").symlink_to(tmp_path / "secret.txt")
    (public / "linkdir").symlink_to(tmp_path)
    app = StaticFiles(directory=public)
    assert raw_get(run_app, http_scope, app, "/link.txt") == (404, b"Not Found")
    assert raw_get(run_app, http_scope, app, "/linkdir/secret.txt")[0] == 404


def test_symlink_inside_the_folder_is_served(
    run_app: RunApp, http_scope: HTTPScope, public: Path
) -> None:
    (public / "alias.txt").symlink_to(public / "hello.txt")
    app = StaticFiles(directory=public)
    assert raw_get(run_app, http_scope, app, "/alias.txt") == (200, b"hello")


def test_follow_symlink_serves_links_leaving_the_folder(
    run_app: RunApp, http_scope: HTTPScope, public: Path, tmp_path: Path
) -> None:
    (public / "link.txt").symlink_to(tmp_path / "secret.txt")
    app = StaticFiles(directory=public, follow_symlink=True)
    assert raw_get(run_app, http_scope, app, "/link.txt") == (200, SECRET)
    assert raw_get(run_app, http_scope, app, "/../secret.txt")[0] == 404


def test_served_folder_may_itself_be_a_symlink(
    run_app: RunApp, http_scope: HTTPScope, public: Path, tmp_path: Path
) -> None:
    (tmp_path / "site").symlink_to(public)
    app = StaticFiles(directory=tmp_path / "site")
    assert raw_get(run_app, http_scope, app, "/hello.txt") == (200, b"hello")
