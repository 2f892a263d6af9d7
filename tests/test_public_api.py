"""The public API, importable from ``microasgi`` itself: ``__all__`` is pinned here."""

import microasgi
from microasgi import middleware

CONTRACT = {
    "Body",
    "Cookie",
    "Field",
    "File",
    "Form",
    "Header",
    "Path",
    "Query",
    "RequestValidationError",
    "Address",
    "App",
    "BackgroundTask",
    "BackgroundTasks",
    "Channels",
    "ClientDisconnect",
    "Convertor",
    "EventSourceResponse",
    "FileResponse",
    "FormData",
    "HTMLResponse",
    "HTTPConnection",
    "HTTPException",
    "Headers",
    "Host",
    "JSONResponse",
    "Middleware",
    "Mount",
    "MutableHeaders",
    "NoMatchFound",
    "PlainTextResponse",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "Response",
    "Route",
    "Router",
    "ServerSentEvent",
    "State",
    "StaticFiles",
    "StreamingResponse",
    "URL",
    "URLPath",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketEndpoint",
    "WebSocketException",
    "WebSocketRoute",
    "WebSocketState",
    "__version__",
    "register_convertor",
    "status",
}


def test_all_is_the_contract_without_duplicates() -> None:
    assert set(microasgi.__all__) == CONTRACT
    assert len(microasgi.__all__) == len(CONTRACT)


def test_every_exported_name_exists() -> None:
    for name in microasgi.__all__:
        assert getattr(microasgi, name) is not None, name


def test_middleware_package_exports_the_library() -> None:
    for name in middleware.__all__:
        assert hasattr(middleware, name), name
    assert {"Middleware", "CORSMiddleware", "GZipMiddleware", "SessionMiddleware"} <= set(
        middleware.__all__
    )
