"""Settings from the environment and an optional ``.env`` file, cast and checked once.

``Config`` reads a variable from the process environment first, then from the env file, then
falls back to the default; ``cast`` turns the text into the type the app wants and a failure
names the variable. ``environ`` guards against a variable being changed after it was read, since
the value already read would silently stay in use.
"""

import os
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

__all__ = [
    "CommaSeparatedStrings",
    "Config",
    "Environ",
    "EnvironError",
    "Secret",
    "environ",
]

T = TypeVar("T")

# The spellings a bool setting accepts (compared in lower case).
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


class EnvironError(Exception):
    """An environment variable was set or deleted after the app had read it."""


class Environ(MutableMapping[str, str]):
    """``os.environ``, refusing to change a variable once it has been read.

    A setting read at import time keeps its value for the life of the process: changing the
    variable later (typically in a test) would have no effect, so it is an error instead.
    """

    def __init__(self, environ: MutableMapping[str, str] = os.environ) -> None:
        self._environ = environ
        self._read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self._read.add(key)
        return self._environ[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._refuse_if_read(key, "set")
        self._environ[key] = value

    def __delitem__(self, key: str) -> None:
        self._refuse_if_read(key, "delete")
        del self._environ[key]

    def _refuse_if_read(self, key: str, action: str) -> None:
        if key in self._read:
            raise EnvironError(
                f"Cannot {action} environment variable {key!r}: it has already been read, "
                "and the value read stays in use. Set it before the settings are loaded."
            )

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


environ = Environ()


class Secret:
    """A value that must not leak into logs: its repr hides it; ``str()`` reveals it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}('**********')"

    def __str__(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class CommaSeparatedStrings(Sequence[str]):
    """``"a, b,c"`` as the sequence ``["a", "b", "c"]``: items stripped, empty ones dropped.

    A sequence of strings is taken as it is.
    """

    def __init__(self, value: str | Sequence[str]) -> None:
        if isinstance(value, str):
            self._items = [item.strip() for item in value.split(",") if item.strip()]
        else:
            self._items = list(value)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CommaSeparatedStrings):
            return self._items == other._items
        return isinstance(other, list | tuple) and self._items == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value: not hashable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"

    def __str__(self) -> str:
        return ", ".join(self._items)


_MISSING: Any = object()  # no default given: a missing setting is an error


class Config:
    """Read settings: ``config = Config(".env")``, then ``config("PORT", cast=int, default=8000)``.

    Args:
        env_file: a ``.env`` file of ``NAME=value`` lines (``#`` comments, blank lines,
            ``export NAME=...`` and quoted values allowed); a missing file is a warning.
        environ: where real environment variables come from (first choice over the file).
        env_prefix: prepended to every name looked up (``"APP_"``: ``config("PORT")`` reads
            ``APP_PORT``).
        encoding: of the env file.

    Raises:
        ValueError: a line of the env file is not ``NAME=value`` (file and line named).
    """

    def __init__(
        self,
        env_file: str | Path | None = None,
        environ: Mapping[str, str] = environ,
        env_prefix: str = "",
        encoding: str = "utf-8",
    ) -> None:
        self.environ = environ
        self.env_prefix = env_prefix
        self.file_values: dict[str, str] = {}
        if env_file is not None:
            if os.path.isfile(env_file):
                self.file_values = _read_env_file(Path(env_file), encoding)
            else:
                warnings.warn(f"Config file {str(env_file)!r} not found.", stacklevel=2)

    @overload
    def __call__(self, key: str, *, default: None) -> str | None: ...
    @overload
    def __call__(self, key: str, cast: Callable[[Any], T], default: Any = ...) -> T: ...
    @overload
    def __call__(self, key: str, cast: None = None, default: str = ...) -> str: ...
    def __call__(
        self, key: str, cast: Callable[[Any], Any] | None = None, default: Any = _MISSING
    ) -> Any:
        return self.get(key, cast, default)

    def get(
        self, key: str, cast: Callable[[Any], Any] | None = None, default: Any = _MISSING
    ) -> Any:
        """The setting ``env_prefix + key``: environment, then env file, then ``default``.

        A string (from anywhere, the default included) is passed through ``cast``; ``bool``
        accepts ``true/false``, ``1/0``, ``yes/no``, ``on/off``, ``t/f``, ``y/n`` in any case.
        A non-string default (``None`` included) is returned as it is.

        Raises:
            KeyError: the setting is missing and has no default.
            ValueError: ``cast`` failed; the message names the variable and its value.
        """
        name = self.env_prefix + key
        if name in self.environ:
            value: Any = self.environ[name]
        elif name in self.file_values:
            value = self.file_values[name]
        elif default is not _MISSING:
            value = default
        else:
            raise KeyError(f"Config {name!r} is missing and has no default.")
        if cast is None or not isinstance(value, str):
            return value
        return _cast(name, value, cast)


def _cast(name: str, value: str, cast: Callable[[Any], Any]) -> Any:
    if cast is bool:
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(
            f"Config {name!r} has value {value!r}, which is not a bool "
            "(use true/false, 1/0, yes/no or on/off)."
        )
    try:
        return cast(value)
    except (TypeError, ValueError) as exc:
        kind = getattr(cast, "__name__", repr(cast))
        raise ValueError(f"Config {name!r} has value {value!r}, not a valid {kind}: {exc}") from exc


def _read_env_file(path: Path, encoding: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding=encoding).splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        name, separator, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not separator or not name:
            raise ValueError(f"{path}:{number}: expected NAME=value, got {raw!r}.")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values
