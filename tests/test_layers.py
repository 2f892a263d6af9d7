"""Imports inside microasgi only go down the layer table (docs/architecture.md, "Layers")."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "microasgi"

# A module may import modules of its own layer and of the layers below.
LAYERS: dict[str, int] = {
    "types": 0,
    "exceptions": 0,
    "params": 0,  # where a typed parameter comes from, and its constraints
    "config": 0,  # settings: imports nothing of microasgi
    "status": 0,
    "datastructures": 1,  # FormData, UploadFile, State; re-exports every value type
    "urls": 1,  # URL, URLPath, Address
    "headers": 1,  # Headers, MutableHeaders, the header checks
    "queryparams": 1,  # QueryParams and the multi-mapping base FormData shares
    "_concurrency": 1,
    "concurrency": 1,  # the public face of _concurrency
    "encoders": 1,  # JSON encoding: formats for real data types, orjson when installed
    "background": 1,
    "protocol": 1,  # the ASGI protocol rules as data, and the guard that checks them
    "scalars": 1,  # converters of single values and the constraint checks
    "validation": 1,  # typed values from request text and JSON (typed parameters)
    "requests": 2,
    "responses": 2,
    "fileresponses": 2,  # FileResponse, beside the Response family it extends
    "websockets": 2,  # WebSocketEndpoint, serve_websocket; re-exports the two below
    "websocketconnection": 2,  # WebSocket: one connection, checked against the protocol
    "websocketprotocol": 2,  # states, transition tables, close codes, error texts
    "formparsers": 2,
    "sse": 2,
    "staticfiles": 2,
    "convertors": 2,
    "results": 2,  # a return annotation's effect on the response; to_response
    "sources": 2,  # reading typed endpoint parameters from a request
    "templating": 2,  # Jinja2 templates: a Response that renders a template
    "resolution": 2,  # the response handed back unsent to function middleware
    "responsestate": 1,  # whether the response started: the one record the guard reads
    "answering": 3,  # how errors become responses: handler lookup, default answers, the guard
    "channels": 2,  # the package and every channels.* submodule: pub/sub, in memory or Redis
    "endpoints": 3,
    "authentication": 3,  # users, credentials, @requires (wraps endpoints for the binder)
    "routing": 3,  # the Router and RouteRegistry; re-exports every route type
    "mount": 3,  # Mount (builds a Router only when given routes=: a call-time import)
    "_routeranswers": 3,  # the router's own answers: 404, 405, slash redirect, ws denial
    "routes": 3,  # the route types the router dispatches to
    "_routetable": 3,  # routing's pure path compiler and route table
    "lifespan": 3,
    "middleware": 3,  # the package and every middleware.* submodule
    "applications": 4,
    "playground": 4,  # the package: the ASGI playground page, its recorder, tries and race
    "openapi": 4,  # the OpenAPI document built from an app's routes, and its pages
}
TOP = max(LAYERS.values()) + 1
# Modules beside the table: the highest layer each may import. Table modules may not import them.
CEILINGS: dict[str, int] = {"testclient": 1, "__init__": TOP, "__main__": TOP, "trace": TOP}


def module_name(path: Path) -> str:
    """``middleware/cors.py`` -> ``middleware.cors``, ``middleware/__init__.py`` ->
    ``middleware``, the package's own ``__init__.py`` -> ``__init__``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The layer ``module`` sits on (its top-level name decides), None when not in a table."""
    top = module.split(".")[0]
    if top in LAYERS:
        return LAYERS[top]
    return TOP if top in CEILINGS else None


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Attribute):
        return test.attr == "TYPE_CHECKING"
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The microasgi modules a ``from ... import ...`` names (``__init__`` for the package)."""
    if node.level:
        package = [] if module == "__init__" else module.split(".")
        if not is_package:
            package.pop()
        base = package[: len(package) - node.level + 1]
    elif node.module is not None and node.module.split(".")[0] == "microasgi":
        base = []
    else:
        return []
    base += [part for part in (node.module or "").split(".") if part and part != "microasgi"]
    targets = []
    for alias in node.names:
        candidate = PACKAGE.joinpath(*base, alias.name)
        is_module = candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists()
        targets.append(".".join([*base, alias.name] if is_module else base) or "__init__")
    return targets


def microasgi_imports(source: str, module: str, is_package: bool) -> list[tuple[str, int, bool]]:
    """Every microasgi module ``source`` imports: (module, line, inside ``if TYPE_CHECKING``)."""
    tree = ast.parse(source)
    guarded = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [
                alias.name.removeprefix("microasgi").lstrip(".") or "__init__"
                for alias in node.names
                if alias.name.split(".")[0] == "microasgi"
            ]
        elif isinstance(node, ast.ImportFrom):
            targets = _resolve(node, module, is_package)
        else:
            continue
        found += [(target, node.lineno, id(node) in guarded) for target in dict.fromkeys(targets)]
    return sorted(found, key=lambda item: item[1])


def check_module(module: str, source: str, is_package: bool = False) -> list[str]:
    """What is wrong with the imports of ``module`` (whose code is ``source``)."""
    top = module.split(".")[0]
    own = layer_of(module) if top in LAYERS else CEILINGS.get(top)
    if own is None:
        return [f"{module} is not in the layer table of tests/test_layers.py: add it to LAYERS"]
    problems = []
    for target, line, guarded in microasgi_imports(source, module, is_package):
        if top in CEILINGS and target.split(".")[0] == top and not guarded:
            continue  # a package beside the table (testclient) imports its own modules
        target_layer = layer_of(target)
        if guarded:
            problems.append(f"{module}:{line} imports {target} under TYPE_CHECKING: fix the layers")
        elif target_layer is None:
            problems.append(f"{module}:{line} imports {target}, which is not in the layer table")
        elif target_layer > own:
            problems.append(
                f"{module}:{line} (layer {own}) imports {target} (layer {target_layer})"
            )
    return problems


def test_imports_go_down_the_layers() -> None:
    problems = [
        problem
        for path in sorted(PACKAGE.rglob("*.py"))
        for problem in check_module(
            module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py"
        )
    ]
    assert problems == []


def test_import_forms_are_resolved() -> None:
    source = (
        "import microasgi.types\n"
        "from microasgi.exceptions import HTTPException\n"
        "from .datastructures import URL\n"
        "from . import types\n"
        "from microasgi import App\n"
        "import json, microasgi\n"
        "def later():\n"
        "    from microasgi.routing import Router\n"
    )
    assert microasgi_imports(source, "requests", is_package=False) == [
        ("types", 1, False),
        ("exceptions", 2, False),
        ("datastructures", 3, False),
        ("types", 4, False),
        ("__init__", 5, False),
        ("__init__", 6, False),
        ("routing", 8, False),
    ]


def test_relative_imports_in_the_middleware_package() -> None:
    assert microasgi_imports("from ..responses import R\n", "middleware.cors", False) == [
        ("responses", 1, False)
    ]
    assert microasgi_imports("from .cors import C\n", "middleware", True) == [
        ("middleware.cors", 1, False)
    ]
    assert microasgi_imports("from . import types\n", "__init__", True) == [("types", 1, False)]


@pytest.mark.parametrize("condition", ["TYPE_CHECKING", "typing.TYPE_CHECKING"])
def test_type_checking_import_is_flagged(condition: str) -> None:
    source = f"if {condition}:\n    from microasgi.types import Scope\n"
    assert check_module("responses", source) == [
        "responses:2 imports types under TYPE_CHECKING: fix the layers"
    ]


def test_upward_import_is_flagged() -> None:
    assert check_module("requests", "from microasgi.routing import Router\n") == [
        "requests:1 (layer 2) imports routing (layer 3)"
    ]


def test_same_and_lower_layers_are_allowed() -> None:
    source = "from .responses import Response\nfrom microasgi.types import Scope\n"
    assert check_module("requests", source) == []


def test_package_init_is_above_every_layer() -> None:
    assert check_module("routing", "from microasgi import App\n") == [
        "routing:1 (layer 3) imports __init__ (layer 5)"
    ]
    assert check_module("__init__", "from .applications import App\n", is_package=True) == []


def test_testclient_imports_only_the_bottom_two_layers() -> None:
    assert check_module("testclient", "from microasgi.datastructures import URL\n") == []
    assert check_module("testclient", "from microasgi.requests import Request\n") == [
        "testclient:1 (layer 1) imports requests (layer 2)"
    ]


def test_module_outside_the_table_is_reported() -> None:
    assert check_module("helpers", "") == [
        "helpers is not in the layer table of tests/test_layers.py: add it to LAYERS"
    ]
    assert check_module("routing", "from microasgi.helpers import x\n") == [
        "routing:1 imports helpers, which is not in the layer table"
    ]


def test_module_names() -> None:
    assert module_name(PACKAGE / "middleware" / "cors.py") == "middleware.cors"
    assert module_name(PACKAGE / "middleware" / "__init__.py") == "middleware"
    assert module_name(PACKAGE / "__init__.py") == "__init__"
