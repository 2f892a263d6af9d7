"""Errors answered where they are raised, with the handlers of the App in the scope.

A route answers its endpoint's error on the spot with the ``exception_layer`` of
``scope["app"]`` (the App serving the request; a mounted App puts itself there for its
own routes), and so does the router for a 404/405 or an error raised while matching.
The handler's response still goes out inside the user middleware, yet no coroutine of
an exception layer sits between the middleware and the route: a frame less on every
request, and nothing added to the scope on that path.

Route and mount middleware must see such errors as exceptions, as they did when the
handlers were a layer outside them: a middleware that catches one and answers by itself
must not find a 500 already sent. So a route with middleware runs its endpoint without
answering (``Route._serve(..., answer_errors=False)``) and answers on its way out, and a
mount with middleware puts the App under ``OUTSIDE_KEY`` in its child scope: everything
inside, nested mounts and hosts included, re-raises (``answer_error``), and the mount
answers with the scope it was given. Without an App in the scope (a bare Router, another
framework's app) the error propagates, and so does a websocket's.
"""

from typing import Protocol

from microasgi.resolution import Resolution, send_resolution
from microasgi.types import Receive, Scope, Send

# In a mount's child scope: the App whose errors that mount, having middleware, answers.
OUTSIDE_KEY = "microasgi.errors_answered_outside"


class ExceptionLayer(Protocol):
    async def answer(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``exc`` with the handlers; re-raise it when the server must hear of it."""


async def answer_error(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer ``exc`` with the exception layer of ``scope["app"]``. Raise it instead when
    there is none, for a websocket (the handlers answer HTTP only), and when a mount with
    middleware, between here and the App's own middleware, answers it on its way out
    (``OUTSIDE_KEY``)."""
    app = scope.get("app")
    layer: ExceptionLayer | None = getattr(app, "exception_layer", None)
    if layer is None or scope["type"] != "http" or scope.get(OUTSIDE_KEY) is app:
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
