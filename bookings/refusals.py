"""Why a guest cannot book, said once: a party too large for any table set, a day with no bookable time.

Reads only (the configuration in force and, for large parties, the planner on an empty floor);
the views turn these into the PARTY_TOO_LARGE refusal and the availability answer's ``reason``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from allocator.planner import (
    FAILURE_NO_FIT,
    FAILURE_TIMEOUT,
    FloorSnapshot,
    PlannerSettings,
    PlanRequest,
    plan_tables,
)
from bookings.availability import SlotAvailability
from bookings.config import RestaurantConfig
from bookings.errors import PartyTooLarge
from bookings.snapshots import planner_settings_from

# Day-level reasons of the availability answer (null when some time can seat the party).
DAY_PAST = "past"
DAY_BEYOND_HORIZON = "beyond_horizon"
DAY_CLOSED = "closed"
DAY_PARTY_TOO_LARGE = "party_too_large"
DAY_FULL = "full"
DAY_REASONS = (DAY_PAST, DAY_BEYOND_HORIZON, DAY_CLOSED, DAY_PARTY_TOO_LARGE, DAY_FULL)

# Any window does: on an empty floor only the tables and the joins decide.
_ANY_WINDOW = (datetime(2000, 1, 1, 12, tzinfo=UTC), datetime(2000, 1, 1, 14, tzinfo=UTC))


def party_ever_fits(
    config: RestaurantConfig, party_size: int, flag_values: Callable[[], Mapping[str, Any]]
) -> bool:
    """Return whether some table set of the restaurant could seat the party on an empty floor.

    A party one active table seats answers at once, without the flags (``flag_values`` is called
    only for larger parties) or the planner; a larger one asks the planner once per configuration
    version and settings.
    """
    tables = config.layout.tables
    if any(t.active and t.min_party <= party_size <= t.max_party for t in tables):
        return True
    settings = planner_settings_from(flag_values())
    return _fits_on_empty_floor(config, party_size, settings)


# (restaurant, configuration version, party size, settings) -> fits. The layout is part of the
# configuration version, so the key names it; old versions fall out when the dict is cleared.
_FITS: dict[tuple[int, int, int, PlannerSettings], bool] = {}
_FITS_MAX = 1024


def _fits_on_empty_floor(config: RestaurantConfig, party_size: int, settings: PlannerSettings) -> bool:
    """Ask the planner whether any table set seats the party; keep only a definite answer.

    The planner's budget is this thread's CPU time, so a pause of the host does not spend it. A
    pause that does (the garbage collector, run in this thread) is rare, so an answer out of budget
    is asked for once more before it is taken as no proof.
    """
    key = (config.restaurant.pk, config.version, party_size, settings)
    known = _FITS.get(key)
    if known is not None:
        return known
    floor = FloorSnapshot(
        restaurant_id=config.restaurant.pk,
        tables=config.layout.tables,
        adjacency=config.layout.adjacency,
        busy={},
    )
    request = PlanRequest(party_size=party_size, starts_at=_ANY_WINDOW[0], ends_at=_ANY_WINDOW[1])
    decision = plan_tables(floor, request, settings)
    if decision.failure_reason == FAILURE_TIMEOUT:
        decision = plan_tables(floor, request, settings)
    if decision.failure_reason == FAILURE_TIMEOUT:
        return True  # out of budget twice: no proof either way; let the guest try, ask again next time
    fits = decision.failure_reason != FAILURE_NO_FIT
    if len(_FITS) >= _FITS_MAX:
        _FITS.clear()
    _FITS[key] = fits
    return fits


def contact_line(config: RestaurantConfig) -> tuple[str, dict[str, str]]:
    """Return how to reach the restaurant, as a sentence and as fields (phone, email when set)."""
    restaurant = config.restaurant
    contact = {k: v for k, v in (("phone", restaurant.phone), ("email", restaurant.email)) if v}
    if "phone" in contact and "email" in contact:
        how = f"call {restaurant.name} on {contact['phone']} or email {contact['email']}"
    elif "phone" in contact:
        how = f"call {restaurant.name} on {contact['phone']}"
    elif "email" in contact:
        how = f"email {restaurant.name} at {contact['email']}"
    else:
        how = f"contact {restaurant.name} directly"
    return how, contact


def party_too_large(config: RestaurantConfig, party_size: int) -> PartyTooLarge:
    """Return the refusal for a party no table set seats, saying how to book it instead."""
    how, contact = contact_line(config)
    return PartyTooLarge(
        f"A party of {party_size} is too large to book online. Please {how} to arrange it.",
        party_size=party_size,
        contact=contact,
    )


def refuse_party_too_large(
    config: RestaurantConfig, party_size: int, flag_values: Callable[[], Mapping[str, Any]]
) -> None:
    """Raise PARTY_TOO_LARGE when no table set of the restaurant could ever seat the party."""
    if not party_ever_fits(config, party_size, flag_values):
        raise party_too_large(config, party_size)


def day_reason(
    config: RestaurantConfig,
    local_date: date,
    party_size: int,
    slots: list[SlotAvailability],
    *,
    now: datetime,
    flag_values: Callable[[], Mapping[str, Any]],
) -> tuple[str | None, str | None]:
    """Return why no time of the day can be booked, as (reason, message); (None, None) if one can.

    Checked in order: the date (past, beyond the booking horizon), the party (too large for any
    table set), the restaurant's hours (closed), and then the bookings (full).
    """
    restaurant = config.restaurant
    today = now.astimezone(config.tz).date()
    last_day = today + timedelta(days=restaurant.booking_horizon_days)
    if local_date < today:
        return DAY_PAST, "That date has passed."
    if local_date > last_day:
        return DAY_BEYOND_HORIZON, (
            f"Bookings open {restaurant.booking_horizon_days} days ahead: the last date you can book "
            f"now is {last_day:%A %-d %B %Y}."
        )
    if any(s.available for s in slots):
        return None, None
    if not party_ever_fits(config, party_size, flag_values):
        return DAY_PARTY_TOO_LARGE, party_too_large(config, party_size).message
    if not slots or all(s.reason == "closed" for s in slots):
        return DAY_CLOSED, f"{restaurant.name} takes no bookings on {local_date:%A %-d %B}."
    if all(s.reason in ("past", "closed") for s in slots):
        return DAY_PAST, "No time is left to book today."
    return DAY_FULL, f"No time that day can seat a party of {party_size}; please try another day."
