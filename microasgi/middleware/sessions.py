"""SessionMiddleware: a JSON session dict kept in a signed cookie.

The cookie value is ``payload.timestamp.signature``, each part base64url without padding:
the payload is the session as JSON, the timestamp the signing time in seconds, and the
signature HMAC-SHA256 over ``payload.timestamp``. Because the timestamp is signed,
``max_age`` is enforced by the server, not only by the browser. The cookie is readable
by the client (signed, not encrypted): keep secrets out of the session.
"""

import base64
import binascii
import copy
import hashlib
import hmac
import json
import re
import time
from typing import Any, Literal

from microasgi.types import ASGIApp, Message, Receive, Scope, Send

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ATTRIBUTE_FORBIDDEN = frozenset(";\r\n\x00")
_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
# Keys derived for one purpose only: the same secret_key used elsewhere signs nothing here.
_KEY_PURPOSE = b"microasgi.sessions.SessionMiddleware"


# Seconds a cookie's timestamp may be ahead of this server's clock.
_CLOCK_SKEW = 60


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


def cookie_values(scope: Scope, name: str) -> list[bytes]:
    """Every value of cookie ``name`` in the request, in order; malformed pairs are skipped."""
    wanted = name.encode("latin-1")
    values: list[bytes] = []
    for header_name, header_value in scope["headers"]:
        if header_name.lower() != b"cookie":
            continue
        for pair in header_value.split(b";"):
            key, equals, value = pair.partition(b"=")
            if equals and key.strip() == wanted:
                values.append(value.strip().strip(b'"'))
    return values


class SessionMiddleware:
    """Load ``scope["session"]`` from a signed cookie and save it back when it changes.

    Args:
        app: the ASGI app to wrap.
        secret_key: the signing key; keep it secret and long (32+ random bytes).
        session_cookie: the cookie name.
        max_age: seconds a session lives after it was last written, checked on the server
            and sent as ``Max-Age``; None for a browser-session cookie without expiry.
        path: the cookie ``Path``.
        same_site: ``"lax"``, ``"strict"`` or ``"none"`` (the last requires ``https_only``).
        https_only: mark the cookie ``Secure``.
        domain: the cookie ``Domain``, None for the request host only.

    A tampered, expired or malformed cookie gives an empty session and is deleted on the
    next HTTP response. Websocket scopes get the session too, read-only: a handshake has
    no response to carry a cookie.

    Raises:
        ValueError: an empty key, a bad cookie name or attribute, or SameSite=None without
            https_only.
    """

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str | bytes,
        session_cookie: str = "session",
        max_age: int | None = 14 * 24 * 3600,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
    ) -> None:
        key = secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key
        if not key:
            raise ValueError("secret_key must not be empty; use 32 or more random bytes.")
        if not _TOKEN.fullmatch(session_cookie):
            raise ValueError(f"session_cookie {session_cookie!r} is not a valid cookie name.")
        for attribute, value in (("path", path), ("domain", domain or "")):
            if not _ATTRIBUTE_FORBIDDEN.isdisjoint(value):
                raise ValueError(f"{attribute} {value!r} may not hold ';', CR, LF or NUL.")
        site = _SAME_SITE.get(same_site.lower())
        if site is None:
            raise ValueError(f"same_site must be 'lax', 'strict' or 'none', got {same_site!r}.")
        if site == "None" and not https_only:
            raise ValueError(
                "same_site='none' needs https_only=True: browsers drop SameSite=None "
                "cookies that are not Secure."
            )
        if max_age is not None and max_age < 0:
            raise ValueError(f"max_age must be 0 or more seconds, or None, got {max_age}.")
        self.app = app
        self.signing_key = hmac.new(key, _KEY_PURPOSE, hashlib.sha256).digest()
        self.session_cookie = session_cookie
        self.max_age = max_age
        scope_attributes = f"; Path={path}" + (f"; Domain={domain}" if domain is not None else "")
        flags = f"; HttpOnly; SameSite={site}" + ("; Secure" if https_only else "")
        lifetime = f"; Max-Age={max_age}" if max_age is not None else ""
        name = session_cookie + "="
        self.cookie_prefix = name.encode("latin-1")
        self.cookie_attributes = (scope_attributes + lifetime + flags).encode("latin-1")
        # Both Max-Age=0 and a past Expires: old clients only know the latter.
        self.delete_cookie = (
            name + scope_attributes + "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT" + flags
        ).encode("latin-1")

    def sign(self, data: bytes) -> bytes:
        """The base64url HMAC-SHA256 signature of ``data``."""
        return _b64encode(hmac.new(self.signing_key, data, hashlib.sha256).digest())

    def encode(self, session: dict[str, Any], now: float | None = None) -> bytes:
        """The cookie value for ``session``, timestamped ``now`` (default: the current time)."""
        try:
            text = json.dumps(session, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"The session must hold only JSON values (str, int, float, bool, None, "
                f"list, dict); {exc}"
            ) from exc
        timestamp = str(int(time.time() if now is None else now)).encode("ascii")
        signed = _b64encode(text.encode("utf-8")) + b"." + _b64encode(timestamp)
        return signed + b"." + self.sign(signed)

    def decode(self, value: bytes, now: float | None = None) -> dict[str, Any] | None:
        """The session in a cookie value, or None when it is forged, expired or malformed."""
        signed, dot, signature = value.rpartition(b".")
        if not dot or not hmac.compare_digest(signature, self.sign(signed)):
            return None
        payload, dot, timestamp = signed.partition(b".")
        try:
            issued = int(_b64decode(timestamp))
            session = json.loads(_b64decode(payload))
        except (ValueError, binascii.Error):  # UnicodeDecodeError and JSONDecodeError included
            return None
        if self.max_age is not None:
            age = (time.time() if now is None else now) - issued
            # A cookie from the future has a negative age that would pass any max_age: only
            # a little clock skew between the servers sharing the key is allowed.
            if age > self.max_age or age < -_CLOCK_SKEW:
                return None
        if not isinstance(session, dict):
            return None
        return session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        had_cookie = False
        loaded: dict[str, Any] | None = None
        for value in cookie_values(scope, self.session_cookie):
            had_cookie = True
            loaded = self.decode(value)
            if loaded is not None:
                break
        scope["session"] = loaded if loaded is not None else {}
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        # A deep copy as read, to tell whether the app changed anything (nested values too).
        snapshot = copy.deepcopy(loaded)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = self.set_cookie_header(scope["session"], snapshot, had_cookie)
                if cookie is not None:
                    message = dict(message)
                    message["headers"] = [*message.get("headers", ()), (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def set_cookie_header(
        self, session: dict[str, Any], loaded: dict[str, Any] | None, had_cookie: bool
    ) -> bytes | None:
        """The ``Set-Cookie`` value to send, or None when the cookie is already right."""
        if session:
            if session == loaded:
                return None
            return self.cookie_prefix + self.encode(session) + self.cookie_attributes
        if had_cookie:
            return self.delete_cookie
        return None
