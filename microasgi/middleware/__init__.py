"""Middleware: the ``Middleware`` spec, the stack fold, and the built-in middleware.

A stack is folded once, before serving: the first listed is the outermost.
"""

from collections.abc import Iterator, Sequence
from typing import Any

from microasgi.types import ASGIApp


class Middleware:
    """A middleware class and the arguments to build it with.

    ``Middleware(cls, *args, **kwargs)`` builds ``cls(app, *args, **kwargs)`` when the
    stack is folded.
    """

    __slots__ = ("args", "cls", "kwargs")

    def __init__(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        if not callable(cls):
            raise TypeError(f"Middleware needs a class or factory taking the app, got {cls!r}.")
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.args, self.kwargs))

    def __repr__(self) -> str:
        name = getattr(self.cls, "__name__", repr(self.cls))
        arguments = [repr(arg) for arg in self.args]
        arguments += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return f"Middleware({', '.join([name, *arguments])})"


def build_stack(app: ASGIApp, middleware: Sequence[Middleware]) -> ASGIApp:
    """Wrap ``app`` in ``middleware``, the first listed ending up outermost."""
    for cls, args, kwargs in reversed(middleware):
        app = cls(app, *args, **kwargs)
    return app


# The built-ins import nothing from this module, so re-exporting them here is cycle-free.
from microasgi.middleware.authentication import AuthenticationMiddleware  # noqa: E402
from microasgi.middleware.cors import CORSMiddleware  # noqa: E402
from microasgi.middleware.gzip import GZipMiddleware  # noqa: E402
from microasgi.middleware.httpsredirect import HTTPSRedirectMiddleware  # noqa: E402
from microasgi.middleware.proxyheaders import ProxyHeadersMiddleware  # noqa: E402
from microasgi.middleware.sessions import SessionMiddleware  # noqa: E402
from microasgi.middleware.trace import TraceMiddleware  # noqa: E402
from microasgi.middleware.trustedhost import TrustedHostMiddleware  # noqa: E402
from microasgi.middleware.wsgi import WSGIMiddleware  # noqa: E402

__all__ = [
    "AuthenticationMiddleware",
    "CORSMiddleware",
    "GZipMiddleware",
    "HTTPSRedirectMiddleware",
    "Middleware",
    "ProxyHeadersMiddleware",
    "SessionMiddleware",
    "TraceMiddleware",
    "TrustedHostMiddleware",
    "WSGIMiddleware",
    "build_stack",
]
