"""The Quick start app: text, JSON with a typed path parameter, and a POST echo.

Run it with ``bash scripts/serve.sh`` (or ``uvicorn examples.hello:app``), then::

    curl -i http://127.0.0.1:8000/
    curl -i http://127.0.0.1:8000/users/42
    curl -i -X POST http://127.0.0.1:8000/echo -d '{"hello": "world"}'
"""

from typing import Any

from microasgi import App, Request

app = App()


@app.get("/")
async def home() -> str:
    return "Hello, world!"


@app.get("/users/{user_id:int}", name="user")
async def user(user_id: int, request: Request) -> dict[str, Any]:
    return {"id": user_id, "url": str(request.url_for("user", user_id=user_id))}


@app.post("/echo")
async def echo(request: Request) -> Any:
    return await request.json()
