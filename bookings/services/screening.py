"""The no-show rule (issue 17, decision 0017): staff confirm the bookings of guests who often do not come.

A restaurant with ``confirm_after_no_shows = N`` admits a guest's own booking (widget or API) as
usual, tables and capacity held, but leaves it ``pending`` with ``awaiting_staff`` set when the
guest has N or more no-shows there in the last twelve months. Staff then confirm it, or decline it
(a cancellation: the tables go to the waitlist). The allocator, its sweeper and the integrity check
leave such bookings alone: they are not waiting for tables, they are waiting for a person.
Staff decide in bookings/services/staff_confirm.py.
"""

from __future__ import annotations

from datetime import datetime

from bookings.models import Booking, Restaurant
from bookings.selectors import guest_past_bookings

# Bookings guests make themselves; staff taking a booking have already judged the guest.
GUEST_SOURCES = frozenset({Booking.Source.WIDGET, Booking.Source.API})


def awaiting_staff_reason(no_shows: int) -> str:
    """Return the reason a held booking carries (shown to staff and, as a status, to the guest)."""
    return f"awaiting staff confirmation ({no_shows} no-show{'' if no_shows == 1 else 's'} in 12 months)"


def no_show_screen(
    *, restaurant: Restaurant, source: str, guest_email: str, guest_phone: str, now: datetime
) -> int | None:
    """Return the guest's no-shows in 12 months when the restaurant's rule holds the booking, else None.

    No statement at all when the rule is off or staff take the booking (the hot path's default);
    one when it is on.
    """
    threshold = restaurant.confirm_after_no_shows
    if threshold is None or source not in GUEST_SOURCES:
        return None
    past = guest_past_bookings(restaurant.pk, email=guest_email, phone=guest_phone, now=now)
    if past is None:
        return None
    no_shows = past.filter(status=Booking.Status.NO_SHOW).count()
    return no_shows if no_shows >= threshold else None
