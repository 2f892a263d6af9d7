"""scripts/_venv.sh picks the project's Python: 3.11 first, else the newest 3.12+."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def fake_python(folder: Path, name: str, version: str) -> Path:
    """A stand-in interpreter: it prints ``version`` for any ``-c`` program it is given.

    For the ``sys.exit(sys.version_info < (3, 11))`` probe it exits 0 only for 3.11+.
    """
    path = folder / name
    major, minor = (int(part) for part in version.split("."))
    status = 0 if (major, minor) >= (3, 11) else 1
    path.write_text(
        f'#!/bin/sh\ncase "$2" in *version_info\\ \\<*) exit {status};; esac\necho {version}\n'
    )
    path.chmod(0o755)
    return path


def find_main_python(folder: Path) -> subprocess.CompletedProcess[str]:
    # Only the fakes are on PATH: no pyenv, no real pythons.
    return subprocess.run(
        ["/bin/bash", "-c", "source scripts/_venv.sh && find_main_python"],
        cwd=ROOT,
        env={"PATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("installed", "chosen"),
    [
        ({"python3.11": "3.11", "python3.13": "3.13"}, "python3.11"),
        ({"python3.12": "3.12", "python3.13": "3.13"}, "python3.13"),
        ({"python3": "3.12"}, "python3"),
    ],
)
def test_prefers_3_11_then_the_newest(
    installed: dict[str, str], chosen: str, tmp_path: Path
) -> None:
    for name, version in installed.items():
        fake_python(tmp_path, name, version)
    result = find_main_python(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / chosen)


def test_fails_without_a_python_3_11_or_newer(tmp_path: Path) -> None:
    fake_python(tmp_path, "python3", "3.10")
    fake_python(tmp_path, "python3.9", "3.9")
    assert find_main_python(tmp_path).returncode == 1
