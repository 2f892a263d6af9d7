"""Errors answered where they are raised, with the handlers of the App in the scope.

A route answers its endpoint's error on the spot with the ``exception_layer`` of
``scope["app"]`` (the App serving the request; a mounted App puts itself there for its
own routes), and so do a mount, a host and the router's 404/405. The handler's response
still goes out inside the user middleware, yet no coroutine of an exception layer sits
between the middleware and the route: a frame less on every request, and nothing added
to the scope. Without such an app (a bare Router, another framework's app) the error
propagates, and so does a websocket's.
"""

from typing import Protocol

from microasgi.resolution import Resolution, send_resolution
from microasgi.types import Receive, Scope, Send


class ExceptionLayer(Protocol):
    async def answer(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``exc`` with the handlers; re-raise it when the server must hear of it."""


async def answer_error(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer ``exc`` with the exception layer of ``scope["app"]``; without one, or for a
    websocket (the handlers answer HTTP only), raise it."""
    layer: ExceptionLayer | None = getattr(scope.get("app"), "exception_layer", None)
    if layer is None or scope["type"] != "http":
        raise exc
    await layer.answer(exc, scope, receive, send)


async def send_answered(
    outcome: Resolution | Exception, scope: Scope, receive: Receive, send: Send
) -> None:
    """The ASGI app (bind ``outcome`` with ``functools.partial``) that sends what a
    router's ``resolve`` gave as its route would have: an error it raised, or a response
    that failed before its start, answered with ``answer_error``."""
    try:
        if isinstance(outcome, Exception):
            raise outcome
        await send_resolution(outcome, scope, receive, send)
    except Exception as exc:
        await answer_error(exc, scope, receive, send)
