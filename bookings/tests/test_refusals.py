"""A party no table set seats is told so, even when the host pauses the request mid-answer.

The answer "never fits" comes from the planner on an empty floor, within the planner's budget
(``allocator.enumeration_timeout_ms``). That budget is CPU time of the request's thread: a pause of
the host while the planner runs (another process on a 2-core machine) once turned a party of 7 at
the small restaurant from PARTY_TOO_LARGE into "full" in CI.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import allocator.planner
from bookings import refusals
from bookings.config import config_for
from bookings.models import Restaurant
from bookings.snapshots import planner_settings
from bookings.tests.api.test_small_things import day_of
from bookings.tests.helpers import evening

pytestmark = pytest.mark.django_db

PAUSE_SECONDS = 0.08  # longer than the planner's default budget of 50 ms


@pytest.fixture
def host_pauses_the_planner(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Sleep inside the planner, after its clock started: wall time passes, this thread's CPU does not."""
    prepare = allocator.planner._prepare

    def paused(*args: Any, **kwargs: Any) -> Any:
        time.sleep(PAUSE_SECONDS)
        return prepare(*args, **kwargs)

    monkeypatch.setattr(allocator.planner, "_prepare", paused)
    refusals._FITS.clear()
    yield
    refusals._FITS.clear()


@pytest.mark.usefixtures("host_pauses_the_planner")
def test_a_pause_of_the_host_does_not_make_a_too_large_party_full(small_restaurant: Restaurant) -> None:
    body = day_of(small_restaurant, evening().date(), party=7).json()
    assert body["reason"] == "party_too_large"


@pytest.mark.usefixtures("host_pauses_the_planner")
def test_control_a_wall_clock_budget_turns_the_pause_into_full(
    small_restaurant: Restaurant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget counted in wall time, as before: the same pause spends it, and the answer is wrong."""
    fits_on_empty_floor = refusals._fits_on_empty_floor

    def wall_clock(*args: Any, **kwargs: Any) -> bool:
        return fits_on_empty_floor(*args, **kwargs, timer=time.perf_counter)

    monkeypatch.setattr(refusals, "_fits_on_empty_floor", wall_clock)
    body = day_of(small_restaurant, evening().date(), party=7).json()
    assert body["reason"] == "full"


def test_an_answer_out_of_budget_is_not_kept(small_restaurant: Restaurant) -> None:
    """A planner that ran out of budget proved nothing: let the guest try, and ask again next time."""
    config = config_for(small_restaurant.pk)
    settings = planner_settings(small_restaurant)
    refusals._FITS.clear()

    def jumping_clock() -> Callable[[], float]:
        ticks = iter(range(0, 10_000))
        return lambda: float(next(ticks))  # every reading one second later: always out of budget

    assert refusals._fits_on_empty_floor(config, 7, settings, timer=jumping_clock()) is True
    assert refusals._FITS == {}
    assert refusals._fits_on_empty_floor(config, 7, settings) is False
    assert list(refusals._FITS.values()) == [False]
    refusals._FITS.clear()
