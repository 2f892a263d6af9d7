"""StaticFiles paths the server decodes into text no file system accepts."""

from pathlib import Path

import pytest

from microasgi.staticfiles import StaticFiles
from tests.conftest import HTTPScope, RunApp


@pytest.fixture
def static(tmp_path: Path) -> StaticFiles:
    (tmp_path / "hello.txt").write_text("hello")
    return StaticFiles(directory=tmp_path)


def status_of(run_app: RunApp, http_scope: HTTPScope, app: StaticFiles, path: str) -> int:
    scope = http_scope("/")
    scope["path"] = path  # as the server decoded it; raw_path does not matter here
    sent = run_app(app, scope)
    status: int = sent[0]["status"]
    return status


@pytest.mark.parametrize(
    "path",
    [
        "/\ud800.txt",  # what a server decoding %ed%a0%80 with surrogatepass hands over
        "/\udced\udca0\udc80.txt",  # the same bytes decoded with surrogateescape
        "/hello.txt\ud800",
        "/\udfff/hello.txt",
    ],
)
def test_lone_surrogate_in_a_static_path_is_404(
    run_app: RunApp, http_scope: HTTPScope, static: StaticFiles, path: str
) -> None:
    assert status_of(run_app, http_scope, static, path) == 404


@pytest.mark.parametrize("path", ["/hello.txt\0", "/\0hello.txt", "/hel\0lo.txt", "/\0/x"])
def test_nul_anywhere_in_a_static_path_is_404(
    run_app: RunApp, http_scope: HTTPScope, static: StaticFiles, path: str
) -> None:
    assert status_of(run_app, http_scope, static, path) == 404


def test_html_mode_with_a_surrogate_path_is_still_a_404(
    run_app: RunApp, http_scope: HTTPScope, tmp_path: Path
) -> None:
    (tmp_path / "404.html").write_text("lost")
    app = StaticFiles(directory=tmp_path, html=True)
    assert status_of(run_app, http_scope, app, "/\ud800/") == 404


def test_the_plain_file_is_still_served(
    run_app: RunApp, http_scope: HTTPScope, static: StaticFiles
) -> None:
    assert status_of(run_app, http_scope, static, "/hello.txt") == 200
