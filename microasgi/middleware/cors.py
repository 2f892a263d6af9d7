"""CORSMiddleware: the server side of the Fetch standard's CORS protocol.

Answers preflight requests itself and adds ``Access-Control-*`` headers to the app's
responses for allowed origins. Every header name and value that does not depend on the
request is encoded once, at construction. Works on raw ASGI headers only.
"""

import re
from collections.abc import Sequence

from microasgi.datastructures import MutableHeaders
from microasgi.types import ASGIApp, Message, RawHeaders, Receive, Scope, Send

# Fetch: request headers a browser may send cross-origin without asking; they are always allowed.
_SAFELISTED_HEADERS = ("accept", "accept-language", "content-language", "content-type")
# RFC 9110 5.6.2 token: the only shape a method or header name may take when echoed back.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CORS_RESPONSE_HEADERS = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-expose-headers",
    }
)


def _as_list(name: str, values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a list of strings, got the string {values!r}.")
    return list(values)


class CORSMiddleware:
    """Allow chosen cross-origin callers to read the app's responses.

    Args:
        app: the ASGI app to wrap.
        allow_origins: exact origins (``"https://example.com"``), ``"null"`` to allow
            sandboxed/file origins explicitly, or ``["*"]`` for any origin.
        allow_methods: methods allowed in a preflight, ``"*"`` for any.
        allow_headers: request headers allowed in a preflight (case-insensitive), ``"*"``
            for any. The CORS-safelisted headers are always allowed.
        allow_credentials: let the browser send cookies and read credentialed responses.
        allow_origin_regex: a regex that must match the whole origin; never matches ``"null"``.
        expose_headers: response headers the calling page may read.
        max_age: seconds a browser may cache a preflight answer.

    Raises:
        ValueError: ``allow_origins=["*"]`` with ``allow_credentials=True``.
        TypeError: a single string where a list is expected.
    """

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        origins = _as_list("allow_origins", allow_origins)
        methods = _as_list("allow_methods", allow_methods)
        headers = _as_list("allow_headers", allow_headers)
        exposed = _as_list("expose_headers", expose_headers)
        self.app = app
        self.allow_any_origin = "*" in origins
        if self.allow_any_origin and allow_credentials:
            raise ValueError(
                'allow_origins=["*"] cannot be combined with allow_credentials=True: any '
                "website could then read responses made with your users' cookies. "
                "List the trusted origins instead, e.g. "
                'allow_origins=["https://app.example.com"].'
            )
        self.allow_origins = frozenset(origin.lower() for origin in origins if origin != "*")
        self.allow_origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.allow_any_method = "*" in methods
        self.allow_methods = frozenset(method.upper() for method in methods if method != "*")
        self.allow_any_header = "*" in headers
        self.allow_headers = frozenset(
            [header.lower() for header in headers if header != "*"] + list(_SAFELISTED_HEADERS)
        )
        self.allow_credentials = allow_credentials
        # With a literal "*" the answer is the same for every origin; otherwise caches
        # must keep one copy per origin (Fetch, "CORS protocol and HTTP caches").
        self.varies_by_origin = not self.allow_any_origin

        simple: RawHeaders = []
        if allow_credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
        if exposed:
            simple.append((b"access-control-expose-headers", ", ".join(exposed).encode("latin-1")))
        self.simple_headers = simple

        preflight: RawHeaders = []
        if not self.allow_any_method:
            allowed_methods = ", ".join(sorted(self.allow_methods))
            preflight.append((b"access-control-allow-methods", allowed_methods.encode("latin-1")))
        if not self.allow_any_header:
            allowed_headers = ", ".join(sorted(self.allow_headers))
            preflight.append((b"access-control-allow-headers", allowed_headers.encode("latin-1")))
        preflight.append((b"access-control-max-age", str(int(max_age)).encode("ascii")))
        if allow_credentials:
            preflight.append((b"access-control-allow-credentials", b"true"))
        self.preflight_headers = preflight

    def is_allowed_origin(self, origin: str) -> bool:
        """Whether ``origin`` (the request's ``Origin`` header) may read responses."""
        if self.allow_any_origin or origin.lower() in self.allow_origins:
            return True
        # "null" is shared by every sandboxed iframe and file: page; only listing it allows it.
        return (
            self.allow_origin_regex is not None
            and origin != "null"
            and self.allow_origin_regex.fullmatch(origin) is not None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin: str | None = None
        request_method: str | None = None
        request_headers: str | None = None
        for name, value in scope["headers"]:
            name = name.lower()
            if name == b"origin":
                origin = origin or value.decode("latin-1")
            elif name == b"access-control-request-method":
                request_method = value.decode("latin-1")
            elif name == b"access-control-request-headers":
                text = value.decode("latin-1")
                request_headers = f"{request_headers},{text}" if request_headers else text
        if origin is None:
            if not self.varies_by_origin:
                await self.app(scope, receive, send)
                return
            await self.app(scope, receive, self._vary_sender(send))
        elif scope["method"] == "OPTIONS" and request_method is not None:
            await self.preflight(send, origin, request_method, request_headers or "")
        else:
            await self.app(scope, receive, self._simple_sender(send, origin))

    async def preflight(
        self, send: Send, origin: str, request_method: str, request_headers: str
    ) -> None:
        """Answer a preflight: 200 with the allowed set, or 400 naming what was refused."""
        requested = [item.strip().lower() for item in request_headers.split(",") if item.strip()]
        refused = []
        if not self.is_allowed_origin(origin):
            refused.append("origin")
        method_ok = _TOKEN.fullmatch(request_method) is not None and (
            self.allow_any_method or request_method.upper() in self.allow_methods
        )
        if not method_ok:
            refused.append("method")
        headers_ok = all(
            _TOKEN.fullmatch(header) is not None
            and (self.allow_any_header or header in self.allow_headers)
            for header in requested
        )
        if not headers_ok:
            refused.append("headers")

        headers: RawHeaders = [(b"content-type", b"text/plain; charset=utf-8")]
        if self.varies_by_origin:
            headers.append((b"vary", b"Origin"))
        if refused:
            body = f"Disallowed CORS {', '.join(refused)}".encode()
            status = 400
        else:
            body = b"OK"
            status = 200
            allow_origin = "*" if self.allow_any_origin else origin
            headers.append((b"access-control-allow-origin", allow_origin.encode("latin-1")))
            headers.extend(self.preflight_headers)
            # A "*" is answered with the concrete request values: a literal "*" means
            # nothing to browsers on a credentialed request (Fetch, CORS-preflight fetch).
            if self.allow_any_method:
                headers.append((b"access-control-allow-methods", request_method.encode("latin-1")))
            if self.allow_any_header and requested:
                headers.append(
                    (b"access-control-allow-headers", ", ".join(requested).encode("latin-1"))
                )
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _vary_sender(self, send: Send) -> Send:
        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = headers = list(message.get("headers", ()))
                MutableHeaders(raw=headers).add_vary_header("Origin")
            await send(message)

        return send_with_vary

    def _simple_sender(self, send: Send, origin: str) -> Send:
        allowed = self.is_allowed_origin(origin)
        allow_origin = ("*" if self.allow_any_origin else origin).encode("latin-1")

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if not (allowed and name.lower() in _CORS_RESPONSE_HEADERS)
                ]
                if allowed:
                    headers.append((b"access-control-allow-origin", allow_origin))
                    headers.extend(self.simple_headers)
                if self.varies_by_origin:
                    MutableHeaders(raw=headers).add_vary_header("Origin")
                message["headers"] = headers
            await send(message)

        return send_with_cors
