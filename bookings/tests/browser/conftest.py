"""Headless Chromium for browser tests, driven by Selenium against pytest-django's live server.

Skipped, with the reason, only when Chromium or its driver is not installed (CI installs both:
.ci/system-packages). One browser serves the whole session: launching one costs more than a test.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Chromium's own network chatter is refused by a closed network and slows start-up: turn it off.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
]
WAIT_SECONDS = 15


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Return a headless Chromium WebDriver, or skip when Chromium is not installed."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(
            f"Chromium or chromedriver is not installed ({CHROMIUM}, {CHROMEDRIVER}); CI installs both"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in requirements-dev.txt")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="reservex-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """The session's browser, reset to one blank tab with no cookies, for one test."""
    yield browser
    for handle in browser.window_handles[1:]:
        browser.switch_to.window(handle)
        browser.close()
    browser.switch_to.window(browser.window_handles[0])
    browser.delete_all_cookies()
    browser.get("about:blank")


def sign_in(driver: Any, base_url: str, user: Any) -> None:
    """Give the browser a session of ``user`` (no login form: the admin login is not under test)."""
    client = Client()
    client.force_login(user)
    driver.get(f"{base_url}/static/bookings/admin/staff.css")  # any page of the origin, to set a cookie
    driver.add_cookie(
        {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "path": "/",
        }
    )
