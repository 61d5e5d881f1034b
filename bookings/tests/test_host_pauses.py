"""A pause of the host while the planner runs does not change what a guest is told.

The planner's search has a budget (``allocator.enumeration_timeout_ms``, 50 ms), counted in the
request thread's CPU time. Counted in wall time, as it once was, a pause of the host longer than
the budget (another process on a 2-core machine) ended a cheap search early: a party of 7 at the
small restaurant was told the day was ``full`` instead of ``party_too_large`` (once, in CI), and a
party that needs two joined tables would be refused a free pair.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

import allocator.planner
from allocator.planner import PlanRequest
from bookings import refusals
from bookings.config import config_for
from bookings.models import Restaurant
from bookings.snapshots import planner_settings
from bookings.tests.api.conftest import booking_body, post_booking
from bookings.tests.helpers import day_of, evening

pytestmark = pytest.mark.django_db

PAUSE_SECONDS = 0.08  # longer than the planner's default budget


def _sleep() -> None:
    time.sleep(PAUSE_SECONDS)  # wall time passes; this thread's CPU time does not


def _burn_cpu() -> None:
    ends = time.thread_time() + PAUSE_SECONDS  # like the garbage collector: this thread's CPU
    while time.thread_time() < ends:
        pass


@pytest.fixture
def pause_the_planner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Pause inside the planner, after its clock started: ``pause(how, times=..., empty_floor_only=...)``.

    ``empty_floor_only`` pauses only the question whether a party could ever be seated, not the
    searches of the day's slots that an availability answer runs first.
    """

    def pause(how: Callable[[], None], *, times: int = 1_000, empty_floor_only: bool = False) -> None:
        prepare = allocator.planner._prepare
        left = [times]

        def paused(*args: Any, **kwargs: Any) -> Any:
            request: PlanRequest = args[3]
            if left[0] > 0 and (not empty_floor_only or request.starts_at == refusals._ANY_WINDOW[0]):
                left[0] -= 1
                how()
            return prepare(*args, **kwargs)

        monkeypatch.setattr(allocator.planner, "_prepare", paused)

    refusals._FITS.clear()
    yield pause
    refusals._FITS.clear()


@pytest.fixture
def budget_in_wall_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The controls: the planner's budget counted in wall time, as before."""
    monkeypatch.setitem(allocator.planner.plan_tables.__kwdefaults__, "timer", time.perf_counter)


def reason_for_seven(restaurant: Restaurant) -> str:
    return str(day_of(restaurant, evening().date(), party=7).json()["reason"])


def test_a_too_large_party_is_told_so_while_the_host_pauses(
    small_restaurant: Restaurant, pause_the_planner: Callable[..., None]
) -> None:
    pause_the_planner(_sleep)
    assert reason_for_seven(small_restaurant) == "party_too_large"


@pytest.mark.usefixtures("budget_in_wall_time")
def test_control_with_a_wall_clock_budget_the_pause_says_full(
    small_restaurant: Restaurant, pause_the_planner: Callable[..., None]
) -> None:
    pause_the_planner(_sleep)
    assert reason_for_seven(small_restaurant) == "full"


def test_a_party_for_joined_tables_is_booked_while_the_host_pauses(
    two_tops: Restaurant, pause_the_planner: Callable[..., None]
) -> None:
    pause_the_planner(_sleep)
    response = post_booking(APIClient(), booking_body(two_tops.slug, party=4))
    assert response.status_code == 201, response.json()
    assert sorted(response.json()["tables"]) == ["A", "B"]


@pytest.mark.usefixtures("budget_in_wall_time")
def test_control_with_a_wall_clock_budget_the_pause_refuses_it(
    two_tops: Restaurant, pause_the_planner: Callable[..., None]
) -> None:
    pause_the_planner(_sleep)
    response = post_booking(APIClient(), booking_body(two_tops.slug, party=4))
    assert response.status_code == 409, response.json()


def test_one_pause_in_this_thread_is_asked_again(
    small_restaurant: Restaurant, pause_the_planner: Callable[..., None]
) -> None:
    pause_the_planner(_burn_cpu, times=1, empty_floor_only=True)
    assert reason_for_seven(small_restaurant) == "party_too_large"


def test_an_answer_out_of_budget_is_not_kept(small_restaurant: Restaurant) -> None:
    """A planner always out of budget proved nothing: let the guest try, and ask again next time."""
    config = config_for(small_restaurant.pk)
    settings = planner_settings(small_restaurant)
    spent = dataclasses.replace(settings, enumeration_timeout_ms=-1.0)  # the deadline is already past
    refusals._FITS.clear()
    assert refusals._fits_on_empty_floor(config, 7, spent) is True
    assert refusals._FITS == {}
    assert refusals._fits_on_empty_floor(config, 7, settings) is False
    assert list(refusals._FITS.values()) == [False]
    refusals._FITS.clear()
