"""Value types built per request: FormData, UploadFile, State; and the one import path for
every value type: URL, URLPath and Address (``microasgi.urls``), Headers and
MutableHeaders (``microasgi.headers``) and QueryParams (``microasgi.queryparams``) are
re-exported here.

They hold data and parse it lazily; they never talk to the connection. The only I/O is
UploadFile's file access, which runs in a worker thread once the file lives on disk.
This module knows nothing about requests, responses or routing.
"""

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import IO, Any, Self

from microasgi._concurrency import run_file_io
from microasgi.headers import Headers, MutableHeaders
from microasgi.queryparams import QueryParams, _MultiMapping
from microasgi.urls import URL, Address, URLPath

__all__ = [
    "URL",
    "Address",
    "FormData",
    "Headers",
    "MutableHeaders",
    "QueryParams",
    "State",
    "URLPath",
    "UploadFile",
]


class UploadFile:
    """A file received in a multipart form.

    I/O happens inline while the file is an in-memory ``SpooledTemporaryFile`` and in a
    worker thread once it has rolled to disk (or for any other file object), so a large
    upload never blocks the event loop.
    """

    __slots__ = ("file", "filename", "headers", "size")

    def __init__(
        self,
        file: IO[bytes],
        *,
        size: int | None = None,
        filename: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        self.file = file
        self.size = size
        self.filename = filename
        self.headers = headers if headers is not None else Headers()

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def _in_memory(self, extra: int = 0) -> bool:
        # SpooledTemporaryFile keeps a private _rolled flag; anything else counts as on disk.
        if getattr(self.file, "_rolled", True):
            return False
        max_size = getattr(self.file, "_max_size", 0)
        # A write that pushes past max_size rolls over, writing to disk: do it in a thread.
        return not max_size or self.file.tell() + extra <= max_size

    async def read(self, size: int = -1) -> bytes:
        if self._in_memory():
            return self.file.read(size)
        return await run_file_io(self.file.read, size)

    async def write(self, data: bytes) -> None:
        """Append ``data`` at the current position; ``size`` grows by ``len(data)``."""
        self.size = (self.size or 0) + len(data)
        if self._in_memory(len(data)):
            self.file.write(data)
        else:
            await run_file_io(self.file.write, data)

    async def seek(self, offset: int) -> None:
        if self._in_memory():
            self.file.seek(offset)
        else:
            await run_file_io(self.file.seek, offset)

    async def close(self) -> None:
        if self.file.closed:  # closing twice is fine (`async with form`, then the router)
            return
        if self._in_memory():
            self.file.close()
        else:
            await run_file_io(self.file.close)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(filename={self.filename!r}, size={self.size!r}, "
            f"headers={self.headers!r})"
        )


class FormData(_MultiMapping[str | UploadFile]):
    """Parsed form fields and files; ``async with form:`` closes every file on exit."""

    __slots__ = ()

    def __init__(
        self,
        form: Mapping[str, str | UploadFile] | Iterable[tuple[str, str | UploadFile]] | None = None,
    ) -> None:
        if isinstance(form, _MultiMapping):
            super().__init__(form.multi_items())
        elif isinstance(form, Mapping):
            super().__init__(list(form.items()))
        else:
            super().__init__(list(form or ()))

    async def close(self) -> None:
        """Close every UploadFile in the form."""
        for _, value in self._pairs():
            if isinstance(value, UploadFile):
                await value.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class State:
    """An attribute bag over a dict (``_state``), for ``app.state`` and ``request.state``.

    The dict is used as given, not copied, so ``State(dict(other._state))`` costs one
    shallow dict copy.
    """

    __slots__ = ("_state",)

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_state", {} if state is None else state)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_state":
            object.__setattr__(self, name, value)
        else:
            self._state[name] = value

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; "_state" itself missing means a half-built
        # object (copy/pickle), which must not recurse.
        if name != "_state":
            try:
                return self._state[name]
            except KeyError:
                pass
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        try:
            del self._state[name]
        except KeyError:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}'"
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._state!r})"
