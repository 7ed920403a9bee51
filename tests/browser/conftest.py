"""A real browser for the admin: Debian's Chromium driven by Playwright, headless, with a fresh profile.

Playwright's own browser downloads are never used: the tests launch ``/usr/bin/chromium``
(``BROWSER_EXECUTABLE`` overrides it). Outside CI a missing browser skips these tests; with
``REQUIRE_SERVICES=1`` it fails them, like every other missing service.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.conftest import service_missing

CHROMIUM = os.environ.get("BROWSER_EXECUTABLE", "/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
# Each page's wall time from navigation to load is written beside the screenshots (timings.json), never
# asserted: on a shared 2-core box a page's wall time says how busy the box is. The 300 ms server-time
# target on the whole shared import is measured by bench/admin_pages.py.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]


@dataclass
class BrowserSession:
    """A page plus what the tests assert on at the end: console errors and slow pages."""

    page: object
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def open(self, path: str, name: str) -> None:
        """Navigate, time it, and save a screenshot named ``name``."""
        started = time.perf_counter()
        response = self.page.goto(self.base_url + path, wait_until="load")
        self.settle(name, started, response)

    def settle(self, name: str, started: float, response=None) -> None:
        elapsed = time.perf_counter() - started
        self.timings[name] = elapsed
        if response is not None:
            assert response.status < 400, f"{name}: HTTP {response.status} for {response.url}"
        self.shot(name)

    def log_in(self, username: str, password: str, name: str) -> None:
        """Sign in on the admin's login page (the screenshot of the page is ``name``)."""
        self.open(reverse("admin:login"), name)
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("input[type=submit]")
        self.page.wait_for_load_state("load")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        service_missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - pinned in requirements.txt
        service_missing("playwright is not installed")
    # Playwright's sync API keeps an event loop on this thread, which makes Django refuse ORM calls
    # here; they are plain synchronous calls, so allow them while the browser is up, and only then.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        # launch() gives the browser a fresh temporary profile of its own and deletes it on close.
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_session(chromium, live_server):
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(30_000)
    session = BrowserSession(page=page, base_url=live_server.url)

    def on_console(message) -> None:
        if message.type == "error":
            session.console_errors.append(f"{message.text} ({message.location.get('url')}, on {page.url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: session.console_errors.append(str(error)))
    try:
        yield session
    finally:
        context.close()
        if session.timings:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            record = ARTIFACTS / "timings.json"
            seen = json.loads(record.read_text()) if record.exists() else {}
            seen.update({name: round(seconds, 3) for name, seconds in session.timings.items()})
            record.write_text(json.dumps(seen, indent=1, sort_keys=True))
