"""The login example: sessions, templates and @requires, as a browser would use them."""

import pytest

from examples.login import app, safe_next
from microasgi.testclient import TestClient


def log_in(client: TestClient, password: str = "wonderland", next_path: str = "/dashboard") -> None:
    client.post(
        "/login",
        data={"username": "ann", "password": password, "next": next_path},
        follow_redirects=False,
    )


def test_anonymous_home_offers_the_login_page() -> None:
    response = TestClient(app).get("/")
    assert response.template.name == "home.html"  # type: ignore[attr-defined]
    assert '<a href="http://testserver/login">Log in</a>' in response.text
    assert 'href="http://testserver/static/style.css"' in response.text


def test_the_dashboard_sends_anonymous_users_to_log_in_and_back() -> None:
    client = TestClient(app, follow_redirects=False)
    refused = client.get("/dashboard")
    assert refused.status_code == 303
    assert refused.headers["location"] == "http://testserver/login?next=%2Fdashboard"
    form = client.get(refused.headers["location"])
    assert '<input type="hidden" name="next" value="/dashboard">' in form.text
    response = client.post(
        "/login", data={"username": "ann", "password": "wonderland", "next": "/dashboard"}
    )
    assert (response.status_code, response.headers["location"]) == (303, "/dashboard")
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200
    assert "Only logged-in users see this, ann." in dashboard.text
    assert "Log out ann" in dashboard.text


def test_a_wrong_password_shows_the_form_again_with_an_error() -> None:
    client = TestClient(app)
    response = client.post("/login", data={"username": "ann", "password": "guess"})
    assert response.status_code == 400
    assert response.context["error"] == "Wrong username or password."  # type: ignore[attr-defined]
    assert "Wrong username or password." in response.text
    assert client.get("/dashboard").url.path == "/login"  # still logged out
    unknown = client.post("/login", data={"username": "bob", "password": "wonderland"})
    assert unknown.status_code == 400


def test_logging_out_ends_the_session() -> None:
    client = TestClient(app)
    log_in(client)
    assert client.get("/dashboard").url.path == "/dashboard"
    home = client.post("/logout")
    assert home.url.path == "/"
    assert "Welcome</h1>" in home.text
    assert client.get("/dashboard").url.path == "/login"


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "", "dashboard"]
)
def test_next_never_leaves_the_site(target: str) -> None:
    assert safe_next(target) == "/dashboard"
    client = TestClient(app, follow_redirects=False)
    response = client.post(
        "/login", data={"username": "ann", "password": "wonderland", "next": target}
    )
    assert response.headers["location"] == "/dashboard"


def test_next_keeps_a_path_on_the_site_and_is_escaped_in_the_form() -> None:
    assert safe_next("/dashboard?tab=2") == "/dashboard?tab=2"
    page = TestClient(app).get("/login", params={"next": '/x"><script>alert(1)</script>'})
    assert "<script>" not in page.text
    assert 'value="/x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page.text


def test_a_forged_session_is_anonymous() -> None:
    client = TestClient(app, cookies={"session": "forged.value"})
    assert client.get("/dashboard").url.path == "/login"
