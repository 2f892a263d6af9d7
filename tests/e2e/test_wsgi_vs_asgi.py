"""examples/wsgi_vs_asgi.py, with a short delay: WSGI adds the waits up, ASGI overlaps them."""

import re
import subprocess
import sys

import pytest

from .servers import ROOT

pytestmark = pytest.mark.e2e
DELAY = 0.2
REQUESTS = 5


def test_the_table_shows_waits_adding_up_only_where_they_block() -> None:
    result = subprocess.run(
        [sys.executable, "examples/wsgi_vs_asgi.py", "--delay", str(DELAY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seconds = [float(found) for found in re.findall(r"(\d+\.\d+) s$", result.stdout, re.M)]
    assert len(seconds) == 4, result.stdout
    wsgi, asynchronous, threaded, two_threads = seconds
    assert wsgi >= REQUESTS * DELAY * 0.95  # one at a time
    assert asynchronous < 2 * DELAY  # all at once
    assert threaded < 2 * DELAY
    assert 3 * DELAY * 0.95 <= two_threads < 4 * DELAY  # ceil(5 / 2) rounds of the pool
    assert wsgi / asynchronous >= 3


def test_bad_options_are_refused() -> None:
    result = subprocess.run(
        [sys.executable, "examples/wsgi_vs_asgi.py", "--delay", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--delay must be in" in result.stderr
