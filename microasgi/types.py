"""The ASGI vocabulary shared by every module: scopes, messages and the callables.

Scopes and messages are plain mutable mappings: servers, middleware and foreign
apps all hand them around, so this is the one permissive boundary of the package.
Code narrows them by reading ``scope["type"]`` / ``message["type"]``.
This module must not import anything from microasgi.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

__all__ = ["ASGIApp", "Message", "RawHeaders", "Receive", "Scope", "Send"]
