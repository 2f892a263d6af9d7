"""Worker threads, public: run blocking code off the event loop, and size the pools.

``run_in_threadpool`` and ``iterate_in_threadpool`` run on the workers' pool (the one sync
endpoints use); file I/O has its own pool, so slow sync code never delays a download or an
upload. ``configure_threads`` sizes both.
"""

from microasgi._concurrency import (
    configure_threads,
    iterate_in_threadpool,
    run_file_io,
    run_in_threadpool,
    thread_limits,
)

__all__ = [
    "configure_threads",
    "iterate_in_threadpool",
    "run_file_io",
    "run_in_threadpool",
    "thread_limits",
]
