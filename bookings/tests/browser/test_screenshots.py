"""Screenshots for docs/screenshots/: the widget (desktop and phone), the timeline, the bookings list and the
floor plan.

Run on purpose, with a busy evening booked through bookings.services:

    RESERVEX_SCREENSHOTS=1 pytest bookings/tests/browser/test_screenshots.py -p no:logging

Without RESERVEX_SCREENSHOTS the test is skipped: it writes into the repository.
"""

from __future__ import annotations

import os
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.availability import availability_day
from bookings.demo import DEMO_STAFF_USERNAME, seed_demo
from bookings.models import Booking, Restaurant
from bookings.tests.browser.busy_evening import seed_busy_evening
from bookings.tests.browser.conftest import WAIT_SECONDS, sign_in

pytest.importorskip("selenium", reason="selenium is in requirements-dev.txt")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("RESERVEX_SCREENSHOTS"), reason="set RESERVEX_SCREENSHOTS=1 to retake"
    ),
]
OUT = Path(settings.BASE_DIR) / "docs" / "screenshots"


def next_friday(restaurant: Restaurant) -> date:
    """A Friday (a busy night) at least two days ahead."""
    today = timezone.now().astimezone(restaurant.tz).date() + timedelta(days=2)
    return today + timedelta(days=(4 - today.weekday()) % 7)


def viewport(driver: Any, width: int, height: int, *, scale: float = 1, mobile: bool = False) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
    )


def full_page(driver: Any, name: str, width: int = 1280) -> None:
    """Save the whole page at ``width`` (the window grows to the page's height)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    viewport(driver, width, height)
    driver.save_screenshot(str(OUT / name))


def test_take_the_screenshots(page: Any, live_server: Any) -> None:
    restaurant = seed_demo()
    staff = get_user_model()._default_manager.get(username=DEMO_STAFF_USERNAME)
    day = next_friday(restaurant)
    evening = seed_busy_evening(restaurant, day, staff_id=staff.pk)
    assert len(evening.bookings) >= 25, f"only {len(evening.bookings)} bookings: not a busy evening"
    OUT.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(page, WAIT_SECONDS)
    try:
        # Staff: the timeline with one party's panel open, then the floor plan at half past seven.
        viewport(page, 1280, 900)
        sign_in(page, live_server.url, staff)
        featured = next(
            b for b in evening.bookings if b.party_size >= 5 and b.status == Booking.Status.CONFIRMED
        )
        base = f"{live_server.url}/admin/bookings/restaurant/{restaurant.pk}"
        page.get(f"{base}/timeline/?date={day.isoformat()}&booking={featured.pk}")
        wait.until(ec.visibility_of_element_located((By.ID, "panel")))
        full_page(page, "timeline.png")
        # The bookings list at 1 280 px: code, guest, party, time, status and tables, no sideways scroll.
        viewport(page, 1280, 900)
        page.get(f"{live_server.url}/admin/bookings/booking/")
        wait.until(ec.presence_of_element_located((By.ID, "result_list")))
        full_page(page, "admin-bookings.png")
        viewport(page, 1280, 900)
        page.get(f"{live_server.url}/admin/bookings/booking/{featured.pk}/change/")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".rx-why")))
        full_page(page, "booking-why-these-tables.png")
        viewport(page, 1280, 900)
        page.get(f"{base}/floor/?date={day.isoformat()}&time=19:30")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".rx-floor")))
        bottom = page.execute_script(
            "return document.querySelector('.rx-floor-wrap').getBoundingClientRect().bottom + window.scrollY"
        )
        page.execute_script("document.documentElement.style.scrollbarWidth = 'none'")
        viewport(page, 1280, int(bottom) + 8)  # the plan, not the list under it
        page.save_screenshot(str(OUT / "floor-plan.png"))

        # The guest, on a desktop: a party of four asks for a full time and gets the nearest ones.
        page.delete_all_cookies()
        viewport(page, 1280, 900)
        slots = availability_day(restaurant, day, 4, now=timezone.now())
        full = next(
            (s.time for s in slots if not s.available and time(19) <= s.time <= time(20)), time(19, 30)
        )
        page.get(f"{live_server.url}/widget/{restaurant.slug}/")
        wait.until(lambda d: d.find_element(By.ID, "rxw").get_attribute("data-ready") == "true")
        page.execute_script(
            "const d = document.getElementById('rxw-date'); d.value = arguments[0];"
            "d.dispatchEvent(new Event('change', {bubbles: true}));",
            day.isoformat(),
        )
        Select(page.find_element(By.ID, "rxw-party")).select_by_value("4")
        wanted = full.strftime("%H:%M")
        wait.until(
            lambda d: d.execute_script(
                "return [...document.getElementById('rxw-wish').options].some(o => o.value === arguments[0])",
                wanted,
            )
        )
        Select(page.find_element(By.ID, "rxw-wish")).select_by_value(wanted)
        page.find_element(By.ID, "rxw-find").click()
        wait.until(ec.visibility_of_element_located((By.ID, "step-times")))
        page.save_screenshot(str(OUT / "widget-desktop.png"))

        # ... and on a phone: holding a time while filling in the details, then the confirmation.
        viewport(page, 390, 844, scale=2, mobile=True)
        page.find_element(By.CSS_SELECTOR, "#wish-result button.rxw-time").click()
        wait.until(ec.visibility_of_element_located((By.ID, "step-details")))
        page.find_element(By.ID, "rxw-name").send_keys("Grace Hopper")
        page.find_element(By.ID, "rxw-email").send_keys("grace@example.org")
        page.execute_script("window.scrollTo(0, 0)")
        page.save_screenshot(str(OUT / "widget-phone.png"))
        page.find_element(By.ID, "rxw-book").click()
        wait.until(ec.visibility_of_element_located((By.ID, "step-done")))
        page.execute_script("window.scrollTo(0, 0)")
        page.save_screenshot(str(OUT / "widget-phone-confirmed.png"))
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
