"""In a real browser: the short code in the widget's confirmation and found by the admin search, the
cancelled view, the admin list at 1 280 px, and a 200-character name on the staff pages."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.codes import format_code
from bookings.demo import DEMO_STAFF_USERNAME, seed_demo
from bookings.models import Booking, Restaurant
from bookings.services.admission import booking_admit
from bookings.slots import local_datetime
from bookings.tests.browser.conftest import WAIT_SECONDS, sign_in

pytest.importorskip("selenium", reason="selenium is in requirements-dev.txt")
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.django_db(transaction=True)

# A name a guest could type (with spaces) and one word that cannot wrap: 200 characters each.
LONG_NAME = ("Maximiliana Wilhelmina Bartholomew-Featherstonehaugh " * 4)[:200].strip()
LONG_WORD = "W" * 200


def tomorrow(restaurant: Restaurant) -> date:
    return timezone.now().astimezone(restaurant.tz).date() + timedelta(days=1)


def wait(driver: Any) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_SECONDS)


def demo() -> tuple[Restaurant, Any]:
    restaurant = seed_demo()
    return restaurant, get_user_model()._default_manager.get(username=DEMO_STAFF_USERNAME)


def book(restaurant: Restaurant, name: str, party: int = 4, at: time = time(19)) -> Booking:
    starts_at = local_datetime(restaurant, tomorrow(restaurant), at)
    return booking_admit(
        restaurant=restaurant, party_size=party, starts_at=starts_at, guest_name=name
    ).booking


def no_sideways_scroll(driver: Any) -> bool:
    return bool(
        driver.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def is_cut_with_ellipsis(driver: Any, element: Any) -> bool:
    """Whether the element clips its text with an ellipsis because the text is wider than it."""
    return bool(
        driver.execute_script(
            "const e = arguments[0]; const s = getComputedStyle(e);"
            "return s.textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth;",
            element,
        )
    )


def test_the_widget_shows_the_code_and_the_admin_search_finds_it(page: Any, live_server: Any) -> None:
    restaurant, staff = demo()
    day = tomorrow(restaurant)

    # A guest books a table for two at 19:00 in the widget.
    page.get(f"{live_server.url}/widget/{restaurant.slug}/")
    wait(page).until(lambda d: d.find_element(By.ID, "rxw").get_attribute("data-ready") == "true")
    page.execute_script(
        "const d = document.getElementById('rxw-date'); d.value = arguments[0];"
        "d.dispatchEvent(new Event('change', {bubbles: true}));",
        day.isoformat(),
    )
    Select(page.find_element(By.ID, "rxw-party")).select_by_value("2")
    page.find_element(By.ID, "rxw-find").click()
    wait(page).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, '#times-list button[data-time="19:00"]'))
    ).click()
    wait(page).until(ec.visibility_of_element_located((By.ID, "step-details")))
    page.find_element(By.ID, "rxw-name").send_keys("Grace Hopper")
    page.find_element(By.ID, "rxw-book").click()
    wait(page).until(ec.visibility_of_element_located((By.ID, "step-done")))

    # The confirmation shows the short code, large, grouped as it is read aloud; the reference
    # is still there, and is still what the booking's URL uses.
    reference = page.find_element(By.ID, "done-ref").text
    booking = Booking.objects.get(reference=reference)
    shown = page.find_element(By.ID, "done-code")
    assert shown.text == format_code(booking.code)
    assert float(shown.value_of_css_property("font-size").removesuffix("px")) >= 28
    assert "code" in page.find_element(By.CSS_SELECTOR, "#step-done .rxw-code-box").text.lower()

    # Staff type the code as the guest reads it over the phone: lower case, with a space.
    typed = f"{booking.code[:3].lower()} {booking.code[3:].lower()}"
    page.delete_all_cookies()
    sign_in(page, live_server.url, staff)
    book(restaurant, "Alan Turing", party=2)  # another booking the search must not return
    page.get(f"{live_server.url}/admin/bookings/booking/")
    search = wait(page).until(ec.visibility_of_element_located((By.ID, "searchbar")))
    search.send_keys(typed, Keys.ENTER)
    wait(page).until(lambda d: "q=" in d.current_url)
    rows = page.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    assert "Grace Hopper" in rows[0].text and format_code(booking.code) in rows[0].text


def test_a_cancelled_booking_says_cancelled_in_the_widget(page: Any, live_server: Any) -> None:
    restaurant, _ = demo()
    booking = book(restaurant, "Ada Lovelace")
    page.get(f"{live_server.url}/widget/{restaurant.slug}/?booking={booking.reference}")
    wait(page).until(ec.visibility_of_element_located((By.ID, "step-done")))
    assert page.find_element(By.ID, "done-code").text == format_code(booking.code)

    page.find_element(By.CSS_SELECTOR, '[data-action="ask-cancel"]').click()
    wait(page).until(ec.element_to_be_clickable((By.CSS_SELECTOR, '[data-action="cancel"]'))).click()
    wait(page).until(lambda d: d.find_element(By.ID, "done-status").text == "Cancelled")

    assert page.find_element(By.ID, "done-tables").text == "Cancelled"
    assert page.find_element(By.ID, "done-title").text == "Your booking is cancelled"
    assert "To be assigned" not in page.find_element(By.ID, "step-done").text
    assert not page.find_element(By.ID, "done-cancel").is_displayed()
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED


def test_the_admin_list_at_1280_px_shows_who_when_and_where_without_scrolling(
    page: Any, live_server: Any
) -> None:
    restaurant, staff = demo()
    book(restaurant, LONG_NAME, party=6, at=time(19))
    book(restaurant, LONG_WORD, party=2, at=time(19, 30))
    book(restaurant, "Grace Hopper", party=4, at=time(20))
    page.set_window_size(1280, 900)
    sign_in(page, live_server.url, staff)
    page.get(f"{live_server.url}/admin/bookings/booking/")
    table = wait(page).until(ec.visibility_of_element_located((By.ID, "result_list")))

    headers = [th.text.strip().lower() for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    for wanted in ("code", "guest", "party", "time", "status", "tables"):
        assert any(h.startswith(wanted) for h in headers), (wanted, headers)
    results = page.find_element(By.CSS_SELECTOR, "#changelist .results")
    assert page.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", results)
    assert no_sideways_scroll(page)
    # Every column is on screen, the last one (source) included.
    right = page.execute_script("return document.documentElement.clientWidth")
    last = table.find_elements(By.CSS_SELECTOR, "thead th")[-1]
    assert last.rect["x"] + last.rect["width"] <= right

    # The long names are cut, with the whole name on hover.
    for name in (LONG_NAME, LONG_WORD):
        cell = page.find_element(By.CSS_SELECTOR, f'#result_list .rx-guest[title="{name}"]')
        assert is_cut_with_ellipsis(page, cell)


def test_a_200_character_name_is_cut_on_the_floor_plan_and_the_timeline(page: Any, live_server: Any) -> None:
    restaurant, staff = demo()
    day = tomorrow(restaurant)
    long_one = book(restaurant, LONG_NAME, party=6)
    word = book(restaurant, LONG_WORD, party=2)
    page.set_window_size(1280, 900)
    sign_in(page, live_server.url, staff)
    base = f"{live_server.url}/admin/bookings/restaurant/{restaurant.pk}"

    # The timeline, with the long word's panel open: bars and panel cut, the page stays put.
    page.get(f"{base}/timeline/?date={day.isoformat()}&booking={word.pk}")
    wait(page).until(ec.visibility_of_element_located((By.ID, "panel")))
    for booking in (long_one, word):
        bar = page.find_element(By.CSS_SELECTOR, f'.rx-bar[data-booking="{booking.pk}"]')
        assert booking.guest_name in bar.get_attribute("title")
        assert is_cut_with_ellipsis(page, bar)
    name = page.find_element(By.CSS_SELECTOR, "#panel h2 .rx-name")
    assert name.get_attribute("title") == LONG_WORD and is_cut_with_ellipsis(page, name)
    assert no_sideways_scroll(page)

    # The floor plan at 19:00 and the list under it.
    page.get(f"{base}/floor/?date={day.isoformat()}&time=19:00")
    wait(page).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".rx-floor")))
    for booking in (long_one, word):
        who = page.find_element(By.CSS_SELECTOR, f'.rx-list .rx-who[title="{booking.guest_name}"]')
        assert is_cut_with_ellipsis(page, who)
        table = page.find_element(
            By.XPATH, f'//a[contains(@class, "rx-ftable")][contains(@title, "{booking.guest_name[:60]}")]'
        )
        assert booking.guest_name in table.get_attribute("title")
    assert no_sideways_scroll(page)
    columns = page.find_elements(By.CSS_SELECTOR, ".rx-list thead th")
    right = page.execute_script("return document.documentElement.clientWidth")
    assert all(th.rect["x"] + th.rect["width"] <= right for th in columns)
