"""The playground page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, installed by scripts/check.sh) driven by selenium, against the example app
under uvicorn on 127.0.0.1. Each test saves a screenshot of its view (test-artifacts/, or
docs/img for the docs page: see SCREENSHOTS). Every wait is bounded (WAIT seconds)."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.e2e.uvicorn_server import uvicorn_serving
from tests.redis_server import under_ci

ROOT = Path(__file__).resolve().parents[2]
# Artefacts of every run, out of git; MICROASGI_SCREENSHOTS=docs/img refreshes the pictures
# that docs/playground.md shows (commit them after looking at them).
SCREENSHOTS = ROOT / os.environ.get("MICROASGI_SCREENSHOTS", "test-artifacts/screenshots")
WAIT = 10.0
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,860",
)


def chromium_paths() -> tuple[str, str]:
    """Chromium and its driver; missing: a skip on a developer's machine, a failure in CI."""
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if browser is not None and driver is not None:
        return browser, driver
    message = "chromium or chromedriver is missing (Debian packages chromium, chromium-driver)"
    if under_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("playground") / "uvicorn.log"
    with uvicorn_serving("examples.playground:app", log) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="playground-chromium-")
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: WebDriver, css: str, text: str = "") -> WebElement:
    """The first element matching ``css`` (holding ``text``), within WAIT seconds."""

    def found(driver: WebDriver) -> WebElement | bool:
        for element in driver.find_elements(By.CSS_SELECTOR, css):
            if text in element.text:
                return element
        return False

    element = WebDriverWait(driver, WAIT).until(found)
    if not isinstance(element, WebElement):  # pragma: no cover - until() returns what found did
        raise TypeError(f"expected an element, got {element!r}")
    return element


def open_page(driver: WebDriver, base_url: str) -> None:
    driver.get(base_url + "/__asgi__")
    wait_for(driver, "#status", "live")


def screenshot(driver: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"playground-{name}.png"))


def test_a_request_appears_live_and_steps_with_the_keyboard(
    browser: WebDriver, base_url: str
) -> None:
    open_page(browser, base_url)
    assert httpx.get(base_url + "/stream", timeout=WAIT).text.startswith("chunk 1")
    item = wait_for(browser, '#traces li[data-path="/stream"]', "200")
    assert item.text.startswith("http GET /stream 200")
    assert "__asgi__" not in browser.find_element(By.ID, "traces").text  # never records itself
    item.click()
    scope = wait_for(browser, "#scope", "'path': '/stream'")
    assert "'method': 'GET'" in scope.text
    screenshot(browser, "live")

    body = browser.find_element(By.TAG_NAME, "body")
    count = len(browser.find_elements(By.CSS_SELECTOR, "#timeline li"))
    assert count >= 4  # the request, the start, the chunks and the final body
    assert browser.find_element(By.ID, "position").text == "the scope"
    assert "'http.response.start'" in browser.find_element(By.ID, "allows").text
    body.send_keys(Keys.ARROW_RIGHT)
    assert browser.find_element(By.ID, "position").text == f"event 1 of {count}"
    steps = 1  # the app may read the request first, or start its response at once
    while browser.find_element(By.ID, "event-type").text != "http.response.start":
        assert steps < count, "no http.response.start in the timeline"
        body.send_keys(Keys.ARROW_RIGHT)
        steps += 1
    assert browser.find_element(By.ID, "position").text == f"event {steps} of {count}"
    assert browser.find_element(By.ID, "direction").text == "send"
    assert browser.find_element(By.ID, "event-type").text == "http.response.start"
    assert "keys: status, headers" in browser.find_element(By.ID, "keys").text
    allows = browser.find_element(By.ID, "allows").text
    assert allows.startswith("Next: The response started: the app sends 'http.response.body'")
    current = browser.find_element(By.CSS_SELECTOR, "#timeline li.current")
    assert current.get_attribute("data-index") == str(steps - 1)
    assert "http.response.start" in current.text
    screenshot(browser, "step")
    for _ in range(count):  # past the end: it stays on the last event
        body.send_keys(Keys.ARROW_RIGHT)
    assert browser.find_element(By.ID, "position").text == f"event {count} of {count}"
    assert "The response is complete" in browser.find_element(By.ID, "allows").text
    body.send_keys(Keys.ARROW_LEFT)
    assert browser.find_element(By.ID, "position").text == f"event {count - 1} of {count}"


def test_the_websocket_example_runs_in_process(browser: WebDriver, base_url: str) -> None:
    open_page(browser, base_url)
    browser.find_element(By.ID, "tab-try").click()
    Select(browser.find_element(By.ID, "example")).select_by_value("websocket")
    assert browser.find_element(By.ID, "path").get_attribute("value") == "/ws"
    browser.find_element(By.ID, "run-try").click()
    wait_for(browser, "#timeline li", "websocket.accept")
    timeline = browser.find_element(By.ID, "timeline").text
    assert "'echo: hello'" in timeline
    assert "'echo: world'" in timeline
    assert "websocket.disconnect" in timeline
    browser.find_element(By.ID, "next").click()
    assert browser.find_element(By.ID, "event-type").text == "websocket.connect"
    browser.find_element(By.ID, "next").click()
    assert browser.find_element(By.ID, "event-type").text == "websocket.accept"
    assert "The websocket is open" in browser.find_element(By.ID, "allows").text
    screenshot(browser, "try")


def test_the_race_draws_both_totals(browser: WebDriver, base_url: str) -> None:
    open_page(browser, base_url)
    browser.find_element(By.ID, "tab-race").click()
    for field, value in (("race-count", "5"), ("race-delay", "0.3")):
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    browser.find_element(By.ID, "run-race").click()
    asgi = wait_for(browser, "#run-1 .total")
    wsgi = browser.find_element(By.CSS_SELECTOR, "#run-0 .total")
    wsgi_total = float(wsgi.get_attribute("data-total") or "nan")
    asgi_total = float(asgi.get_attribute("data-total") or "nan")
    assert 1.45 <= wsgi_total < 3.0  # five requests, one after the other
    assert 0.29 <= asgi_total < 0.9  # five requests, waiting together
    assert wsgi.text == f"{wsgi_total:.2f} s"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#run-0 .lane")) == 5
    screenshot(browser, "race")
