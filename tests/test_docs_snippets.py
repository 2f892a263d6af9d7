"""Every ```python block of the docs and the README runs, and passes ``mypy --strict``.

A block that cannot run alone (a fragment, or one that needs a server) is marked by the
line ``<!-- fragment -->`` right before its opening fence; any other info string (```bash,
```text, ```console) is not Python and is left alone. Pages are found by globbing, so a new
page is checked as soon as it exists.

Each runnable block is executed as a fresh module (its own namespace, registered in
``sys.modules`` while it runs so dataclasses and annotations resolve) in a temporary
current directory. All blocks are then written to one temporary folder and checked by a
single mypy run, which keeps the suite fast.
"""

import logging
import re
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAGMENT_MARK = "<!-- fragment -->"
# An opening fence, possibly indented (inside a list item), and its info string.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
MYPY_TIMEOUT = 300
# Info strings that mean Python: a block cannot escape the checks by spelling it differently.
PYTHON_INFO = frozenset({"python", "py", "python3"})


@dataclass(frozen=True)
class Block:
    """One fenced ```python block: where it is, its code, and whether it is a fragment."""

    page: Path
    line: int  # of the opening fence, 1-based
    code: str
    fragment: bool

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def module_name(self) -> str:
        stem = re.sub(r"\W", "_", self.page.relative_to(ROOT).with_suffix("").as_posix())
        return f"docsnippet_{stem}_{self.line}"


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/, sorted."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def python_blocks(page: Path) -> list[Block]:
    """The page's ```python blocks, dedented to their fence's indentation.

    Raises:
        ValueError: a fence that is never closed.
    """
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence, indent = opening["fence"], opening["indent"]
        start = index
        while index < len(lines) and lines[index].strip() != fence:
            index += 1
        if index == len(lines):
            raise ValueError(f"{page}:{start}: the fence {fence!r} is never closed")
        index += 1
        if opening["info"].strip().split(" ")[0] not in PYTHON_INFO:
            continue
        body = [line.removeprefix(indent) for line in lines[start : index - 1]]
        fragment = start >= 2 and lines[start - 2].strip() == FRAGMENT_MARK
        blocks.append(Block(page, start, "\n".join(body) + "\n", fragment))
    return blocks


ALL_BLOCKS = [block for page in pages() for block in python_blocks(page)]
RUNNABLE = [block for block in ALL_BLOCKS if not block.fragment]


def test_blocks_are_found() -> None:
    # Guards the discovery itself: a parser that found nothing would pass every check.
    assert len(RUNNABLE) >= 20
    assert any(block.page.name == "README.md" for block in RUNNABLE)


def test_python_blocks_parse_fences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n"
        "```python\nx = 1\n```\n"
        "<!-- fragment -->\n```python\ny.z()\n```\n"
        "- item\n\n    ```python\n    if True:\n        pass\n    ```\n"
        "```bash\necho hi\n```\n"
        "````python\n```\n````\n"
        '```py title="a.py"\nz = 3\n```\n',
        encoding="utf-8",
    )
    found = [(block.line, block.code, block.fragment) for block in python_blocks(page)]
    assert found == [
        (2, "x = 1\n", False),
        (6, "y.z()\n", True),
        (11, "if True:\n    pass\n", False),
        (18, "```\n", False),
        (21, "z = 3\n", False),
    ]
    page.write_text("```python\nnever closed\n", encoding="utf-8")
    with pytest.raises(ValueError, match="never closed"):
        python_blocks(page)


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda block: block.name)
def test_block_runs(
    block: Block,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The block runs as a module of its own, in an empty current directory."""
    monkeypatch.chdir(tmp_path)
    # A block may configure logging (basicConfig): undo it for the tests that follow.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    module = types.ModuleType(block.module_name)
    module.__file__ = str(tmp_path / f"{block.module_name}.py")
    monkeypatch.setitem(sys.modules, block.module_name, module)
    code = compile(block.code, block.name, "exec")
    exec(code, module.__dict__)
    capsys.readouterr()  # a block may print what it shows; the output is not checked here


def test_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    """One ``mypy --strict`` run over every runnable block, errors named by page and line."""
    names: dict[str, Block] = {}
    for block in RUNNABLE:
        path = tmp_path / f"{block.module_name}.py"
        path.write_text(block.code, encoding="utf-8")
        names[path.name] = block
    config = ["--config-file", str(ROOT / "pyproject.toml")]
    files = sorted(str(tmp_path / name) for name in names)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *config, *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=MYPY_TIMEOUT,
        check=False,
    )
    report = result.stdout
    for file_name, block in names.items():
        # ".../docsnippet_docs_index_22.py:12: error" -> "docs/index.md:22 (line 12 ...): error"
        where = f"{block.name} (line \\1 of the block)"
        report = re.sub(rf"\S*{re.escape(file_name)}:(\d+)", where, report)
    assert result.returncode == 0, report + result.stderr
