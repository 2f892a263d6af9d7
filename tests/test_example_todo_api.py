"""The to-do example answers as its docstring promises, and its OpenAPI document validates."""

from openapi_spec_validator import validate

from examples.todo_api import create_app
from microasgi.testclient import TestClient


def test_create_list_read_and_mark_done() -> None:
    client = TestClient(create_app())
    created = client.post(
        "/api/todos",
        json={"title": "Write docs", "priority": "high", "tags": ["work"]},
        headers={"x-user": "ann"},
    )
    assert created.json() == {
        "id": 1,
        "title": "Write docs",
        "priority": "high",
        "tags": ["work"],
        "owner": "ann",
        "done": False,
    }
    client.post("/api/todos", json={"title": "Rest"})
    assert [todo["id"] for todo in client.get("/api/todos").json()] == [1, 2]
    assert [todo["id"] for todo in client.get("/api/todos?tag=work").json()] == [1]
    assert [todo["id"] for todo in client.get("/api/todos?limit=1").json()] == [1]
    assert client.put("/api/todos/2/done").status_code == 204
    assert [todo["id"] for todo in client.get("/api/todos?done=true").json()] == [2]
    assert client.get("/api/todos/2").json()["owner"] == "anonymous"
    assert client.get("/api/todos/9").status_code == 404


def test_bad_requests_are_422s_listing_every_problem() -> None:
    client = TestClient(create_app())
    refused = client.post("/api/todos", json={"title": "", "priority": "urgent"})
    assert refused.status_code == 422
    assert [(p["loc"], p["type"]) for p in refused.json()["detail"]] == [
        (["body", "title"], "too_short"),
        (["body", "priority"], "enum"),
    ]
    assert client.get("/api/todos?limit=0&done=perhaps").json()["detail"] == [
        {
            "loc": ["query", "done"],
            "msg": "Input should be a valid boolean, unable to interpret input",
            "type": "bool_parsing",
        },
        {
            "loc": ["query", "limit"],
            "msg": "Input should be greater than or equal to 1",
            "type": "greater_than_equal",
        },
    ]
    assert client.get("/api/todos/one").json()["detail"][0]["loc"] == ["path", "todo_id"]


def test_the_openapi_document_and_the_docs_page() -> None:
    client = TestClient(create_app())
    document = client.get("/openapi.json").json()
    validate(document)
    assert sorted(document["paths"]) == [
        "/api/todos",
        "/api/todos/{todo_id}",
        "/api/todos/{todo_id}/done",
    ]
    create = document["paths"]["/api/todos"]["post"]
    assert create["summary"] == "Create a to-do owned by the X-User header's user."
    assert create["tags"] == ["todos"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewTodo"
    }
    assert create["parameters"] == [
        {
            "name": "x-user",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "default": "anonymous"},
        }
    ]
    assert "422" in create["responses"]
    assert document["paths"]["/api/todos/{todo_id}/done"]["put"]["responses"]["204"]
    new_todo = document["components"]["schemas"]["NewTodo"]
    assert new_todo["required"] == ["title"]
    assert new_todo["properties"]["priority"] == {"enum": ["low", "high"], "default": "low"}
    page = client.get("/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text
    assert "http://" not in page.text  # no CDN: nothing loads from elsewhere
    assert "https://" not in page.text
