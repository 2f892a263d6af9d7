"""microasgi: a micro ASGI web framework. The public API, re-exported; no logic here."""

from microasgi import status
from microasgi.applications import App
from microasgi.background import BackgroundTask, BackgroundTasks
from microasgi.channels import Channels  # imports redis-py only for a Redis URL
from microasgi.convertors import Convertor, register_convertor
from microasgi.datastructures import (
    URL,
    Address,
    FormData,
    Headers,
    MutableHeaders,
    QueryParams,
    State,
    UploadFile,
    URLPath,
)
from microasgi.exceptions import (
    ClientDisconnect,
    HTTPException,
    NoMatchFound,
    RequestValidationError,
    WebSocketDisconnect,
    WebSocketException,
)
from microasgi.fileresponses import FileResponse
from microasgi.middleware import Middleware
from microasgi.params import Body, Cookie, Field, File, Form, Header, Path, Query
from microasgi.requests import HTTPConnection, Request
from microasgi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from microasgi.routing import Host, Mount, Route, Router, WebSocketRoute
from microasgi.sse import EventSourceResponse, ServerSentEvent
from microasgi.staticfiles import StaticFiles
from microasgi.websockets import WebSocket, WebSocketEndpoint, WebSocketState

__version__ = "0.2.0"

__all__ = [
    "URL",
    "Address",
    "App",
    "BackgroundTask",
    "BackgroundTasks",
    "Body",
    "Channels",
    "ClientDisconnect",
    "Convertor",
    "Cookie",
    "EventSourceResponse",
    "Field",
    "File",
    "FileResponse",
    "Form",
    "FormData",
    "HTMLResponse",
    "HTTPConnection",
    "HTTPException",
    "Header",
    "Headers",
    "Host",
    "JSONResponse",
    "Middleware",
    "Mount",
    "MutableHeaders",
    "NoMatchFound",
    "Path",
    "PlainTextResponse",
    "Query",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "RequestValidationError",
    "Response",
    "Route",
    "Router",
    "ServerSentEvent",
    "State",
    "StaticFiles",
    "StreamingResponse",
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
]
