"""A static site: the folder examples/static served at /, with index.html and 404.html.

Run it with ``uvicorn examples.static_site:app``, then::

    curl -i http://127.0.0.1:8000/              # index.html
    curl -i http://127.0.0.1:8000/about         # 307 to /about/
    curl -i http://127.0.0.1:8000/style.css
    curl -i http://127.0.0.1:8000/missing       # 404.html, status 404
"""

from pathlib import Path

from microasgi import App, StaticFiles

app = App()
app.mount("/", StaticFiles(directory=Path(__file__).parent / "static", html=True), name="site")
