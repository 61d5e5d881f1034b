"""A party no table set seats is told so, even when the host pauses the request mid-answer.

The answer "never fits" comes from the planner on an empty floor, within the planner's budget
(``allocator.enumeration_timeout_ms``, 50 ms). A pause of the host while the planner ran once
turned a party of 7 at the small restaurant from ``party_too_large`` into ``full`` in CI.
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

PAUSE_SECONDS = 0.08  # longer than the planner's default budget


def _sleep() -> None:
    time.sleep(PAUSE_SECONDS)  # wall time passes; this thread's CPU time does not


def _burn_cpu() -> None:
    ends = time.thread_time() + PAUSE_SECONDS  # like the garbage collector: this thread's CPU
    while time.thread_time() < ends:
        pass


@pytest.fixture
def pause_the_planner(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Pause inside the planner, after its clock started: ``pause(how, times=...)``."""

    def pause(how: Callable[[], None], *, times: int = 1_000) -> None:
        prepare = allocator.planner._prepare
        left = [times]

        def paused(*args: Any, **kwargs: Any) -> Any:
            if left[0] > 0:
                left[0] -= 1
                how()
            return prepare(*args, **kwargs)

        monkeypatch.setattr(allocator.planner, "_prepare", paused)

    refusals._FITS.clear()
    yield pause
    refusals._FITS.clear()


def reason_for_seven(restaurant: Restaurant) -> str:
    return str(day_of(restaurant, evening().date(), party=7).json()["reason"])


def test_the_host_pausing_the_planner_does_not_make_a_too_large_party_full(
    small_restaurant: Restaurant, pause_the_planner: Callable[..., None]
) -> None:
    pause_the_planner(_sleep)
    assert reason_for_seven(small_restaurant) == "party_too_large"


def test_control_a_wall_clock_budget_turns_the_pause_into_full(
    small_restaurant: Restaurant, pause_the_planner: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget counted in wall time, as before: the same pause spends it, and the answer is wrong."""
    fits_on_empty_floor = refusals._fits_on_empty_floor

    def wall_clock(*args: Any, **kwargs: Any) -> bool:
        return fits_on_empty_floor(*args, **kwargs, timer=time.perf_counter)

    monkeypatch.setattr(refusals, "_fits_on_empty_floor", wall_clock)
    pause_the_planner(_sleep)
    assert reason_for_seven(small_restaurant) == "full"


def test_one_pause_in_this_thread_is_asked_again(
    small_restaurant: Restaurant, pause_the_planner: Callable[..., None]
) -> None:
    pause_the_planner(_burn_cpu, times=1)
    assert reason_for_seven(small_restaurant) == "party_too_large"


def test_an_answer_out_of_budget_is_not_kept(small_restaurant: Restaurant) -> None:
    """A planner always out of budget proved nothing: let the guest try, and ask again next time."""
    config = config_for(small_restaurant.pk)
    settings = planner_settings(small_restaurant)
    ticks = iter(range(10_000))
    refusals._FITS.clear()
    # Every reading a second later than the one before: every search runs out of budget.
    assert refusals._fits_on_empty_floor(config, 7, settings, timer=lambda: float(next(ticks))) is True
    assert refusals._FITS == {}
    assert refusals._fits_on_empty_floor(config, 7, settings) is False
    assert list(refusals._FITS.values()) == [False]
    refusals._FITS.clear()
