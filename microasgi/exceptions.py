"""Every exception microasgi defines.

Hierarchy::

    Exception
    ├── HTTPException            an HTTP error response (status, detail, headers)
    │   └── RequestValidationError  422: typed parameters that did not validate
    ├── WebSocketException       close a websocket with a code (before or after accept)
    ├── WebSocketDisconnect      the websocket peer left (code, reason)
    ├── ClientDisconnect         the HTTP client left while its body was being read
    └── NoMatchFound (LookupError)  url_path_for found no route for a name and params
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any


def _reason_phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return ""


class HTTPException(Exception):
    """Abort the request with an HTTP error response.

    Args:
        status_code: the HTTP status to answer with.
        detail: the body text; defaults to the status's reason phrase.
        headers: extra response headers (for example ``WWW-Authenticate`` or ``Allow``).
    """

    def __init__(
        self,
        status_code: int,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if detail is None:
            detail = _reason_phrase(status_code)
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers) if headers is not None else None
        super().__init__(status_code, detail)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class RequestValidationError(HTTPException):
    """The typed parameters of a request did not validate: a 422 listing every problem.

    ``errors`` holds one ``{"loc": [...], "msg": ..., "type": ...}`` per problem; ``loc``
    starts with the source (``path``, ``query``, ``header``, ``cookie`` or ``body``). The
    default answer is the JSON ``{"detail": errors}``; register a handler for this class
    (or for 422) to answer otherwise.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        shown = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in errors
        )
        super().__init__(422, shown or "Unprocessable Content")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(errors={self.errors!r})"


class WebSocketException(Exception):
    """Close the websocket with ``code`` (and an optional ``reason``)."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketDisconnect(Exception):
    """Raised by websocket receives once the client has disconnected."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)


class ClientDisconnect(Exception):
    """Raised while reading a request body when the client has gone away."""


class NoMatchFound(LookupError):
    """``url_path_for`` found no route with this name accepting these params."""

    def __init__(self, name: str, path_params: Mapping[str, object]) -> None:
        params = ", ".join(sorted(path_params))
        super().__init__(
            f'No route named "{name}" accepts the params ({params}); '
            "check the route name and that every path parameter is given."
        )
