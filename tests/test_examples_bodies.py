"""The bodies examples answer as their docstrings promise: uploads, static site, SSE, long poll."""

import importlib
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from examples import longpoll, sse_clock, static_site, upload
from microasgi.testclient import TestClient

# upload


@pytest.fixture
def upload_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(upload, "UPLOAD_DIR", tmp_path)
    return tmp_path


def test_upload_makes_its_folder_at_the_first_upload_not_at_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UPLOAD_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    importlib.reload(upload)
    try:
        assert list(tmp_path.iterdir()) == []
        files = {"files": ("a.txt", b"hello", "text/plain")}
        assert TestClient(upload.app).post("/upload", files=files).status_code == 200
        (made,) = tmp_path.iterdir()
        assert made.name.startswith("microasgi-uploads-")
        assert [path.read_bytes() for path in made.iterdir()] == [b"hello"]
    finally:
        monkeypatch.undo()
        importlib.reload(upload)


def test_upload_page_has_a_multipart_form() -> None:
    response = TestClient(upload.app).get("/")
    assert 'enctype="multipart/form-data"' in response.text


def test_upload_stores_files_and_reports_them(upload_dir: Path) -> None:
    files = [("files", ("a.txt", b"alpha")), ("files", ("b.bin", b"\x00" * 2_000_000))]
    response = TestClient(upload.app).post("/upload", data={"note": "hi"}, files=files)
    result = response.json()
    assert result["note"] == "hi"
    assert [(item["name"], item["size"]) for item in result["files"]] == [
        ("a.txt", 5),
        ("b.bin", 2_000_000),
    ]
    stored = {item["name"]: upload_dir / item["stored_as"] for item in result["files"]}
    assert stored["a.txt"].read_bytes() == b"alpha"
    assert stored["b.bin"].stat().st_size == 2_000_000


def test_upload_cannot_write_outside_its_folder(upload_dir: Path) -> None:
    files = {"files": ("../../evil.sh", b"x")}
    result = TestClient(upload.app).post("/upload", files=files).json()
    stored_as = result["files"][0]["stored_as"]
    assert stored_as.endswith("-evil.sh")
    assert "/" not in stored_as
    assert (upload_dir / stored_as).exists()


def test_upload_safe_name_keeps_only_a_plain_base_name() -> None:
    assert upload.safe_name("C:\\Users\\me\\..\\report.pdf").endswith("-report.pdf")
    assert upload.safe_name("..").endswith("-upload")
    assert upload.safe_name(None).endswith("-upload")


def test_upload_refuses_too_many_files(upload_dir: Path) -> None:
    files = [("files", (f"{index}.txt", b"x")) for index in range(11)]
    response = TestClient(upload.app).post("/upload", files=files)
    assert (response.status_code, "max_files=10" in response.text) == (400, True)
    assert list(upload_dir.iterdir()) == []


# static site


def test_static_site_serves_its_pages() -> None:
    client = TestClient(static_site.app, follow_redirects=False)
    assert "<h1>Welcome</h1>" in client.get("/").text
    assert client.get("/style.css").headers["content-type"] == "text/css; charset=utf-8"
    assert client.get("/about").headers["location"] == "/about/"
    assert "<h1>About</h1>" in client.get("/about/").text
    missing = client.get("/missing")
    assert (missing.status_code, "Page not found" in missing.text) == (404, True)


# SSE clock


def test_sse_clock_page_opens_an_event_source() -> None:
    assert 'new EventSource("/clock")' in TestClient(sse_clock.app).get("/").text


def test_sse_clock_streams_ticks_and_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse_clock, "TICK_SECONDS", 0.01)
    client = TestClient(sse_clock.app)
    with client.stream("GET", "/clock", headers={"last-event-id": "41"}) as response:
        lines = response.iter_lines()
        event = [next(lines) for _ in range(4)]
    assert event[0] == "event: tick"
    assert event[1] == "id: 42"
    assert event[2].startswith("data: ")
    assert event[2].endswith(" UTC")


# long poll


def test_longpoll_returns_waiting_messages_at_once() -> None:
    with TestClient(longpoll.app) as client:
        client.post("/send", json={"text": "one"})
        client.post("/send", json={"text": "two"})
        assert client.get("/poll?since=1").json() == {"messages": ["two"], "next": 2}


def test_longpoll_times_out_with_no_messages() -> None:
    with TestClient(longpoll.app) as client:
        started = time.monotonic()
        assert client.get("/poll?wait=0.1").json() == {"messages": [], "next": 0}
        assert time.monotonic() - started < 3


def test_longpoll_wakes_up_when_a_message_is_posted() -> None:
    with TestClient(longpoll.app) as client:
        answers: list[httpx.Response] = []
        poller = threading.Thread(target=lambda: answers.append(client.get("/poll?wait=5")))
        started = time.monotonic()
        poller.start()
        time.sleep(0.1)
        client.post("/send", json={"text": "wake up"})
        poller.join(timeout=5)
        assert answers[0].json() == {"messages": ["wake up"], "next": 1}
        assert time.monotonic() - started < 4


def test_longpoll_rejects_bad_input() -> None:
    with TestClient(longpoll.app) as client:
        assert client.get("/poll?wait=soon").status_code == 400
        assert client.get("/poll?since=-1").status_code == 400
        assert client.post("/send", json=["not", "an", "object"]).status_code == 400
