"""A to-do API: typed parameters, validated bodies and the OpenAPI document.

Run it with ``uvicorn examples.todo_api:app``, then::

    curl -i 'http://127.0.0.1:8000/api/todos?limit=5'
    curl -i -X POST http://127.0.0.1:8000/api/todos -H 'x-user: ann' \\
        -d '{"title": "Write docs", "priority": "high", "tags": ["work"]}'
    curl -i -X POST http://127.0.0.1:8000/api/todos -d '{"title": ""}'   # 422, every problem
    open http://127.0.0.1:8000/docs                                   # the API's documentation

Each ``create_app()`` has its own in-memory store, so tests start from an empty list.
"""

import dataclasses
import enum
from typing import Annotated

from microasgi import App, Field, Header, HTTPException, Query, Router


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


@dataclasses.dataclass
class NewTodo:
    """What a client sends to create a to-do."""

    title: Annotated[str, Field(min_length=1, max_length=200)]
    priority: Priority = Priority.LOW
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Todo:
    """A stored to-do."""

    id: int
    title: str
    priority: Priority
    tags: list[str]
    owner: str
    done: bool = False


def create_app() -> App:
    todos: dict[int, Todo] = {}
    api = Router()

    @api.get("/todos")
    async def list_todos(
        done: bool | None = None,
        tag: list[str] = [],  # noqa: B006 - read, never changed
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> list[Todo]:
        """List the to-dos, optionally only done or open ones, or with every given tag.

        Tags: todos
        """
        found = [
            todo
            for todo in todos.values()
            if (done is None or todo.done == done) and set(tag) <= set(todo.tags)
        ]
        return found[:limit]

    @api.post("/todos")
    async def create_todo(
        new: NewTodo, x_user: Annotated[str, Header(min_length=1)] = "anonymous"
    ) -> Todo:
        """Create a to-do owned by the X-User header's user.

        Tags: todos
        """
        todo = Todo(len(todos) + 1, new.title, new.priority, new.tags, x_user)
        todos[todo.id] = todo
        return todo

    @api.get("/todos/{todo_id}")
    async def read_todo(todo_id: int) -> Todo:
        """Read one to-do.

        Tags: todos
        """
        if todo_id not in todos:
            raise HTTPException(404, f"No to-do {todo_id}")
        return todos[todo_id]

    @api.put("/todos/{todo_id}/done")
    async def mark_done(todo_id: int) -> None:
        """Mark a to-do done (204).

        Tags: todos
        """
        await read_todo(todo_id)
        todos[todo_id].done = True

    app = App(openapi_url="/openapi.json", docs_url="/docs", title="To-do API", version="1.0")
    app.include_router(api, prefix="/api")
    return app


app = create_app()
