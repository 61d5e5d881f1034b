"""Staff timeline, floor plan and booking actions in the admin; "Why these tables?"; the widget page.

Every action is a form post that must go through bookings.services: the tests check the effect
on the booking and its tables, and that a refusal comes back as the domain error's message.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from bookings.errors import SlotUnavailable
from bookings.models import Booking, Restaurant
from bookings.selectors import tables_by_booking
from bookings.services.admission import booking_admit
from bookings.services.holds import hold_create
from bookings.slots import resolve_slot
from bookings.tests.factories import TableFactory, UserFactory, adjacency, open_every_day

pytestmark = pytest.mark.django_db


def day() -> date:
    """A service day a week ahead: in the future and within the booking horizon."""
    return timezone.now().date() + timedelta(days=7)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day(), time(hour, minute), tzinfo=UTC)


@pytest.fixture
def diner(alice_restaurant: Restaurant) -> Restaurant:
    """Alice's Diner (UTC): dinner 17:00–23:00 daily, tables T1, T2 (2, joinable), T3, T4 (4), T6 (6)."""
    open_every_day(alice_restaurant)
    t1 = TableFactory(restaurant=alice_restaurant, label="T1", max_party=2, x=20, y=20)
    t2 = TableFactory(restaurant=alice_restaurant, label="T2", max_party=2, x=90, y=20)
    TableFactory(restaurant=alice_restaurant, label="T3", max_party=4, x=20, y=120, section="garden")
    TableFactory(restaurant=alice_restaurant, label="T4", max_party=4, x=120, y=120, section="garden")
    TableFactory(restaurant=alice_restaurant, label="T6", max_party=6, min_party=3, x=240, y=20)
    adjacency(t1, t2)
    return alice_restaurant


@pytest.fixture
def staff(client: Client, alice) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(alice)
    return client


def book(
    restaurant: Restaurant, name: str, party: int, hour: int, minute: int = 0, **kwargs: object
) -> Booking:
    return booking_admit(
        restaurant=restaurant, party_size=party, starts_at=at(hour, minute), guest_name=name, **kwargs
    ).booking


def tables_of(booking: Booking) -> list[str]:
    return tables_by_booking([booking.pk]).get(booking.pk, [])


def timeline_url(restaurant: Restaurant, **params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"date": day().isoformat(), **params}.items())
    return f"/admin/bookings/restaurant/{restaurant.pk}/timeline/?{query}"


def floor_url(restaurant: Restaurant, when: str, **params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"date": day().isoformat(), "time": when, **params}.items())
    return f"/admin/bookings/restaurant/{restaurant.pk}/floor/?{query}"


def action_url(booking: Booking, action: str) -> str:
    return f"/admin/bookings/restaurant/{booking.restaurant_id}/bookings/{booking.pk}/{action}/"


def row_html(page: str, label: str) -> str:
    """Return the timeline row of one table (up to the next row)."""
    start = page.index(f'data-table="{label}"')
    end = page.find('class="rx-tl-row', start)
    return page[start : end if end != -1 else None]


def messages_in(page: str) -> str:
    return " ".join(re.findall(r'<li class="(?:success|error|info|warning)">(.*?)</li>', page, re.S))


def move(
    client: Client, booking: Booking, *, tables: list[str], hour: int | None = None, **extra: str
) -> str:
    """Post the panel's move form and return the page the redirect lands on."""
    local = booking.starts_at
    data = {
        "date": day().isoformat(),
        "time": f"{hour:02d}:00" if hour is not None else f"{local:%H:%M}",
        "tables": tables,
        "view": "timeline",
        **extra,
    }
    response = client.post(action_url(booking, "move"), data, follow=True)
    assert response.status_code == 200
    return response.content.decode()


# --- timeline --------------------------------------------------------------------------------------


def test_the_timeline_draws_each_booking_and_hold_on_its_tables(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 4, 19)
    jones = book(diner, "Tom Jones", 2, 18, 30)
    hold_create(restaurant=diner, party_size=6, starts_at=at(20))

    page = staff.get(timeline_url(diner)).content.decode()

    assert "4 · Ada Smith" in row_html(page, tables_of(smith)[0])
    assert "19:00–20:45" in row_html(page, tables_of(smith)[0])
    assert "2 · Tom Jones" in row_html(page, tables_of(jones)[0])
    assert "rx-s-confirmed" in row_html(page, tables_of(smith)[0])
    assert "6 · Held" in row_html(page, "T6") and "rx-s-hold" in row_html(page, "T6")
    assert "<strong>2</strong> bookings" in page and "<strong>6</strong> covers" in page


def test_a_joined_party_shows_on_every_table_it_uses(staff: Client, diner: Restaurant) -> None:
    book(diner, "Big Table", 6, 19)  # takes T6
    party = book(diner, "Joined Pair", 4, 19)  # T3 or T4
    book(diner, "Other Four", 4, 19)  # the other 4-top
    joined = book(diner, "Four On Twos", 3, 19)  # only T1+T2 is left
    assert tables_of(joined) == ["T1", "T2"], tables_of(party)

    page = staff.get(timeline_url(diner)).content.decode()
    for label in ("T1", "T2"):
        assert "3 · Four On Twos" in row_html(page, label) and "T1+T2" in row_html(page, label)


def test_a_pending_booking_waits_in_its_own_lane_and_can_be_assigned(
    staff: Client, diner: Restaurant
) -> None:
    pending = booking_admit(
        restaurant=diner, party_size=2, starts_at=at(19), guest_name="Walk In", assign=False
    ).booking
    page = staff.get(timeline_url(diner)).content.decode()
    assert "Waiting for a table" in page and "2 · Walk In" in page

    panel = staff.get(timeline_url(diner, booking=pending.pk)).content.decode()
    assert "Assign tables" in panel

    landed = move(staff, pending, tables=["T1"])
    assert "Assigned Walk In (party of 2) to T1 at 19:00" in messages_in(landed)
    pending.refresh_from_db()
    assert pending.status == Booking.Status.CONFIRMED and tables_of(pending) == ["T1"]


def test_waiting_bookings_that_overlap_stack_instead_of_hiding_each_other(
    staff: Client, diner: Restaurant
) -> None:
    for name, minute in (("First", 0), ("Second", 30)):
        booking_admit(restaurant=diner, party_size=2, starts_at=at(19, minute), guest_name=name, assign=False)
    page = staff.get(timeline_url(diner)).content.decode()
    assert "--lanes: 2" in page and "--lane: 0" in page and "--lane: 1" in page


def test_completed_and_no_show_bookings_stay_on_the_picture_faded(staff: Client, diner: Restaurant) -> None:
    gone = book(diner, "Left Early", 2, 18)
    staff.post(action_url(gone, "status"), {"status": "seated"})
    staff.post(action_url(gone, "status"), {"status": "completed"})
    cancelled = book(diner, "Changed Mind", 2, 20)
    staff.post(action_url(cancelled, "status"), {"status": "cancelled"})

    page = staff.get(timeline_url(diner)).content.decode()
    assert "is-history" in page and "2 · Left Early" in page
    assert "Cancelled and rejected (1)" in page and "Changed Mind" in page


# --- scoping and permissions -------------------------------------------------------------------------


def test_staff_of_another_restaurant_get_nothing(client: Client, bob, diner: Restaurant) -> None:  # type: ignore[no-untyped-def]
    booking = book(diner, "Ada Smith", 2, 19)
    client.force_login(bob)
    assert client.get(timeline_url(diner)).status_code == 404
    assert client.get(floor_url(diner, "19:00")).status_code == 404
    response = client.post(action_url(booking, "status"), {"status": "no_show"})
    assert response.status_code == 404
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def test_anonymous_visitors_are_sent_to_the_login(client: Client, diner: Restaurant) -> None:
    response = client.get(timeline_url(diner))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_superuser_sees_every_restaurant_timeline(client: Client, diner: Restaurant) -> None:
    client.force_login(UserFactory(username="root", is_superuser=True))
    assert client.get(timeline_url(diner)).status_code == 200


def test_view_only_staff_see_the_pages_but_no_actions(client: Client, diner: Restaurant) -> None:
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_booking"))
    diner.staff.add(viewer)
    booking = book(diner, "Ada Smith", 2, 19)
    client.force_login(viewer)

    page = client.get(timeline_url(diner, booking=booking.pk)).content.decode()
    assert "Ada Smith" in page and "Mark seated" not in page and "Move booking" not in page
    assert client.post(action_url(booking, "status"), {"status": "seated"}).status_code == 403


def test_actions_are_csrf_protected(alice, diner: Restaurant) -> None:  # type: ignore[no-untyped-def]
    booking = book(diner, "Ada Smith", 2, 19)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(action_url(booking, "status"), {"status": "seated"}).status_code == 403
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


# --- floor plan --------------------------------------------------------------------------------------


def test_the_floor_plan_shows_who_sits_where_at_the_chosen_time(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 4, 19)
    label = tables_of(smith)[0]

    busy = staff.get(floor_url(diner, "19:30")).content.decode()
    table = busy[busy.index(f'data-table="{label}"') :][:600]
    assert 'data-state="confirmed"' in table and "4 · Ada Smith" in table and "to 20:45" in table
    assert f"booking={smith.pk}" in busy[busy.rindex("<a", 0, busy.index(f'data-table="{label}"')) :][:400]

    early = staff.get(floor_url(diner, "17:00")).content.decode()
    table = early[early.index(f'data-table="{label}"') :][:600]
    assert 'data-state="free"' in table and "till 19:00" in table


def test_tables_without_positions_are_drawn_in_rows_not_piled_up(staff: Client, diner: Restaurant) -> None:
    diner.tables.update(x=0, y=0)
    page = staff.get(floor_url(diner, "19:00")).content.decode()
    assert "The tables have no positions yet" in page
    lefts = re.findall(r'class="rx-ftable[^"]*" style="left: ([\d.]+)%; top: ([\d.]+)%', page)
    assert len(lefts) == 5 and len(set(lefts)) == 5


# --- moves and assignments ---------------------------------------------------------------------------


def test_staff_move_a_booking_to_other_tables(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 4, 19)
    target = "T4" if tables_of(smith) == ["T3"] else "T3"

    landed = move(staff, smith, tables=[target])

    assert f"Moved Ada Smith (party of 4) to {target} at 19:00" in messages_in(landed)
    assert tables_of(smith) == [target]
    smith.refresh_from_db()
    assert smith.allocation_reason == {"chosen_by_staff": smith.restaurant.staff.get().pk, "tables": [target]}


def test_staff_move_a_booking_to_another_time_and_the_planner_picks(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 2, 19)

    landed = move(staff, smith, tables=[], hour=21)

    smith.refresh_from_db()
    assert smith.starts_at == at(21)
    assert "to " in messages_in(landed) and "at 21:00" in messages_in(landed)
    assert tables_of(smith)


def test_the_move_panel_offers_exactly_the_start_times_admission_accepts(
    staff: Client, diner: Restaurant
) -> None:
    # given dinner 17:00–23:00 with last seating at 21:00, on a 15-minute grid
    smith = book(diner, "Ada Smith", 2, 19)

    # when staff open the booking's panel
    panel = staff.get(timeline_url(diner, booking=smith.pk)).content.decode()

    # then the time list runs from opening to last seating, not to closing
    select = re.search(r'<select id="rx-move-time" name="time">(.*?)</select>', panel, re.S)
    assert select is not None
    offered = re.findall(r"<option[^>]*>([0-9:]+)</option>", select.group(1))
    assert offered[0] == "17:00" and offered[-1] == "21:00"
    assert offered == [f"{m // 60:02d}:{m % 60:02d}" for m in range(17 * 60, 21 * 60 + 1, 15)]
    # and each is a start admission takes, while the next step after last seating is not
    for text in offered:
        resolve_slot(diner, at(*map(int, text.split(":"))), 2, now=timezone.now())
    with pytest.raises(SlotUnavailable):
        resolve_slot(diner, at(21, 15), 2, now=timezone.now())


def test_a_move_onto_taken_tables_shows_the_conflict(staff: Client, diner: Restaurant) -> None:
    first = book(diner, "Ada Smith", 4, 19)
    second = book(diner, "Tom Jones", 4, 19)
    taken = tables_of(first)

    landed = move(staff, second, tables=taken, return_to=timeline_url(diner, booking=second.pk))

    assert "Those tables are taken at that time." in messages_in(landed)
    assert tables_of(second) != taken
    assert 'id="panel"' in landed  # back on the page with the booking still open


def test_a_move_onto_a_table_too_small_says_so(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 4, 19)
    landed = move(staff, smith, tables=["T1"])
    assert "Those tables seat 2, not 4." in messages_in(landed)


def test_the_override_box_appears_only_where_the_restaurant_allows_it(
    staff: Client, diner: Restaurant
) -> None:
    smith = book(diner, "Ada Smith", 2, 19)
    page = staff.get(timeline_url(diner, booking=smith.pk)).content.decode()
    assert 'name="override"' not in page and "does not let staff override" in page

    landed = move(staff, smith, tables=[], hour=20, override="on")
    assert "This restaurant does not allow staff to override its capacity rules." in messages_in(landed)

    diner.allow_staff_override = True
    diner.save()
    page = staff.get(timeline_url(diner, booking=smith.pk)).content.decode()
    assert 'name="override"' in page


def test_an_override_places_a_booking_past_capacity_and_is_recorded(staff: Client, diner: Restaurant) -> None:
    diner.allow_staff_override = True
    diner.save()
    for period in diner.periods.all():
        period.capacity_rule.max_covers = 4
        period.capacity_rule.save()
    book(diner, "Full House", 4, 19)
    early = book(diner, "Early Pair", 2, 17)

    refused = move(staff, early, tables=[], hour=19)
    assert "That time is full under the capacity rules." in messages_in(refused)
    assert "Override capacity rules" in messages_in(refused)

    placed = move(staff, early, tables=[], hour=19, override="on")
    assert "Capacity override recorded." in messages_in(placed)
    early.refresh_from_db()
    assert early.starts_at == at(19) and early.capacity_override


# --- status ------------------------------------------------------------------------------------------


def test_staff_seat_then_complete_a_booking(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 2, 19)
    panel = staff.get(timeline_url(diner, booking=smith.pk)).content.decode()
    assert "Mark seated" in panel and "Mark no-show" in panel and "Cancel booking" in panel

    seated = staff.post(action_url(smith, "status"), {"status": "seated"}, follow=True).content.decode()
    assert "Ada Smith (party of 2) marked seated." in messages_in(seated)
    staff.post(action_url(smith, "status"), {"status": "completed"})
    smith.refresh_from_db()
    assert smith.status == Booking.Status.COMPLETED and tables_of(smith) == []


def test_staff_mark_a_no_show_and_cancel(staff: Client, diner: Restaurant) -> None:
    absent = book(diner, "No Show", 2, 19)
    staff.post(action_url(absent, "status"), {"status": "no_show"})
    absent.refresh_from_db()
    assert absent.status == Booking.Status.NO_SHOW

    cancelled = book(diner, "Cancel Me", 2, 20)
    staff.post(action_url(cancelled, "status"), {"status": "cancelled"})
    cancelled.refresh_from_db()
    assert cancelled.status == Booking.Status.CANCELLED and tables_of(cancelled) == []


def test_an_impossible_status_change_is_refused_in_words(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 2, 19)
    staff.post(action_url(smith, "status"), {"status": "no_show"})
    landed = staff.post(action_url(smith, "status"), {"status": "seated"}, follow=True).content.decode()
    assert "A no-show booking cannot become seated." in messages_in(landed)


def test_the_changelist_actions_go_through_the_status_machine(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 2, 19)
    response = staff.post(
        "/admin/bookings/booking/",
        {"action": "mark_seated", "_selected_action": [smith.pk]},
        follow=True,
    )
    assert "1 booking(s) marked seated." in response.content.decode()
    smith.refresh_from_db()
    assert smith.status == Booking.Status.SEATED


# --- the booking page --------------------------------------------------------------------------------


def test_the_booking_page_explains_the_planner_choice_and_attempts(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 4, 19)
    page = staff.get(f"/admin/bookings/booking/{smith.pk}/change/").content.decode()

    assert "Why these tables?" in page
    assert f"Tables {tables_of(smith)[0]}: 4 seats for a party of 4, 0 empty seats." in page
    assert "Ranked by:" in page and "fewest empty seats" in page
    assert "Settings in force:" in page and "Joining tables allowed" in page
    assert "runners-up" in page and "Why not first" in page
    assert "Inline" in page and "Assigned" in page  # the attempt row
    assert "Open on the timeline" in page


def test_the_booking_page_names_the_staff_member_who_chose(staff: Client, diner: Restaurant, alice) -> None:  # type: ignore[no-untyped-def]
    smith = book(diner, "Ada Smith", 2, 19)
    move(staff, smith, tables=["T2"])
    page = staff.get(f"/admin/bookings/booking/{smith.pk}/change/").content.decode()
    assert "Chosen by alice from the staff timeline: T2." in page


def test_times_and_party_cannot_be_edited_on_the_booking_form(staff: Client, diner: Restaurant) -> None:
    smith = book(diner, "Ada Smith", 2, 19)
    page = staff.get(f"/admin/bookings/booking/{smith.pk}/change/").content.decode()
    assert 'name="starts_at' not in page and 'name="party_size"' not in page
    assert 'name="guest_name"' in page
    # "Add" is the staff form, which admits a booking like a guest's (test_admin_staff_create.py).
    assert staff.get("/admin/bookings/booking/add/").status_code == 302


def test_links_lead_from_restaurant_and_booking_list_to_the_staff_pages(
    staff: Client, diner: Restaurant
) -> None:
    change = staff.get(f"/admin/bookings/restaurant/{diner.pk}/change/").content.decode()
    assert f"/admin/bookings/restaurant/{diner.pk}/timeline/" in change
    assert f"/admin/bookings/restaurant/{diner.pk}/floor/" in change
    listing = staff.get("/admin/bookings/booking/").content.decode()
    assert f"/admin/bookings/restaurant/{diner.pk}/timeline/" in listing


# --- the widget page ---------------------------------------------------------------------------------


def test_the_widget_may_be_framed_while_the_admin_may_not(client: Client, diner: Restaurant) -> None:
    response = client.get(f"/widget/{diner.slug}/")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    page = response.content.decode()
    assert f'data-restaurant="{diner.slug}"' in page and "widget.js" in page
    assert "Set-Cookie" not in response.headers
    assert client.get("/admin/login/").headers["X-Frame-Options"] == "DENY"


def test_an_unknown_restaurant_has_no_widget(client: Client, db: None) -> None:
    response = client.get("/widget/no-such-place/")
    assert response.status_code == 404
    assert "Booking page not found" in response.content.decode()  # a page for the guest, not JSON


def test_odd_query_values_fall_back_instead_of_failing(staff: Client, diner: Restaurant) -> None:
    for day_value in ("9999-12-31", "0001-01-01"):
        page = f"/admin/bookings/restaurant/{diner.pk}/timeline/?date={day_value}&booking=%C2%B2"
        assert staff.get(page).status_code == 200
        assert (
            staff.get(f"/admin/bookings/restaurant/{diner.pk}/floor/?date={day_value}&time=19:00").status_code
            == 200
        )
