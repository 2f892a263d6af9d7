"""File uploads: a form page and a handler that stores each file in a folder.

The folder is ``$UPLOAD_DIR``, or a fresh temporary folder made at the first upload. Run it with
``uvicorn examples.upload:app``, open http://127.0.0.1:8000/ and pick files, or::

    curl -F "files=@README.md" -F "note=hello" http://127.0.0.1:8000/upload
"""

import os
import re
import secrets
import tempfile
from pathlib import Path

import anyio

from microasgi import App, HTMLResponse, Request, UploadFile

# Made on first use, not at import: importing the module leaves nothing behind.
UPLOAD_DIR: Path | None = Path(os.environ["UPLOAD_DIR"]) if os.environ.get("UPLOAD_DIR") else None
CHUNK_SIZE = 64 * 1024

app = App()

PAGE = """<!doctype html>
<title>Upload</title>
<form action="/upload" method="post" enctype="multipart/form-data">
  <input type="file" name="files" multiple>
  <input type="text" name="note" placeholder="a note">
  <button>Upload</button>
</form>
"""


def safe_name(filename: str | None) -> str:
    """A file name that cannot leave UPLOAD_DIR nor overwrite another upload."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "upload"
    return f"{secrets.token_hex(4)}-{base}"


def upload_dir() -> Path:
    global UPLOAD_DIR
    if UPLOAD_DIR is None:
        UPLOAD_DIR = Path(tempfile.mkdtemp(prefix="microasgi-uploads-"))
    return UPLOAD_DIR


async def store(upload: UploadFile) -> Path:
    """Copy an upload to the upload folder chunk by chunk; file I/O runs in worker threads."""
    target = upload_dir() / safe_name(upload.filename)
    async with await anyio.open_file(target, "wb") as out:
        while chunk := await upload.read(CHUNK_SIZE):
            await out.write(chunk)
    return target


@app.get("/")
async def page() -> HTMLResponse:
    return HTMLResponse(PAGE)


# Uploads may be larger than the app's default 10 MiB body limit.
@app.post("/upload", max_body_size=100 * 1024 * 1024)
async def upload(request: Request) -> dict[str, object]:
    # The router closes the form's temporary files once the response is sent.
    form = await request.form(max_files=10)
    stored = []
    for upload in form.getlist("files"):
        if isinstance(upload, UploadFile) and upload.filename:
            target = await store(upload)
            stored.append({"name": upload.filename, "stored_as": target.name, "size": upload.size})
    return {"note": form.get("note", ""), "files": stored}
