"""In a real browser: a guest books through the widget, staff see and move it on the timeline, and
the guest's confirmation shows the new tables; a conflicting move shows why it was refused."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.demo import DEMO_STAFF_USERNAME, seed_demo
from bookings.models import Booking, Restaurant
from bookings.selectors import tables_by_booking
from bookings.services.admission import booking_admit
from bookings.slots import local_datetime
from bookings.tests.browser.conftest import WAIT_SECONDS, sign_in

pytest.importorskip("selenium", reason="selenium is in requirements-dev.txt")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.django_db(transaction=True)


def tomorrow(restaurant: Restaurant) -> date:
    return timezone.now().astimezone(restaurant.tz).date() + timedelta(days=1)


def wait(driver: Any) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_SECONDS)


def tables_of(booking: Booking) -> list[str]:
    return tables_by_booking([booking.pk]).get(booking.pk, [])


def set_date(driver: Any, element_id: str, value: date) -> None:
    """Set a date input the way a date picker does (typing into one depends on the browser's locale)."""
    driver.execute_script(
        "const input = document.getElementById(arguments[0]); input.value = arguments[1];"
        "input.dispatchEvent(new Event('change', {bubbles: true}));",
        element_id,
        value.isoformat(),
    )


def focused_id(driver: Any) -> str:
    return str(driver.switch_to.active_element.get_attribute("id"))


def open_timeline(driver: Any, base_url: str, restaurant: Restaurant, day: date) -> None:
    driver.get(f"{base_url}/admin/bookings/restaurant/{restaurant.pk}/timeline/?date={day.isoformat()}")
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".rx-tl")))


def press(driver: Any, element: Any) -> None:
    """Click like a user who first scrolls the element into sight (the panel scrolls on its own)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def move_in_panel(driver: Any, untick: list[str], tick: list[str]) -> None:
    """In the open booking panel, change the ticked tables and press "Move booking"."""
    panel = wait(driver).until(ec.visibility_of_element_located((By.ID, "panel")))
    for label in untick + tick:
        press(driver, panel.find_element(By.CSS_SELECTOR, f'input[name="tables"][value="{label}"]'))
    press(driver, panel.find_element(By.CSS_SELECTOR, 'button[name="move"]'))


def test_a_guest_books_in_the_widget_and_sees_the_staff_move(page: Any, live_server: Any) -> None:
    restaurant = seed_demo()
    staff = get_user_model()._default_manager.get(username=DEMO_STAFF_USERNAME)
    day = tomorrow(restaurant)

    # The guest chooses a day and party size, picks 19:00, fills in the form and books.
    page.get(f"{live_server.url}/widget/{restaurant.slug}/")
    wait(page).until(lambda d: d.find_element(By.ID, "rxw").get_attribute("data-ready") == "true")
    set_date(page, "rxw-date", day)
    Select(page.find_element(By.ID, "rxw-party")).select_by_value("4")
    page.find_element(By.ID, "rxw-find").click()
    slot = wait(page).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, '#times-list button[data-time="19:00"]'))
    )
    assert focused_id(page) == "times-title"  # focus follows the step, for keyboard and screen readers
    slot.click()
    wait(page).until(ec.visibility_of_element_located((By.ID, "step-details")))
    assert focused_id(page) == "details-title"
    assert re.fullmatch(r"[0-5]:[0-5]\d", page.find_element(By.ID, "rxw-countdown-time").text)
    page.find_element(By.ID, "rxw-name").send_keys("Grace Hopper")
    page.find_element(By.ID, "rxw-email").send_keys("grace@example.org")
    page.find_element(By.ID, "rxw-phone").send_keys("+44 1223 555 0199")
    page.find_element(By.ID, "rxw-book").click()
    wait(page).until(ec.visibility_of_element_located((By.ID, "step-done")))
    reference = page.find_element(By.ID, "done-ref").text
    booking = Booking.objects.get(reference=reference)
    assert (booking.status, booking.guest_name, booking.party_size) == ("confirmed", "Grace Hopper", 4)
    booked_tables = tables_of(booking)
    assert page.find_element(By.ID, "done-tables").text == " + ".join(booked_tables)
    assert page.find_element(By.ID, "done-time").text == "19:00"
    widget_tab = page.current_window_handle

    # Staff find the booking on the day's timeline, on its table.
    page.switch_to.new_window("tab")
    sign_in(page, live_server.url, staff)
    open_timeline(page, live_server.url, restaurant, day)
    row = page.find_element(By.CSS_SELECTOR, f'.rx-tl-row[data-table="{booked_tables[0]}"]')
    bar = row.find_element(By.PARTIAL_LINK_TEXT, "4 · Grace Hopper")

    # ... and move it to another table from the booking's panel.
    target = next(label for label in ("D6", "D7", "G3") if label not in booked_tables)
    bar.click()
    move_in_panel(page, untick=booked_tables, tick=[target])
    done = wait(page).until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".messagelist .success")))
    assert f"Moved Grace Hopper (party of 4) to {target} at 19:00" in done.text
    assert "Grace Hopper" in page.find_element(By.CSS_SELECTOR, f'.rx-tl-row[data-table="{target}"]').text
    assert tables_of(booking) == [target]

    # The guest's confirmation, refreshed, shows the new table and says so.
    page.switch_to.window(widget_tab)
    page.find_element(By.CSS_SELECTOR, '[data-action="refresh"]').click()
    wait(page).until(lambda d: d.find_element(By.ID, "done-tables").text == target)
    assert "updated" in page.find_element(By.ID, "rxw-status").text


def test_a_conflicting_move_on_the_timeline_says_why(page: Any, live_server: Any) -> None:
    restaurant = seed_demo()
    staff = get_user_model()._default_manager.get(username=DEMO_STAFF_USERNAME)
    day = tomorrow(restaurant)
    seven = local_datetime(restaurant, day, time(19))
    first = booking_admit(
        restaurant=restaurant, party_size=4, starts_at=seven, guest_name="Ada Lovelace"
    ).booking
    second = booking_admit(
        restaurant=restaurant, party_size=4, starts_at=seven, guest_name="Alan Turing"
    ).booking
    taken, own = tables_of(first), tables_of(second)

    sign_in(page, live_server.url, staff)
    open_timeline(page, live_server.url, restaurant, day)
    page.find_element(By.PARTIAL_LINK_TEXT, "4 · Alan Turing").click()
    move_in_panel(page, untick=own, tick=taken)

    refusal = wait(page).until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".messagelist .error")))
    assert refusal.text == "Those tables are taken at that time."
    assert tables_of(second) == own
    assert "Alan Turing" in page.find_element(By.ID, "panel").text  # still open, ready for another try
