"""docs/migration.md: every microasgi name its tables say exists does exist."""

import importlib
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "migration.md"
# A table row: | `starlette...` | `microasgi...` or — | notes |
ROW = re.compile(r"^\|(?P<starlette>[^|]+)\|(?P<microasgi>[^|]+)\|(?P<notes>[^|]*)\|$")
NAME = re.compile(r"`([\w.]+)`")


def rows() -> list[tuple[str, str, str]]:
    found = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match and match["starlette"].strip().startswith("`starlette"):
            starlette, microasgi, notes = (match[key].strip() for key in ROW.groupindex)
            found.append((starlette, microasgi, notes))
    return found


def resolve(dotted: str) -> object:
    """The object ``dotted`` names: the longest importable module, then attributes.

    Raises:
        LookupError: nothing of that name exists.
    """
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                raise LookupError(f"{dotted}: {'.'.join(parts[:split])} has no {attribute!r}")
            target = getattr(target, attribute)
        return target
    raise LookupError(f"{dotted}: no such module")


def test_the_page_has_its_tables() -> None:
    assert len(rows()) > 120


@pytest.mark.parametrize(("starlette", "microasgi", "notes"), rows())
def test_every_named_equivalent_exists_and_every_absence_has_a_reason(
    starlette: str, microasgi: str, notes: str
) -> None:
    if microasgi == "—":
        assert notes, f"{starlette}: say why microasgi has no equivalent"
        return
    names = NAME.findall(microasgi)
    assert names, f"{starlette}: the microasgi column must name something or be —"
    for name in names:
        assert name.startswith("microasgi"), name
        resolve(name)


def test_resolve_refuses_names_that_do_not_exist() -> None:
    assert resolve("microasgi.responses.JSONResponse") is not None
    with pytest.raises(LookupError, match="has no 'Nope'"):
        resolve("microasgi.responses.Nope")
    with pytest.raises(LookupError, match="no such module"):
        resolve("nomodule.thing")
