"""Shared settings for the attack tests: a modest hypothesis profile and resource bounds.

The whole directory runs twice in scripts/check.sh (once as is, once under
``PYTHONOPTIMIZE=1``), so property tests keep their example counts small.
"""

import os
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hypothesis import HealthCheck, settings

settings.register_profile(
    "security",
    max_examples=int(os.environ.get("MICROASGI_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
settings.load_profile("security")


@dataclass
class Usage:
    """What a block of code cost: wall time in seconds and peak traced memory in bytes."""

    seconds: float = 0.0
    peak_bytes: int = 0


@contextmanager
def measured() -> Iterator[Usage]:
    """Measure the wall time and the ``tracemalloc`` peak of the enclosed block."""
    usage = Usage()
    already_tracing = tracemalloc.is_tracing()
    if not already_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    try:
        yield usage
    finally:
        usage.seconds = time.perf_counter() - started
        usage.peak_bytes = tracemalloc.get_traced_memory()[1] - baseline
        if not already_tracing:
            tracemalloc.stop()
