"""CHANGELOG.md: an [Unreleased] section on top, then a dated section for ``__version__``."""

import re
from datetime import date
from pathlib import Path

from microasgi import __version__

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"


def test_the_current_version_has_a_dated_section_below_unreleased() -> None:
    headings = re.findall(r"^## (.+)$", CHANGELOG.read_text(encoding="utf-8"), re.M)
    assert headings[0] == "[Unreleased]"
    released = re.fullmatch(r"\[([^\]]+)\] - (\d{4}-\d{2}-\d{2})", headings[1])
    assert released is not None, headings[1]
    assert released[1] == __version__
    date.fromisoformat(released[2])  # a real date
