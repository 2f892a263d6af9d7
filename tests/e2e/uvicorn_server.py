"""Run an app under a real uvicorn on 127.0.0.1 for end-to-end tests, stopped by its PID."""

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.servers import ROOT, free_port, serving

__all__ = ["ROOT", "free_port", "uvicorn_serving"]


@contextmanager
def uvicorn_serving(
    app_path: str,
    log: Path,
    environment: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
) -> Iterator[int]:
    """Serve ``module:app`` with uvicorn; yield its port once it listens; stop it by its PID.

    ``options`` go to uvicorn's command line (``--workers 2``). uvicorn's output goes to
    ``log``, shown when it exits before listening.
    """
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app_path, *options]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with serving(command, port, log, environment):
        yield port
