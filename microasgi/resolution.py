"""Resolution: an endpoint's response handed back unsent, the shortcut behind ``call_next``.

Function middleware normally runs the rest of the stack as an ASGI app, stepped by hand
and paused at its response start. When the rest is microasgi's router, ``call_next`` asks
it to *resolve* the request instead: route it, run the endpoint, and hand back the
Response object it returned (or, for a handled error, its handler's response), unsent.
The middleware then gets the very response the endpoint built, and no coroutine has to
be paused or stepped.

A router offering this has the class flag ``offers_resolution`` and
``resolve(scope, receive)``, an awaitable of:

- a ``Resolution`` tuple: the response, not sent yet;
- ``None``: the request is not on the shortcut (a route with its own middleware, a mount,
  a 404...); nothing has run, so the caller runs the router as an ASGI app.

``resolve`` raises what the endpoint raised when no handler answers it (an unhandled
error), exactly as the router would have let it propagate. Matching is a plain call, so
the shortcut costs no coroutine frame of the router's own. ``Route._serve`` is
``Route.resolve`` followed by sending the response, so both paths run one copy of the
route's work.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from microasgi.requests import Request
from microasgi.responses import Response
from microasgi.types import ASGIApp, Receive, Scope

# (response, receive, request): the response, not sent yet; the channel the endpoint
# saw, which sending the response must use too (a stream watches it for the
# disconnect); the endpoint's Request (None when it took none), whose form is closed
# once the response is sent. A plain tuple: one is built on every resolved request.
Resolution = tuple[Response, Receive, Request | None]


async def close_resolution(resolution: Resolution) -> None:
    """Close the form the endpoint read, if any (its spooled files go now)."""
    request = resolution[2]
    if request is not None and request.holds_form:
        await request.close()


Resolver = Callable[[Scope, Receive], Awaitable[Resolution | None]]


def resolver_of(app: ASGIApp) -> Resolver | None:
    """The ``resolve`` of ``app`` when ``app`` is a router offering the shortcut (its class
    has ``offers_resolution``) or that router's bound ``dispatch``, else None. The class
    flag keeps an unrelated ``resolve`` of some other app from being taken for it."""
    # The router, or the one whose dispatch it is; a permissive boundary: any ASGI app.
    router: Any = getattr(app, "__self__", app)
    if not getattr(type(router), "offers_resolution", False):
        return None
    if router is not app and app != router.dispatch:
        return None  # another method of a router
    resolve: Resolver = router.resolve
    return resolve
