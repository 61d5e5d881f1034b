"""In a real browser: the two demo operators walk a capacity-enforcement rollout from shadow to 50 %.

demo-proposer plans the rollout and proposes each step on the plan page; demo-approver approves
each one there; the plan page shows what shadow mode measured before enforcement starts.
Set RESERVEX_SCREENSHOTS=1 to also write docs/screenshots/rollout-plan.png.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

import flags
from bookings.demo import seed_demo
from bookings.tests.browser.conftest import WAIT_SECONDS, sign_in
from bookings.tests.factories import RestaurantFactory
from flags.models import RolloutPlan
from flags.targeting import in_percentage
from observability.models import AllocationAttempt, ObservabilityEvent

pytest.importorskip("selenium", reason="selenium is in requirements-dev.txt")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "capacity.enforcement"
SCREENSHOT = Path(settings.BASE_DIR) / "docs" / "screenshots" / "rollout-plan.png"


def wait(driver: Any) -> WebDriverWait:
    return WebDriverWait(driver, WAIT_SECONDS)


def as_user(driver: Any, base_url: str, username: str) -> None:
    driver.delete_all_cookies()
    sign_in(driver, base_url, get_user_model()._default_manager.get(username=username))


def open_plan(driver: Any, base_url: str, plan: RolloutPlan) -> None:
    driver.get(f"{base_url}/admin/flags/rolloutplan/{plan.pk}/change/")
    wait(driver).until(ec.presence_of_element_located((By.ID, "plan-steps")))


def click(driver: Any, element_id: str) -> None:
    button = wait(driver).until(ec.element_to_be_clickable((By.ID, element_id)))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist")))


def record_bookings(restaurant_ids: list[int], *, ms: float) -> None:
    """Telemetry of two bookings per restaurant, as the booking path records it."""
    ObservabilityEvent.objects.bulk_create(
        ObservabilityEvent(type="booking.created", restaurant_id=rid, context={})
        for rid in restaurant_ids
        for _ in range(2)
    )
    AllocationAttempt.objects.bulk_create(
        AllocationAttempt(
            restaurant_id=rid, booking_id=n, mode="hold", attempt=1, outcome="assigned", total_ms=ms + n
        )
        for rid in restaurant_ids
        for n in range(2)
    )


def applied_steps(driver: Any) -> list[str]:
    cells = driver.find_elements(By.CSS_SELECTOR, "#plan-steps td.step-applied")
    return [cell.text for cell in cells]


def test_two_operators_walk_a_rollout_from_shadow_to_fifty_percent(page: Any, live_server: Any) -> None:
    seed_demo()
    restaurant_ids = [RestaurantFactory(name=f"Pub {n:02d}").pk for n in range(24)]
    base = live_server.url

    # The proposer plans the rollout in the admin's add form.
    as_user(page, base, "demo-proposer")
    page.get(f"{base}/admin/flags/rolloutplan/add/")
    Select(page.find_element(By.ID, "id_key")).select_by_value(KEY)
    page.find_element(By.ID, "id_reason").send_keys("New capacity engine: shadow first, then 10/50/100 %")
    page.find_element(By.NAME, "_save").click()
    wait(page).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist")))
    plan = RolloutPlan.objects.get(key=KEY)
    assert plan.shadow_value == "shadow" and plan.target_value == "enforce"

    for step in range(3):  # 0: shadow everywhere, 1: 10 %, 2: 50 %
        as_user(page, base, "demo-proposer")
        open_plan(page, base, plan)
        click(page, "propose-step")
        assert (
            "a different person must approve it" in page.find_element(By.CSS_SELECTOR, "ul.messagelist").text
        )
        # The proposer sees no approve button on their own step.
        assert not page.find_elements(By.ID, "approve-step")

        as_user(page, base, "demo-approver")
        open_plan(page, base, plan)
        assert f"Step {step}" in page.find_element(By.ID, "pending-step").text
        click(page, "approve-step")
        assert (
            f"Step {step} approved and applied" in page.find_element(By.CSS_SELECTOR, "ul.messagelist").text
        )

        record_bookings(restaurant_ids, ms=30.0 + 10 * step)
        if step == 0:
            # Shadow mode everywhere: what enforcement would have refused is recorded, not refused.
            ObservabilityEvent.objects.bulk_create(
                ObservabilityEvent(type="booking.capacity_shadow_refusal", restaurant_id=rid, context={})
                for rid in restaurant_ids[:6]
            )

    open_plan(page, base, plan)
    assert [text != "not yet" for text in applied_steps(page)] == [True, True, True, False]
    shadow_refusals = sum(
        int(cell.text) for cell in page.find_elements(By.CSS_SELECTOR, 'tr[data-step="0"] td.would-refuse')
    )
    assert shadow_refusals == 6
    assert page.find_element(By.ID, "plan-status").text == "Active"
    assert not page.find_elements(By.ID, "propose-step")  # the approver may not propose
    enforced = {rid for rid in restaurant_ids if flags.get(KEY, rid) == "enforce"}
    assert enforced == {rid for rid in restaurant_ids if in_percentage(KEY, rid, 50)}
    assert {flags.get(KEY, rid) for rid in set(restaurant_ids) - enforced} == {"shadow"}
    if os.environ.get("RESERVEX_SCREENSHOTS"):
        page.set_window_size(1280, 1400)
        page.save_screenshot(str(SCREENSHOT))
        page.set_window_size(1280, 900)


def test_demo_staff_sees_the_admins_403_page_naming_the_permission(page: Any, live_server: Any) -> None:
    seed_demo()
    as_user(page, live_server.url, "demo-staff")

    page.get(f"{live_server.url}/admin/flags/rolloutplan/")

    note = wait(page).until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.errornote"))).text
    assert "flags.propose_change" in note and "demo-staff" in note
    assert page.find_element(By.ID, "site-name").text == "ReserveX"  # the admin's header
    assert page.find_element(By.ID, "nav-sidebar")  # and its navigation
    if os.environ.get("RESERVEX_SCREENSHOTS"):
        page.save_screenshot(str(SCREENSHOT.with_name("flags-permission-denied.png")))
