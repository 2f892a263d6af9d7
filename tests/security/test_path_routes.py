"""``path`` parameters followed by static text, and the slash redirect they must not open."""

import pytest

from microasgi import App
from microasgi._routetable import RouteTable, compile_path
from microasgi.testclient import TestClient


def path_app() -> TestClient:
    app = App()

    @app.get("/files/{p:path}")
    async def raw(p: str) -> dict[str, str]:
        return {"route": "raw", "p": p}

    @app.get("/files/{p:path}/edit")
    async def edit(p: str) -> dict[str, str]:
        return {"route": "edit", "p": p}

    @app.get("/files/{p:path}.json")
    async def as_json(p: str) -> dict[str, str]:
        return {"route": "json", "p": p}

    @app.get("/dirs/{p:path}/")
    async def folder(p: str) -> dict[str, str]:
        return {"route": "folder", "p": p}

    @app.get("/{p:path}/")
    async def anywhere(p: str) -> dict[str, str]:
        return {"route": "anywhere", "p": p}

    return TestClient(app, follow_redirects=False)


@pytest.mark.parametrize(
    ("url", "route", "value"),
    [
        ("/files/a/b", "raw", "a/b"),
        ("/files/a/b/edit", "edit", "a/b"),
        ("/files/edit/edit", "edit", "edit"),
        ("/files/a/b.json", "json", "a/b"),
        ("/files/a.json/edit", "edit", "a.json"),
        ("/dirs/a/b/", "folder", "a/b"),
        ("/x/y/", "anywhere", "x/y"),
    ],
)
def test_a_path_parameter_may_be_followed_by_static_text(url: str, route: str, value: str) -> None:
    response = path_app().get(url)
    assert response.status_code == 200
    assert response.json() == {"route": route, "p": value}


def test_the_static_tail_must_follow_something() -> None:
    client = path_app()
    # "/files/edit" is the raw route's value "edit", not the edit route with an empty value.
    assert client.get("/files/edit").json() == {"route": "raw", "p": "edit"}


def test_slash_redirect_to_a_path_route_with_a_trailing_slash() -> None:
    response = path_app().get("/dirs/a/b")
    assert response.status_code == 307
    assert response.headers["location"] == "/dirs/a/b/"


@pytest.mark.parametrize("url", ["//evil.com", "//evil.com/x", "/\\evil.com", "/%2F%2Fevil.com"])
def test_slash_redirect_never_points_to_another_host(url: str) -> None:
    response = path_app().get(url)
    if response.status_code == 307:
        location = response.headers["location"]
        assert not location.startswith(("//", "/\\")), location
        assert "://" not in location
    else:
        assert response.status_code == 404


def test_url_building_fills_the_tail() -> None:
    app = App()

    @app.get("/files/{p:path}/edit", name="edit")
    async def edit(p: str) -> str:
        return p

    assert app.url_path_for("edit", p="a/b c") == "/files/a/b%20c/edit"


def test_routes_differing_only_in_tail_do_not_clash() -> None:
    table = RouteTable()
    table.add(compile_path("/{p:path}/edit"), "edit")
    table.add(compile_path("/{p:path}/view"), "view")
    assert [c[0] for c in table.match("/a/view")] == ["view"]


@pytest.mark.parametrize(
    "path", ["/x{p:path}", "/{a}{p:path}", "/{p:path}/{q}", "/{p:path}{q}", "/{p:path}/{q:path}"]
)
def test_a_path_parameter_must_start_a_segment_and_end_the_parameters(path: str) -> None:
    with pytest.raises(ValueError, match="'path' parameter"):
        compile_path(path)


def test_lookup_cost_stays_flat_with_many_tailed_routes() -> None:
    table = RouteTable()
    for number in range(2000):
        table.add(compile_path(f"/r{number}/{{p:path}}/edit"), number)
    assert table.first("/r1999/a/b/edit") == (1999, (), "/a/b")
    assert table.first("/r1999/a/b/view") is None
