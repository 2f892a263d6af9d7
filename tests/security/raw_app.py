"""The app the raw-socket tests serve under real servers (uvicorn h11/httptools, hypercorn).

Its static folder comes from ``MICROASGI_SECURITY_STATIC`` (a pytest tmp_path), so the
server process creates no files of its own.
"""

import os

from microasgi import App, Mount, Request, Route, StaticFiles
from microasgi.middleware import Middleware
from microasgi.middleware.proxyheaders import ProxyHeadersMiddleware
from microasgi.middleware.trustedhost import TrustedHostMiddleware


async def url(request: Request) -> str:
    return str(request.url)


async def echo(request: Request) -> bytes:
    return await request.body()


async def item(n: int) -> str:
    return str(n)


async def folder(p: str) -> str:
    return p


async def client(request: Request) -> str:
    address = request.client
    return f"{address.host}:{address.port}" if address else "-"


async def form(request: Request) -> dict[str, str]:
    async with request.form() as data:
        return {name: str(value) for name, value in data.multi_items()}


async def cookies(request: Request) -> dict[str, str]:
    return request.cookies


app = App(
    routes=[
        Route("/url", url),
        Route("/echo", echo, methods=["POST"]),
        Route("/form", form, methods=["POST"]),
        Route("/items/{n:int}", item),
        Route("/client", client),
        Route("/cookies", cookies),
        Mount(
            "/static",
            StaticFiles(
                directory=os.environ.get("MICROASGI_SECURITY_STATIC", "."), check_dir=False
            ),
        ),
        Route("/{p:path}/edit", folder),
    ],
    middleware=[
        Middleware(ProxyHeadersMiddleware, trusted_hosts=["127.0.0.1"]),
        Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]),
    ],
)
