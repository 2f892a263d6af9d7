"""Background tasks: callables that run after the response has been sent."""

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec

from microasgi._concurrency import run_in_threadpool

P = ParamSpec("P")


class BackgroundTask:
    """One call to make after the response: ``BackgroundTask(func, *args, **kwargs)``.

    ``func`` may be sync (run in a worker thread) or async.
    """

    __slots__ = ("args", "func", "is_async", "kwargs")

    def __init__(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        # Decided once here, not per call.
        self.is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 - an async __call__ counts too
        )

    async def __call__(self) -> None:
        if self.is_async:
            result: Awaitable[Any] = self.func(*self.args, **self.kwargs)
            await result
        else:
            await run_in_threadpool(self.func, *self.args, **self.kwargs)


class BackgroundTasks(BackgroundTask):
    """An ordered list of background tasks, run one after the other."""

    __slots__ = ("tasks",)

    def __init__(self, tasks: Iterable[BackgroundTask] | None = None) -> None:
        self.tasks = list(tasks) if tasks is not None else []

    def add_task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> None:
        """Append ``func(*args, **kwargs)`` to run after the previous tasks."""
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    async def __call__(self) -> None:
        for task in self.tasks:
            await task()
