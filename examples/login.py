"""A login page: sessions, templates and ``@requires`` working together.

Run it with ``uvicorn examples.login:app``, open http://127.0.0.1:8000/ and log in as
``ann`` / ``wonderland``. Set ``SECRET_KEY`` in the environment (or a ``.env`` file) outside
development: sessions are signed with it.
"""

import hashlib
import hmac
from pathlib import Path

from microasgi import App, RedirectResponse, Request, StaticFiles
from microasgi.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
    requires,
)
from microasgi.config import Config, Secret
from microasgi.middleware import AuthenticationMiddleware, Middleware, SessionMiddleware
from microasgi.requests import HTTPConnection
from microasgi.responses import Response
from microasgi.templating import Jinja2Templates

HERE = Path(__file__).parent
config = Config(HERE / ".env") if (HERE / ".env").is_file() else Config()
SECRET_KEY = config("SECRET_KEY", cast=Secret, default="development only: change me")

templates = Jinja2Templates(HERE / "templates")


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 100_000)


# A user store for the example: username -> (salt, password hash).
_SALT = b"example-salt"
USERS = {"ann": (_SALT, hash_password("wonderland", _SALT))}


def check_password(username: str, password: str) -> bool:
    salt, expected = USERS.get(username, (_SALT, b""))
    # Hash even for an unknown user, so the timing does not tell which usernames exist.
    return hmac.compare_digest(hash_password(password, salt), expected) and bool(expected)


class SessionBackend(AuthenticationBackend):
    """The user is whoever the signed session cookie says logged in."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        username = conn.session.get("username")
        if username not in USERS:
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(username)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: only a path on this site, never another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


app = App(
    middleware=[
        Middleware(SessionMiddleware, secret_key=str(SECRET_KEY)),
        Middleware(AuthenticationMiddleware, backend=SessionBackend()),
    ]
)
app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


@app.get("/", name="home")
async def home(request: Request) -> Response:
    return templates.TemplateResponse(request, "home.html")


@app.get("/login", name="login")
async def login_form(request: Request) -> Response:
    context = {"next": safe_next(request.query_params.get("next")), "error": None}
    return templates.TemplateResponse(request, "login.html", context)


@app.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    if not check_password(username, password):
        context = {"next": target, "error": "Wrong username or password."}
        return templates.TemplateResponse(request, "login.html", context, status_code=400)
    request.session.clear()  # a fresh session on login
    request.session["username"] = username
    return RedirectResponse(target, status_code=303)


@app.post("/logout", name="logout")
async def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse(request.url_for("home"), status_code=303)


@app.get("/dashboard", name="dashboard")
@requires("authenticated", redirect="login")
async def dashboard(request: Request) -> Response:
    return templates.TemplateResponse(request, "dashboard.html")
