"""Jinja2 templates: ``Jinja2Templates(directory).TemplateResponse(request, name, context)``.

Jinja2 is an optional extra (``pip install 'microasgi[templates]'``), imported when templates
are first set up. HTML templates are autoescaped; ``url_for`` in a template builds URLs for
routes and static mounts as ``request.url_for`` does (``root_path`` included). With
``enable_async=True`` templates render with ``render_async`` when the response is sent, so they
may await async globals; otherwise they render when the response is built, like any body.
"""

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from microasgi.background import BackgroundTask
from microasgi.datastructures import URL
from microasgi.requests import Request
from microasgi.responses import HTMLResponse
from microasgi.types import Receive, Scope, Send

if TYPE_CHECKING:  # pragma: no cover - the extra is imported at run time only when used
    import jinja2

__all__ = ["Jinja2Templates", "TemplateResponse"]

ContextProcessor = Callable[[Request], Mapping[str, Any]]
# Autoescaped by default: HTML and XML templates, and templates built from strings.
AUTOESCAPED_EXTENSIONS = ("html", "htm", "xml", "html.j2", "html.jinja", "html.jinja2", "svg")


def _import_jinja2() -> Any:
    try:
        import jinja2
    except ImportError:
        raise ImportError("Templates need Jinja2: pip install 'microasgi[templates]'.") from None
    return jinja2


class TemplateResponse(HTMLResponse):
    """An HTML response rendered from a template; built by ``Jinja2Templates.TemplateResponse``.

    ``template`` and ``context`` stay on the response, and ``TestClient`` responses carry them
    too (``response.template.name``, ``response.context``).
    """

    def __init__(
        self,
        template: "jinja2.Template",
        context: dict[str, Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.template = template
        self.context = context
        # An async environment renders in __call__ (render_async), a sync one now.
        content = None if template.environment.is_async else template.render(context)
        super().__init__(content, status_code, headers, media_type, background)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.template.environment.is_async:
            self._set_body(await self.template.render_async(self.context))
        debug = scope.get("extensions", {}).get("http.response.debug")
        if isinstance(debug, dict):
            # A test client asked for what was rendered: told through the scope rather than
            # by an extra message, which middleware (GZip, call_next) would have to know.
            debug.update(template=self.template, context=self.context)
        await super().__call__(scope, receive, send)

    def _set_body(self, text: str) -> None:
        self.body = text.encode(self.charset)
        length = b"%d" % len(self.body)
        self.raw_headers = [
            (name, length if name == b"content-length" else value)
            for name, value in self.raw_headers
        ]


class Jinja2Templates:
    """A Jinja2 environment wired to microasgi.

    Args:
        directory: where templates live (one path or several, searched in order).
        env: a ready ``jinja2.Environment`` instead of ``directory`` (its loader, filters and
            autoescape settings are kept; ``url_for`` is added unless it has one).
        context_processors: functions of the request returning extra context for every
            template; the context passed to ``TemplateResponse`` wins over theirs.
        enable_async: render with ``render_async`` when the response is sent, so templates can
            call async functions (``{{ await_me() }}`` works on async globals).

    Filters and globals go on ``env``: ``templates.env.filters["money"] = format_money``.

    Raises:
        ImportError: Jinja2 is not installed (the message names the extra).
        TypeError: neither or both of ``directory`` and ``env``.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        *,
        env: "jinja2.Environment | None" = None,
        context_processors: Sequence[ContextProcessor] = (),
        enable_async: bool = False,
    ) -> None:
        jinja = _import_jinja2()
        if (directory is None) == (env is None):
            raise TypeError("Jinja2Templates needs either directory= or env=, not both.")
        if env is None:
            env = jinja.Environment(
                loader=jinja.FileSystemLoader(directory),
                autoescape=jinja.select_autoescape(
                    enabled_extensions=AUTOESCAPED_EXTENSIONS, default_for_string=True
                ),
                enable_async=enable_async,
            )
        env.globals.setdefault("url_for", jinja.pass_context(_url_for))
        self.env: jinja2.Environment = env
        self.context_processors = list(context_processors)

    def get_template(self, name: str) -> "jinja2.Template":
        """The template called ``name`` (``jinja2.TemplateNotFound`` if there is none)."""
        template: jinja2.Template = self.env.get_template(name)
        return template

    def TemplateResponse(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> TemplateResponse:
        """Render template ``name`` with ``context``, plus ``request`` and the processors' context.

        Raises:
            TypeError: ``request`` is not a Request (the old ``(name, context)`` order).
            jinja2.TemplateNotFound: no template is called ``name``.
        """
        if not isinstance(request, Request):
            raise TypeError(
                "TemplateResponse takes the request first: "
                "templates.TemplateResponse(request, name, context)."
            )
        full: dict[str, Any] = {}
        for processor in self.context_processors:
            full.update(processor(request))
        full.update(context or {})
        full["request"] = request
        return TemplateResponse(
            self.get_template(name), full, status_code, headers, media_type, background
        )


def _url_for(context: Mapping[str, Any], name: str, /, **path_params: Any) -> URL:
    """``url_for`` in templates: the absolute URL of a route or static file, like
    ``request.url_for`` (``url_for('static', path='/app.css')`` for a mount named static)."""
    request = context.get("request")
    if not isinstance(request, Request):
        raise RuntimeError(
            "url_for() in a template needs the request in its context: "
            "render it with templates.TemplateResponse(request, ...)."
        )
    return request.url_for(name, **path_params)
