"""In a real browser: a guest finds a full day in the widget, joins the waitlist, and accepts the
offer the allocator makes when a table frees up, on the page the offer's link opens (issue 17).

With RESERVEX_SCREENSHOTS=1 the widget's waitlist and the offer page are saved as
docs/screenshots/widget-waitlist.png and docs/screenshots/waitlist-offer.png.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from bookings.models import Booking, WaitlistEntry
from bookings.services.admission import booking_admit
from bookings.services.changes import booking_cancel
from bookings.services.waitlist import waitlist_offer_run
from bookings.tests.browser.conftest import WAIT_SECONDS
from bookings.tests.factories import RestaurantFactory, TableFactory, open_every_day

pytest.importorskip("selenium", reason="selenium is in requirements-dev.txt")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def screenshot(driver: Any, name: str) -> None:
    if os.environ.get("RESERVEX_SCREENSHOTS"):
        driver.save_screenshot(str(SCREENSHOTS / name))


def set_date(driver: Any, element_id: str, value: date) -> None:
    driver.execute_script(
        "const input = document.getElementById(arguments[0]); input.value = arguments[1];"
        "input.dispatchEvent(new Event('change', {bubbles: true}));",
        element_id,
        value.isoformat(),
    )


def test_a_guest_joins_the_waitlist_of_a_full_day_and_accepts_the_offer(page: Any, live_server: Any) -> None:
    # Given one table, taken all evening (17:00, 18:30 and 20:00 for 90 minutes each),
    restaurant = RestaurantFactory(slug="one-table", name="One Table", timezone="UTC")
    open_every_day(restaurant)
    TableFactory(restaurant=restaurant, label="ONLY", max_party=4)
    day = timezone.now().date() + timedelta(days=7)
    taken = {
        hour: booking_admit(
            restaurant=restaurant,
            party_size=2,
            starts_at=datetime.combine(day, time(hour, minute), tzinfo=UTC),
            guest_name="Grace Hopper",
        ).booking
        for hour, minute in ((17, 0), (18, 30), (20, 0))
    }
    wait = WebDriverWait(page, WAIT_SECONDS)

    # when a guest finds no time that evening, the widget offers the waitlist;
    page.get(f"{live_server.url}/widget/{restaurant.slug}/")
    wait.until(lambda d: d.find_element(By.ID, "rxw").get_attribute("data-ready") == "true")
    set_date(page, "rxw-date", day)
    page.find_element(By.ID, "rxw-find").click()
    form = wait.until(ec.visibility_of_element_located((By.ID, "waitlist-form")))
    form.find_element(By.ID, "rxw-wait-name").send_keys("Ada Lovelace")
    form.find_element(By.ID, "rxw-wait-email").send_keys("ada@example.org")
    screenshot(page, "widget-waitlist.png")
    page.find_element(By.ID, "rxw-wait").click()
    joined = wait.until(ec.visibility_of_element_located((By.ID, "waitlist-done")))
    assert "number 1 in line" in joined.text
    entry = WaitlistEntry.objects.get()
    assert (entry.source, entry.earliest_time, entry.latest_time) == ("widget", time(17), time(21))

    # a cancellation frees 18:30 and the allocator holds it for her;
    booking_cancel(booking=taken[18])
    assert waitlist_offer_run(restaurant_id=restaurant.pk, local_date=day) == [entry.pk]

    # she opens her place on the waitlist (the offer's link) and accepts.
    joined.find_element(By.LINK_TEXT, "Your place on the waitlist").click()
    accept = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, 'button[value="accept"]')))
    assert "18:30" in page.find_element(By.CSS_SELECTOR, ".card").text
    screenshot(page, "waitlist-offer.png")
    accept.click()
    booked = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, '.card[data-status="accepted"]')))

    booking = Booking.objects.get(guest_name="Ada Lovelace")
    assert booking.status == Booking.Status.CONFIRMED and booking.starts_at.time() == time(18, 30)
    assert booking.code in booked.text


def test_staff_quote_a_walk_in_and_seat_them_from_the_waitlist(
    page: Any, live_server: Any, alice: Any
) -> None:
    from bookings.models import Restaurant
    from bookings.tests.browser.conftest import sign_in
    from bookings.tests.factories import ServicePeriodFactory

    # Alice's restaurant in a zone where it is now about noon, serving all day: one table of 4,
    # booked from three hours from now.
    restaurant = Restaurant.objects.get(staff=alice)
    hours_ahead = 12 - timezone.now().hour  # Etc/GMT-N is N hours ahead of UTC
    restaurant.timezone = f"Etc/GMT{-hours_ahead:+d}" if hours_ahead else "UTC"
    restaurant.save(update_fields=["timezone"])
    for weekday in range(7):
        ServicePeriodFactory(
            restaurant=restaurant, weekday=weekday, opens=time(0), closes=time(23, 59), last_seating=time(23)
        )
    TableFactory(restaurant=restaurant, label="T4", max_party=4)
    now_local = timezone.now().astimezone(restaurant.tz)
    slot = now_local.replace(minute=now_local.minute // 15 * 15, second=0, microsecond=0)
    booking_admit(
        restaurant=restaurant, party_size=4, starts_at=slot + timedelta(hours=3), guest_name="Early Bird"
    )
    wait = WebDriverWait(page, WAIT_SECONDS)
    sign_in(page, live_server.url, alice)

    # Staff add a couple at the door to today's waitlist and are told how long they will wait.
    page.get(f"{live_server.url}/admin/bookings/waitlistentry/add/")
    form = wait.until(ec.presence_of_element_located((By.ID, "waitlistentry_form")))
    Select(form.find_element(By.NAME, "restaurant")).select_by_value(str(restaurant.pk))
    form.find_element(By.NAME, "date").send_keys(now_local.date().isoformat())
    form.find_element(By.NAME, "earliest_time").send_keys("00:00")
    form.find_element(By.NAME, "latest_time").send_keys("23:00")
    form.find_element(By.NAME, "party_size").send_keys("2")
    form.find_element(By.NAME, "guest_name").send_keys("Walk-in Wendy")
    form.find_element(By.NAME, "guest_phone").send_keys("+44 1223 555 0142")
    form.find_element(By.NAME, "_save").click()
    quoted = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messagelist .info")))
    assert "Quoted wait: about" in quoted.text and "a table for 2 at" in quoted.text
    screenshot(page, "waitlist-admin.png")

    # When a table is ready they seat her from the list.
    entry = WaitlistEntry.objects.get(guest_name="Walk-in Wendy")
    page.find_element(By.CSS_SELECTOR, f'input[name="_selected_action"][value="{entry.pk}"]').click()
    Select(page.find_element(By.NAME, "action")).select_by_value("seat_now")
    page.find_element(By.NAME, "index").click()
    # The list page still shows the quoted-wait message until the action's answer loads: wait for it
    # to go, then for the action's own message.
    wait.until(ec.staleness_of(quoted))
    done = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messagelist li")))

    assert "Seated Walk-in Wendy (party of 2) at T4" in done.text
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.ACCEPTED and entry.booking is not None
    assert entry.booking.status == Booking.Status.SEATED
