"""In a real browser: a guest with a past no-show books in the widget and is told the restaurant will
confirm (the table held); staff confirm from the booking panel and the guest's page says booked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.demo import DEMO_STAFF_USERNAME, seed_demo
from bookings.models import Booking
from bookings.tests.browser.conftest import sign_in
from bookings.tests.browser.test_widget_and_timeline import open_timeline, press, set_date, tomorrow, wait
from bookings.tests.factories import BookingFactory

pytest.importorskip("selenium", reason="selenium is in requirements-dev.txt")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_guest_with_a_no_show_waits_for_staff_who_confirm_in_the_panel(page: Any, live_server: Any) -> None:
    restaurant = seed_demo()
    restaurant.confirm_after_no_shows = 1
    restaurant.save()
    staff = get_user_model()._default_manager.get(username=DEMO_STAFF_USERNAME)
    last_month = timezone.now() - timedelta(days=30)
    BookingFactory(
        restaurant=restaurant,
        starts_at=last_month,
        ends_at=last_month + timedelta(hours=2),
        status=Booking.Status.NO_SHOW,
        guest_email="GRACE@example.org",
    )
    day = tomorrow(restaurant)

    # The guest books 19:00 in the widget and is told the table is held for the restaurant to confirm.
    page.get(f"{live_server.url}/widget/{restaurant.slug}/")
    wait(page).until(lambda d: d.find_element(By.ID, "rxw").get_attribute("data-ready") == "true")
    set_date(page, "rxw-date", day)
    Select(page.find_element(By.ID, "rxw-party")).select_by_value("2")
    page.find_element(By.ID, "rxw-find").click()
    wait(page).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, '#times-list button[data-time="19:00"]'))
    ).click()
    wait(page).until(ec.visibility_of_element_located((By.ID, "step-details")))
    page.find_element(By.ID, "rxw-name").send_keys("Grace Hopper")
    page.find_element(By.ID, "rxw-email").send_keys("grace@example.org")
    page.find_element(By.ID, "rxw-book").click()
    wait(page).until(ec.visibility_of_element_located((By.ID, "step-done")))
    booking = Booking.objects.get(reference=page.find_element(By.ID, "done-ref").text)
    assert (booking.status, booking.awaiting_staff) == ("pending", True)
    assert page.find_element(By.ID, "done-title").text == "Your table is held — the restaurant will confirm"
    assert page.find_element(By.ID, "done-status").text == "Awaiting the restaurant's confirmation"
    assert page.find_element(By.ID, "done-tables").text  # the held table is shown
    widget_tab = page.current_window_handle

    # Staff see the bar marked on the timeline, read why in the panel and confirm.
    page.switch_to.new_window("tab")
    sign_in(page, live_server.url, staff)
    open_timeline(page, live_server.url, restaurant, day)
    press(page, page.find_element(By.PARTIAL_LINK_TEXT, "2 · Grace Hopper · confirm?"))
    panel = wait(page).until(ec.visibility_of_element_located((By.ID, "panel")))
    assert "awaiting staff confirmation (1 no-show in 12 months)" in panel.text
    press(page, panel.find_element(By.CSS_SELECTOR, 'button[value="staff_confirm"]'))
    done = wait(page).until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".messagelist .success")))
    assert "Grace Hopper (party of 2) confirmed." in done.text
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED

    # The guest's page, refreshed, says the table is booked.
    page.switch_to.window(widget_tab)
    page.find_element(By.CSS_SELECTOR, '[data-action="refresh"]').click()
    wait(page).until(lambda d: d.find_element(By.ID, "done-title").text == "Your table is booked")
