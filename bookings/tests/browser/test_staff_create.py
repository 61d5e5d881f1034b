"""In a real browser: staff take a phone booking by clicking a free time on the timeline, and seat a
walk-in now; each comes back on the timeline, open and highlighted.

With RESERVEX_SCREENSHOTS=1 the phone booking's form is saved as docs/screenshots/new-booking.png.
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

from bookings.demo import DEMO_STAFF_USERNAME, seed_demo, staff_group
from bookings.models import Booking, Restaurant
from bookings.selectors import tables_by_booking
from bookings.tests.browser.conftest import WAIT_SECONDS, sign_in
from bookings.tests.factories import (
    CapacityRuleFactory,
    RestaurantFactory,
    ServicePeriodFactory,
    TableFactory,
    UserFactory,
)

pytest.importorskip("selenium", reason="selenium is in requirements-dev.txt")
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.django_db(transaction=True)
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def wait(driver: Any) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_SECONDS)


def tables_of(booking: Booking) -> list[str]:
    return tables_by_booking([booking.pk]).get(booking.pk, [])


def minutes(text: str) -> int:
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


def save_whole_page(driver: Any, path: Path) -> None:
    """Save the page at 1 280 px wide and its full height, then give the window its size back."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def click_free_time(driver: Any, table: str, at: time) -> None:
    """Click the row of ``table`` a few minutes after ``at``, where the timeline draws that time."""
    timeline = driver.find_element(By.CSS_SELECTOR, ".rx-tl[data-new-url]")
    start, end = minutes(timeline.get_attribute("data-from")), minutes(timeline.get_attribute("data-to"))
    track = driver.find_element(By.CSS_SELECTOR, f'.rx-tl-row[data-table="{table}"] .rx-tl-track')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", track)
    width = track.size["width"]
    x = ((at.hour * 60 + at.minute + 5) - start) / (end - start) * width
    # Selenium measures the offset from the element's centre.
    ActionChains(driver).move_to_element_with_offset(track, int(x - width / 2), 0).click().perform()


def test_staff_take_a_phone_booking_by_clicking_a_free_time_on_the_timeline(
    page: Any, live_server: Any
) -> None:
    restaurant = seed_demo()
    staff = get_user_model()._default_manager.get(username=DEMO_STAFF_USERNAME)
    day = timezone.now().astimezone(restaurant.tz).date() + timedelta(days=2)
    sign_in(page, live_server.url, staff)
    page.get(f"{live_server.url}/admin/bookings/restaurant/{restaurant.pk}/timeline/?date={day.isoformat()}")
    wait(page).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".rx-tl[data-new-url]")))

    # A free stretch of D5's row at 19:00 opens the form for D5 at 19:00 on that day.
    click_free_time(page, "D5", time(19))
    form = wait(page).until(ec.visibility_of_element_located((By.ID, "rx-new")))
    assert form.find_element(By.CSS_SELECTOR, 'input[name="tables"][value="D5"]').is_selected()
    assert Select(form.find_element(By.NAME, "time")).first_selected_option.text == "19:00"
    assert form.find_element(By.NAME, "date").get_attribute("value") == day.isoformat()
    assert form.find_element(By.CSS_SELECTOR, 'input[name="kind"][value="phone"]').is_selected()

    # The guest rings: a party of three.
    party = form.find_element(By.NAME, "party_size")
    party.clear()
    party.send_keys("3")
    form.find_element(By.NAME, "guest_name").send_keys("Grace Hopper")
    form.find_element(By.NAME, "guest_phone").send_keys("+44 1223 555 0199")
    form.find_element(By.NAME, "notes").send_keys("Birthday")
    if os.environ.get("RESERVEX_SCREENSHOTS"):
        save_whole_page(page, SCREENSHOTS / "new-booking.png")
    form.find_element(By.NAME, "book").click()

    done = wait(page).until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".messagelist .success")))
    assert done.text.startswith("Booked Grace Hopper (party of 3) at D5 at 19:00")
    booking = Booking.objects.get(guest_name="Grace Hopper")
    assert (booking.source, booking.status, booking.party_size) == ("staff", "confirmed", 3)
    assert (booking.guest_phone, booking.notes, tables_of(booking)) == (
        "+44 1223 555 0199",
        "Birthday",
        ["D5"],
    )
    bar = page.find_element(By.CSS_SELECTOR, '.rx-tl-row[data-table="D5"] .rx-bar.is-selected')
    assert "3 · Grace Hopper" in bar.text
    assert "Grace Hopper" in page.find_element(By.ID, "panel").text


@pytest.fixture
def open_all_day() -> tuple[Restaurant, Any]:
    """A restaurant open around the clock (a walk-in can come whenever the suite runs) and its staff."""
    restaurant = RestaurantFactory(slug="all-day-cafe", name="All Day Café")
    for weekday in range(7):
        period = ServicePeriodFactory(
            restaurant=restaurant,
            weekday=weekday,
            opens=time(0),
            closes=time(23, 59),
            last_seating=time(23, 59),
        )
        CapacityRuleFactory(period=period)
    TableFactory(restaurant=restaurant, label="C2", max_party=2)
    TableFactory(restaurant=restaurant, label="C4", max_party=4)
    user = UserFactory(username="cafe-staff")
    user.groups.add(staff_group())
    restaurant.staff.add(user)
    return restaurant, user


def test_staff_seat_a_walk_in_now(page: Any, live_server: Any, open_all_day: tuple[Restaurant, Any]) -> None:
    restaurant, staff = open_all_day
    sign_in(page, live_server.url, staff)
    page.get(f"{live_server.url}/admin/bookings/restaurant/{restaurant.pk}/timeline/")

    wait(page).until(ec.element_to_be_clickable((By.ID, "rx-walk-in"))).click()
    form = wait(page).until(ec.visibility_of_element_located((By.ID, "rx-new")))
    assert form.find_element(By.CSS_SELECTOR, 'input[name="kind"][value="walk_in"]').is_selected()
    assert not form.find_element(By.NAME, "time").is_displayed()  # a walk-in starts now
    party = form.find_element(By.NAME, "party_size")
    party.clear()
    party.send_keys("3")
    form.find_element(By.NAME, "book").click()

    done = wait(page).until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".messagelist .success")))
    assert done.text.startswith("Seated Walk-in (party of 3) at C4 now, until about ")
    booking = Booking.objects.get()
    assert (booking.status, booking.source, tables_of(booking)) == ("seated", "staff", ["C4"])
    assert booking.starts_at <= timezone.now() < booking.ends_at
    bar = page.find_element(By.CSS_SELECTOR, '.rx-tl-row[data-table="C4"] .rx-bar.rx-s-seated.is-selected')
    assert "3 · Walk-in" in bar.text


def test_a_refused_phone_booking_stays_on_the_form_and_says_why(page: Any, live_server: Any) -> None:
    restaurant = seed_demo()
    staff = get_user_model()._default_manager.get(username=DEMO_STAFF_USERNAME)
    day: date = timezone.now().astimezone(restaurant.tz).date() + timedelta(days=2)
    sign_in(page, live_server.url, staff)
    page.get(
        f"{live_server.url}/admin/bookings/restaurant/{restaurant.pk}/bookings/new/?date={day}&time=19:00"
    )

    form = wait(page).until(ec.visibility_of_element_located((By.ID, "rx-new")))
    party = form.find_element(By.NAME, "party_size")
    party.clear()
    party.send_keys("4")
    form.find_element(By.NAME, "guest_name").send_keys("Alan Turing")
    form.find_element(By.CSS_SELECTOR, 'input[name="tables"][value="D1"]').click()  # a table for two
    form.find_element(By.NAME, "book").click()

    refusal = wait(page).until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".messagelist .error")))
    assert refusal.text == "Those tables seat 2, not 4."
    assert page.find_element(By.NAME, "guest_name").get_attribute("value") == "Alan Turing"
    assert not Booking.objects.filter(guest_name="Alan Turing").exists()
