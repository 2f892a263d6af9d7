"""microasgi: a micro ASGI web framework."""

__version__ = "0.1.0"
