"""StaticFiles: an ASGI app serving a folder, meant to be mounted.

It owns turning a request path into a file inside the folder, and refusing every path
that would leave it (``..``, backslashes, NUL bytes, symlinks pointing out). Files are
sent with ``FileResponse`` (validators, ranges, HEAD). Filesystem calls run in a worker
thread. This module knows requests and responses, not the router that mounts it.
"""

import os
import stat
from dataclasses import dataclass
from urllib.parse import quote

from microasgi._concurrency import run_file_io
from microasgi.fileresponses import FileResponse
from microasgi.requests import route_path
from microasgi.responses import PlainTextResponse, RedirectResponse, Response
from microasgi.types import Receive, Scope, Send


@dataclass(frozen=True)
class _Found:
    """What a request path resolved to: a file, a folder, a folder to redirect to, or nothing."""

    kind: str  # "file", "folder", "redirect" or "missing"
    path: str = ""
    stat_result: os.stat_result | None = None


class StaticFiles:
    """Serve the files under ``directory``; mount it: ``app.mount("/static", StaticFiles(...))``.

    Args:
        directory: the folder to serve.
        html: serve ``index.html`` for a folder (redirecting ``/folder`` to ``/folder/``)
            and ``404.html``, with status 404, for a miss.
        follow_symlink: serve symlinks that point outside the folder. Off by default: a
            link leaving the folder answers 404.
        check_dir: raise at construction if ``directory`` is not a folder.

    Only GET and HEAD are allowed (405 otherwise). Misses answer 404 ``Not Found``.

    Raises:
        RuntimeError: ``check_dir`` is true and ``directory`` is not a folder.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        html: bool = False,
        follow_symlink: bool = False,
        check_dir: bool = True,
    ) -> None:
        # Resolved once: every served path is checked against this real path.
        self.directory = os.path.realpath(directory)
        self.html = html
        self.follow_symlink = follow_symlink
        if check_dir and not os.path.isdir(self.directory):
            raise RuntimeError(f"StaticFiles directory {os.fspath(directory)!r} is not a folder.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
                return
            raise RuntimeError(f"StaticFiles serves 'http' scopes, got {scope['type']!r}.")
        response = await self.get_response(scope)
        await response(scope, receive, send)

    async def get_response(self, scope: Scope) -> Response:
        """The response for ``scope``: a file, a redirect, 404 or 405."""
        if scope["method"] not in ("GET", "HEAD"):
            return PlainTextResponse(
                "Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"}
            )
        path = route_path(scope)
        segments = _safe_segments(path)
        found = _Found("missing")
        if segments is not None:
            found = await run_file_io(self._lookup, segments, path.endswith("/"))
        if found.kind == "file":
            return FileResponse(found.path, stat_result=found.stat_result)
        if found.kind == "redirect":
            return _redirect_to_folder(scope)
        if self.html:
            page = await run_file_io(self._find_file, ["404.html"])
            if page.kind == "file":
                return FileResponse(page.path, status_code=404, stat_result=page.stat_result)
        return PlainTextResponse("Not Found", status_code=404)

    def _lookup(self, segments: list[str], trailing_slash: bool) -> _Found:
        """Find what ``segments`` name inside the folder (blocking: runs in a thread)."""
        found = self._find_file(segments)
        if found.kind != "folder" or not self.html:
            return found if found.kind == "file" else _Found("missing")
        index = self._find_file([*segments, "index.html"])
        if index.kind != "file":
            return _Found("missing")
        # Relative links in the page resolve against the folder only with the slash.
        return index if trailing_slash else _Found("redirect")

    def _find_file(self, segments: list[str]) -> _Found:
        joined = os.path.join(self.directory, *segments)
        real = os.path.realpath(joined)
        if not self.follow_symlink and not _is_inside(real, self.directory):
            return _Found("missing")
        try:
            stat_result = os.stat(real)
        except (OSError, ValueError):
            return _Found("missing")
        if stat.S_ISREG(stat_result.st_mode):
            return _Found("file", real, stat_result)
        if stat.S_ISDIR(stat_result.st_mode):
            return _Found("folder", real, stat_result)
        return _Found("missing")


def _safe_segments(path: str) -> list[str] | None:
    """The path's segments, or None if any could step outside the folder.

    The server has already percent-decoded the path, so ``%2e%2e`` arrives as ``..``;
    nothing is decoded again here (a literal ``%2e`` is just a file name). A NUL, or text
    the file system cannot encode (a lone surrogate from ``%ed%a0%80``), names no file.
    """
    if "\\" in path or "\0" in path:
        return None
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        return None
    segments = [segment for segment in path.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        return None
    return segments


def _is_inside(path: str, directory: str) -> bool:
    return os.path.commonpath([path, directory]) == directory


def _redirect_to_folder(scope: Scope) -> Response:
    # One leading slash only: "//host/" would be a scheme-relative URL to another site.
    path = "/" + scope["path"].lstrip("/") + "/"
    location = quote(path, safe="/")
    query: bytes = scope.get("query_string", b"")
    if query:
        location += "?" + query.decode("latin-1")
    return RedirectResponse(location)
