"""HTTPSRedirectMiddleware: send plain-text connections to their TLS twin.

``http`` becomes ``https`` and ``ws`` becomes ``wss`` with a 307 (method and body kept),
path and query unchanged, the default ports 80/443 dropped and any other port kept.
Host parsing and the Location come from ``trustedhost`` so both middleware agree.
"""

from microasgi.middleware.trustedhost import (
    host_header,
    redirect_location,
    send_redirect,
    split_host_port,
)
from microasgi.types import ASGIApp, Receive, Scope, Send

_SECURE_SCHEME = {"http": "https", "ws": "wss"}
_DEFAULT_PORTS = (80, 443)
_BAD_HOST_BODY = b"Invalid host header"
# RFC 6455 7.4.1: 1008 is "policy violation"; used when a websocket cannot be redirected.
_WS_POLICY_VIOLATION = 1008


class HTTPSRedirectMiddleware:
    """Redirect every ``http``/``ws`` request to ``https``/``wss`` with a 307.

    A websocket handshake is answered with a 307 through the ASGI
    ``websocket.http.response`` extension when the server offers it; otherwise it is
    closed with 1008, since plain ASGI cannot redirect a websocket.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        default_scheme = "ws" if scope_type == "websocket" else "http"
        scheme = scope.get("scheme", default_scheme)
        if scope_type not in ("http", "websocket") or scheme not in _SECURE_SCHEME:
            await self.app(scope, receive, send)
            return
        location = self.location(scope, _SECURE_SCHEME[scheme])
        if scope_type == "http":
            if location is None:
                await _send_bad_host(send)
            else:
                await send_redirect(send, location)
        elif location is not None and "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 307,
                    "headers": [(b"location", location), (b"content-length", b"0")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b""})
        else:
            await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION, "reason": ""})

    @staticmethod
    def location(scope: Scope, scheme: str) -> bytes | None:
        """The secure URL for ``scope``, or None when its Host header is malformed."""
        raw_host = host_header(scope)
        if raw_host is None:
            # No Host header (HTTP/1.0): fall back to the address the server listens on.
            server = scope.get("server")
            if not server:
                return None
            host, port = server
            raw_host = f"[{host}]" if ":" in host else str(host)
            if port is not None:
                raw_host += f":{port}"
        parsed = split_host_port(raw_host)
        if parsed is None:
            return None
        host, port = parsed
        netloc = host if port is None or port in _DEFAULT_PORTS else f"{host}:{port}"
        return redirect_location(scope, scheme, netloc)


async def _send_bad_host(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(_BAD_HOST_BODY)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _BAD_HOST_BODY})
