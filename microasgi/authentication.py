"""Authentication: who the client is (``request.user``) and what it may do (``request.auth``).

``AuthenticationMiddleware`` asks an ``AuthenticationBackend`` once per connection; endpoints
check scopes with ``@requires``. The decorator keeps the endpoint's signature for the binder
(path parameters by name), adding a connection parameter when the endpoint takes none.
"""

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from microasgi.endpoints import _is_connection_parameter, is_async_callable
from microasgi.exceptions import HTTPException, WebSocketException
from microasgi.requests import HTTPConnection
from microasgi.responses import RedirectResponse

__all__ = [
    "AuthCredentials",
    "AuthenticationBackend",
    "AuthenticationError",
    "BaseUser",
    "SimpleUser",
    "UnauthenticatedUser",
    "has_required_scope",
    "requires",
]

F = TypeVar("F", bound=Callable[..., Any])

# The close code a websocket gets when @requires refuses it.
CLOSE_POLICY_VIOLATION = 1008
# The parameter @requires adds to an endpoint that takes no connection, so the binder passes it.
_ADDED_CONNECTION = "_requires_connection"


class AuthenticationError(Exception):
    """Raised by a backend for credentials that are present but wrong (a bad token).

    The middleware answers it with 400 and the message, or with its ``on_error`` hook.
    """


class AuthCredentials:
    """What the connection may do: a list of scope names (``"authenticated"``, ``"admin"``)."""

    def __init__(self, scopes: Sequence[str] | None = None) -> None:
        self.scopes = list(scopes or ())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scopes!r})"


class BaseUser:
    """The user a backend returns; subclass it with your own user model."""

    @property
    def is_authenticated(self) -> bool:
        raise NotImplementedError

    @property
    def display_name(self) -> str:
        raise NotImplementedError

    @property
    def identity(self) -> str:
        raise NotImplementedError


class SimpleUser(BaseUser):
    """An authenticated user known by name."""

    def __init__(self, username: str) -> None:
        self.username = username

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.username

    @property
    def identity(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.username!r})"


class UnauthenticatedUser(BaseUser):
    """Who ``request.user`` is when the backend recognised nobody."""

    @property
    def is_authenticated(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        return ""

    @property
    def identity(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AuthenticationBackend:
    """Tells who a connection is. Subclass it and implement ``authenticate``."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        """``(credentials, user)`` for a recognised client, ``None`` for an anonymous one.

        May also be a plain ``def`` (it then runs in a worker thread).

        Raises:
            AuthenticationError: credentials were given but are invalid.
        """
        raise NotImplementedError


def has_required_scope(conn: HTTPConnection, scopes: Sequence[str]) -> bool:
    """Whether the connection's credentials hold every one of ``scopes``.

    Raises:
        RuntimeError: AuthenticationMiddleware is not installed.
    """
    granted = conn.auth.scopes
    return all(scope in granted for scope in scopes)


def requires(
    scopes: str | Sequence[str], status_code: int = 403, redirect: str | None = None
) -> Callable[[F], F]:
    """Refuse the endpoint to connections lacking any of ``scopes``.

    An HTTP request is answered ``status_code`` (403), or, with ``redirect``, sent to the route
    of that name with ``?next=<the path it asked for>`` (303). A websocket is closed with 1008
    before it is accepted. Works on function endpoints (async or sync), the methods of class
    endpoints, and websocket endpoints (functions, or ``on_connect`` of a ``WebSocketEndpoint``).

    Raises:
        TypeError: ``scopes`` is empty.
    """
    required = [scopes] if isinstance(scopes, str) else list(scopes)
    if not required:
        raise TypeError("requires() needs at least one scope.")

    def decorator(func: F) -> F:
        signature = inspect.signature(func)
        connection = _connection_parameter(signature)
        position = None if connection is None else list(signature.parameters).index(connection)
        added = connection is None

        def refusal(args: tuple[Any, ...], kwargs: dict[str, Any]) -> RedirectResponse | None:
            """Pop the added connection, check the scopes: raise, redirect, or None (allowed)."""
            if added:
                conn = kwargs.pop(_ADDED_CONNECTION)
            elif connection in kwargs:
                conn = kwargs[connection]
            else:
                conn = args[position]  # type: ignore[index]  # passed positionally
            if has_required_scope(conn, required):
                return None
            if conn.scope["type"] == "websocket":
                raise WebSocketException(CLOSE_POLICY_VIOLATION, "Not authorised.")
            if redirect is None:
                raise HTTPException(status_code)
            return _login_redirect(conn, redirect)

        if is_async_callable(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                refused = refusal(args, kwargs)
                if refused is not None:
                    return refused
                return await func(*args, **kwargs)

            wrapper: Any = async_wrapper
        else:

            @functools.wraps(func)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                refused = refusal(args, kwargs)
                if refused is not None:
                    return refused
                return func(*args, **kwargs)

            wrapper = sync_wrapper
        if added:
            wrapper.__signature__ = _with_connection(signature)
        return wrapper  # type: ignore[no-any-return]

    return decorator


def _connection_parameter(signature: inspect.Signature) -> str | None:
    """The parameter the endpoint binder fills with the connection (the binder's own rule)."""
    for parameter in signature.parameters.values():
        if _is_connection_parameter(parameter):
            return parameter.name
    return None


def _with_connection(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` plus a keyword-only connection parameter (before any ``**kwargs``)."""
    parameters = list(signature.parameters.values())
    extra = inspect.Parameter(
        _ADDED_CONNECTION, inspect.Parameter.KEYWORD_ONLY, annotation=HTTPConnection
    )
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
        parameters.insert(len(parameters) - 1, extra)
    else:
        parameters.append(extra)
    return signature.replace(parameters=parameters)


def _login_redirect(conn: HTTPConnection, route_name: str) -> RedirectResponse:
    # `next` is a path, not a full URL: a login form can check it starts with "/" before
    # following it, which a full URL would make harder (an open redirect).
    target = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    url = conn.url_for(route_name)
    return RedirectResponse(f"{url}?{urlencode({'next': target})}", status_code=303)
