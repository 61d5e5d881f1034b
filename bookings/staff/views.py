"""The staff pages in the admin: the day timeline, the floor plan, and the booking actions behind them.

The pages only read; every change goes through ``bookings.services`` (``booking_move``,
``booking_set_status``, ``booking_cancel``), so staff meet the same constraints as guests — the
exclusion constraint, the capacity rules, the status machine — and a refusal comes back as the
domain error's own message. The pages are server-rendered and work without JavaScript.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from bookings.config import config_for
from bookings.errors import CapacityExceeded, DomainError
from bookings.models import Booking, Restaurant
from bookings.selectors import tables_by_booking
from bookings.services.changes import booking_cancel, booking_move, booking_set_status
from bookings.services.create import CAPACITY_REASONS
from bookings.services.idempotency import IdempotencyRequest, StoredResponse, request_fingerprint
from bookings.services.staff import booking_staff_create, staff_booking_request
from bookings.services.staff_confirm import booking_staff_confirm, booking_staff_decline
from bookings.slots import local_datetime
from bookings.staff import presenters, selectors
from bookings.staff.forms import PHONE, WALK_IN, NewBookingForm


def _parse_date(value: str | None, default: date) -> date:
    try:
        parsed = date.fromisoformat(value) if value else default
    except ValueError:
        return default
    # The pages step a day either side: stay inside what dates can represent.
    return min(max(parsed, date.min + timedelta(days=1)), date.max - timedelta(days=1))


def _parse_time(value: str | None) -> time | None:
    try:
        return time.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


class StaffPages:
    """The timeline, floor plan and booking actions of one restaurant, mounted under its admin URL."""

    def __init__(self, model_admin: admin.ModelAdmin[Restaurant]) -> None:
        self.model_admin = model_admin

    def urls(self) -> list[URLPattern]:
        wrap = self.model_admin.admin_site.admin_view
        return [
            path("<int:restaurant_id>/timeline/", wrap(self.timeline), name="bookings_restaurant_timeline"),
            path("<int:restaurant_id>/floor/", wrap(self.floor), name="bookings_restaurant_floor"),
            path(
                "<int:restaurant_id>/bookings/new/",
                wrap(self.new_booking),
                name="bookings_restaurant_booking_new",
            ),
            path(
                "<int:restaurant_id>/bookings/<int:booking_id>/move/",
                wrap(self.move),
                name="bookings_restaurant_booking_move",
            ),
            path(
                "<int:restaurant_id>/bookings/<int:booking_id>/status/",
                wrap(self.status),
                name="bookings_restaurant_booking_status",
            ),
        ]

    # -- helpers

    def restaurant(self, request: HttpRequest, restaurant_id: int, *, perm: str) -> Restaurant:
        """Return the restaurant if this user works there and may do this; 404 / 403 otherwise."""
        restaurant = get_object_or_404(Restaurant.objects.managed_by(request.user), pk=restaurant_id)
        if not request.user.has_perm(f"bookings.{perm}_booking"):
            raise PermissionDenied
        return restaurant

    def today(self, restaurant: Restaurant) -> date:
        return timezone.now().astimezone(restaurant.tz).date()

    def context(self, request: HttpRequest, restaurant: Restaurant, title: str) -> dict[str, Any]:
        return {
            **self.model_admin.admin_site.each_context(request),
            "opts": Restaurant._meta,
            "restaurant": restaurant,
            "title": title,
            "subtitle": restaurant.name,
        }

    def selected_panel(
        self, request: HttpRequest, restaurant: Restaurant, view: str, extra: dict[str, str]
    ) -> dict[str, Any] | None:
        booking_id = _int(request.GET.get("booking"))
        if booking_id is None:
            return None
        booking = selectors.staff_booking(restaurant, booking_id)
        if booking is None:
            return None
        panel = presenters.booking_panel(
            restaurant,
            booking,
            current=tables_by_booking([booking.pk]).get(booking.pk, []),
            tables=selectors.restaurant_tables(restaurant),
            busy=selectors.busy_table_ids(restaurant, booking, now=timezone.now()),
            times=selectors.bookable_times(restaurant),
        )
        panel.update(
            {
                "view": view,
                "return_to": request.get_full_path(),
                "can_change": request.user.has_perm("bookings.change_booking"),
                "history": selectors.guest_history(booking, now=timezone.now()),
                "day_url": reverse("admin:bookings_restaurant_timeline", args=[restaurant.pk])
                + "?"
                + urlencode({"date": panel["date"], "booking": booking.pk}),
                **extra,
            }
        )
        return panel

    # -- pages

    @staticmethod
    def _nav(restaurant: Restaurant, local_date: date, name: str, extra: dict[str, str]) -> dict[str, str]:
        base = reverse(f"admin:bookings_restaurant_{name}", args=[restaurant.pk])

        def url(day: date) -> str:
            return f"{base}?{urlencode({'date': day.isoformat(), **extra})}"

        return {
            "prev_url": url(local_date - timedelta(days=1)),
            "next_url": url(local_date + timedelta(days=1)),
            "timeline_url": reverse("admin:bookings_restaurant_timeline", args=[restaurant.pk])
            + f"?date={local_date.isoformat()}",
            "floor_url": reverse("admin:bookings_restaurant_floor", args=[restaurant.pk])
            + f"?date={local_date.isoformat()}"
            + (f"&time={extra['time']}" if "time" in extra else ""),
        }

    @staticmethod
    def _page_url(restaurant: Restaurant, name: str, params: dict[str, str]) -> str:
        return reverse(f"admin:bookings_restaurant_{name}", args=[restaurant.pk]) + "?" + urlencode(params)

    def timeline(self, request: HttpRequest, restaurant_id: int) -> HttpResponse:
        """One row per table, time across; bookings and holds as bars coloured by status."""
        if request.method != "GET":
            return HttpResponse(status=405)
        restaurant = self.restaurant(request, restaurant_id, perm="view")
        now = timezone.now()
        local_date = _parse_date(request.GET.get("date"), self.today(restaurant))
        plan = selectors.day_plan(restaurant, local_date, now=now)
        whole_day = request.GET.get("span") == "day"
        params = {"date": local_date.isoformat(), **({"span": "day"} if whole_day else {})}
        page_url = self._page_url(restaurant, "timeline", params)
        selected = _int(request.GET.get("booking"))
        context = self.context(request, restaurant, f"Timeline · {local_date:%A %-d %B %Y}")
        context.update(
            {
                "view": "timeline",
                "plan": plan,
                "local_date": local_date,
                "is_today": local_date == self.today(restaurant),
                "summary": presenters.day_summary(plan),
                "off_floor": plan.off_floor,
                "waitlist": selectors.waitlist_of_day(restaurant, local_date),
                "panel": self.selected_panel(request, restaurant, "timeline", {}),
                "statuses": presenters.LEGEND,
                **presenters.timeline_context(
                    plan,
                    selectors.periods_of_day(restaurant, local_date),
                    page_url=page_url,
                    selected=selected,
                    now=now,
                    whole_day=whole_day,
                ),
                "span_url": self._page_url(
                    restaurant,
                    "timeline",
                    {"date": local_date.isoformat(), **({} if whole_day else {"span": "day"})},
                ),
                **self._nav(restaurant, local_date, "timeline", {}),
                **self._new_booking_links(request, restaurant, local_date),
            }
        )
        return TemplateResponse(request, "bookings/admin/timeline.html", context)

    def _new_booking_links(
        self, request: HttpRequest, restaurant: Restaurant, local_date: date
    ) -> dict[str, Any]:
        """Return where "New booking" and "Walk-in" lead, for staff who may take bookings."""
        if not request.user.has_perm("bookings.add_booking"):
            return {}
        base = reverse("admin:bookings_restaurant_booking_new", args=[restaurant.pk])
        return {
            "new_booking_url": f"{base}?{urlencode({'date': local_date.isoformat()})}",
            "new_booking_base": base,
            "walk_in_url": f"{base}?walk_in=1" if local_date == self.today(restaurant) else "",
            "slot_minutes": restaurant.slot_interval_minutes,
        }

    def floor(self, request: HttpRequest, restaurant_id: int) -> HttpResponse:
        """Tables at their positions, occupied or free at the chosen time."""
        if request.method != "GET":
            return HttpResponse(status=405)
        restaurant = self.restaurant(request, restaurant_id, perm="view")
        now = timezone.now()
        tz = restaurant.tz
        today = self.today(restaurant)
        local_date = _parse_date(request.GET.get("date"), today)
        grid = selectors.floor_times(restaurant, local_date.weekday()) or selectors.floor_times(restaurant)
        local_time = _parse_time(request.GET.get("time"))
        if local_time is None:
            local_time = self.default_time(grid, local_date == today, now.astimezone(tz))
        instant = local_datetime(restaurant, local_date, local_time)
        plan = selectors.day_plan(restaurant, local_date, now=now)
        time_text = local_time.strftime("%H:%M")
        page_url = self._page_url(restaurant, "floor", {"date": local_date.isoformat(), "time": time_text})
        selected = _int(request.GET.get("booking"))
        options = [t.strftime("%H:%M") for t in grid]
        if time_text not in options:
            options = sorted([*options, time_text])
        index = options.index(time_text)
        base = reverse("admin:bookings_restaurant_floor", args=[restaurant.pk])
        step = {
            "earlier_url": f"{base}?{urlencode({'date': local_date.isoformat(), 'time': options[index - 1]})}"
            if index > 0
            else "",
            "later_url": f"{base}?{urlencode({'date': local_date.isoformat(), 'time': options[index + 1]})}"
            if index + 1 < len(options)
            else "",
        }
        context = self.context(request, restaurant, f"Floor plan · {local_date:%A %-d %B %Y}, {time_text}")
        context.update(
            {
                "view": "floor",
                "plan": plan,
                "local_date": local_date,
                "local_time": time_text,
                "time_options": options,
                "is_today": local_date == today,
                "panel": self.selected_panel(request, restaurant, "floor", {"floor_time": time_text}),
                "floor": presenters.floor_context(plan, instant, page_url=page_url, selected=selected),
                "statuses": presenters.LEGEND,
                **step,
                **self._nav(restaurant, local_date, "floor", {"time": time_text}),
            }
        )
        return TemplateResponse(request, "bookings/admin/floor.html", context)

    @staticmethod
    def default_time(grid: list[time], is_today: bool, local_now: datetime) -> time:
        """Now (on the slot grid) for today; otherwise the evening rush, or the first opening."""
        if not grid:
            return time(19)
        if is_today:
            now_time = local_now.time().replace(tzinfo=None)
            earlier = [t for t in grid if t <= now_time]
            return earlier[-1] if earlier else grid[0]
        return time(19) if time(19) in grid else grid[0]

    # -- actions (POST, CSRF-protected by admin_view)

    def _after(self, request: HttpRequest, restaurant: Restaurant, booking: Booking) -> HttpResponseRedirect:
        """Return to the page the action came from, on the booking's (possibly new) day, panel open."""
        view = "floor" if request.POST.get("view") == "floor" else "timeline"
        tz = restaurant.tz
        params = {"date": booking.starts_at.astimezone(tz).date().isoformat()}
        floor_time = _parse_time(request.POST.get("floor_time"))
        if view == "floor" and floor_time is not None:
            params["time"] = floor_time.strftime("%H:%M")
        params["booking"] = str(booking.pk)
        url = self._page_url(restaurant, view, params) + "#panel"
        return HttpResponseRedirect(url)

    def _booking_to_change(
        self, request: HttpRequest, restaurant_id: int, booking_id: int
    ) -> tuple[Restaurant, Booking, HttpResponseRedirect]:
        """Return the restaurant, the booking a form changes, and where to go back to if it fails."""
        restaurant = self.restaurant(request, restaurant_id, perm="change")
        booking = get_object_or_404(
            Booking.objects.select_related("restaurant"), pk=booking_id, restaurant=restaurant
        )
        return restaurant, booking, self._return_to(request, self._after(request, restaurant, booking))

    def _return_to(self, request: HttpRequest, fallback: HttpResponseRedirect) -> HttpResponseRedirect:
        target = request.POST.get("return_to", "")
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return HttpResponseRedirect(target + ("" if "#" in target else "#panel"))
        return fallback

    def move(self, request: HttpRequest, restaurant_id: int, booking_id: int) -> HttpResponse:
        """Move a booking to other tables and/or another time, or assign it, via booking_move."""
        if request.method != "POST":
            return HttpResponse(status=405)
        restaurant, booking, stay = self._booking_to_change(request, restaurant_id, booking_id)
        new_date = _parse_date(request.POST.get("date"), date.min)
        new_time = _parse_time(request.POST.get("time"))
        if new_date == date.min or new_time is None:
            messages.error(request, "Choose a date and a time.")
            return stay
        starts_at: datetime | None = local_datetime(restaurant, new_date, new_time)
        if starts_at == booking.starts_at:
            starts_at = None
        labels = sorted({label.strip() for label in request.POST.getlist("tables") if label.strip()})
        current = tables_by_booking([booking.pk]).get(booking.pk, [])
        if starts_at is None and labels and labels == sorted(current):
            messages.info(request, "Nothing to change: that is already the booking's time and tables.")
            return stay
        override = request.POST.get("override") == "on"
        user_id = request.user.pk
        assert user_id is not None  # admin_view let only signed-in staff through
        try:
            moved = booking_move(
                booking=booking,
                actor_id=int(user_id),
                starts_at=starts_at,
                table_labels=labels or None,
                override=override,
            )
        except DomainError as exc:
            message = exc.message
            if isinstance(exc, CapacityExceeded) and restaurant.allow_staff_override and not override:
                message += " Tick “Override capacity rules” to place it anyway (recorded)."
            messages.error(request, message)
            return stay
        tables = tables_by_booking([moved.pk]).get(moved.pk, [])
        tz = restaurant.tz
        verb = "Assigned" if not current else "Moved"
        text = (
            f"{verb} {moved.guest_name} (party of {moved.party_size}) to {', '.join(tables) or 'no table'} "
            f"at {moved.starts_at.astimezone(tz):%H:%M} on {moved.starts_at.astimezone(tz):%a %-d %b}."
        )
        if moved.capacity_override and override:
            text += " Capacity override recorded."
        messages.success(request, text)
        return self._after(request, restaurant, moved)

    def status(self, request: HttpRequest, restaurant_id: int, booking_id: int) -> HttpResponse:
        """Mark a booking seated, completed or no-show, or cancel it."""
        if request.method != "POST":
            return HttpResponse(status=405)
        _, booking, stay = self._booking_to_change(request, restaurant_id, booking_id)
        status = request.POST.get("status", "")
        if status not in presenters.STATUS_DONE:
            messages.error(request, "Choose seated, completed, no-show or cancelled.")
            return stay
        user_id = request.user.pk
        assert user_id is not None
        try:
            if status == Booking.Status.CANCELLED:
                updated = booking_cancel(booking=booking)
            elif status == presenters.STAFF_CONFIRM:
                updated = booking_staff_confirm(booking=booking, actor_id=int(user_id))
            elif status == presenters.STAFF_DECLINE:
                updated = booking_staff_decline(booking=booking, actor_id=int(user_id))
            else:
                updated = booking_set_status(booking=booking, status=status, actor_id=int(user_id))
        except DomainError as exc:
            messages.error(request, exc.message)
            return stay
        messages.success(
            request, f"{updated.guest_name} (party of {updated.party_size}) {presenters.STATUS_DONE[status]}."
        )
        return stay

    # -- taking a booking (phone or walk-in)

    def new_booking(self, request: HttpRequest, restaurant_id: int) -> HttpResponse:
        """Show the form (prefilled from the timeline's free cell) or take the booking it sends."""
        restaurant = self.restaurant(request, restaurant_id, perm="add")
        today = self.today(restaurant)
        times = selectors.bookable_times(restaurant)
        chosen_time = _parse_time(request.GET.get("time"))
        if chosen_time is not None and chosen_time not in times:
            times = sorted([*times, chosen_time])
        tables = selectors.restaurant_tables(restaurant)
        allow_override = restaurant.allow_staff_override
        if request.method == "POST":
            form = NewBookingForm(request.POST, tables=tables, times=times, allow_override=allow_override)
            if form.is_valid():
                taken = self._take(request, restaurant, form)
                if taken is not None:
                    return taken
        elif request.method == "GET":
            local_date = _parse_date(request.GET.get("date"), today)
            form = NewBookingForm(
                initial={
                    "kind": WALK_IN if request.GET.get("walk_in") else PHONE,
                    "date": max(local_date, today),
                    "time": (chosen_time or StaffPages.default_time(times, False, timezone.now())).strftime(
                        "%H:%M"
                    ),
                    "tables": request.GET.getlist("table"),
                    "party_size": _int(request.GET.get("party_size")) or 2,
                    "idempotency_key": uuid.uuid4().hex,
                },
                tables=tables,
                times=times,
                allow_override=allow_override,
            )
        else:
            return HttpResponse(status=405)
        shown = form["date"].value()
        local_date = shown if isinstance(shown, date) else _parse_date(shown or None, today)
        context = self.context(request, restaurant, "New booking")
        context.update(
            {
                "form": form,
                "table_groups": form.table_groups(),
                "today": today,
                "timeline_url": self._page_url(restaurant, "timeline", {"date": local_date.isoformat()}),
            }
        )
        return TemplateResponse(request, "bookings/admin/new_booking.html", context)

    def _take(
        self, request: HttpRequest, restaurant: Restaurant, form: NewBookingForm
    ) -> HttpResponse | None:
        """Take the booking through bookings.services; None (and a message) when it is refused."""
        data = form.cleaned_data
        config = config_for(restaurant.pk)
        override = bool(data.get("override"))
        user_id = request.user.pk
        assert user_id is not None  # admin_view let only signed-in staff through
        try:
            result = booking_staff_create(
                config=config,
                request=staff_booking_request(
                    config, data, walk_in=form.walk_in, tables=sorted(data["tables"]), now=timezone.now()
                ),
                actor_id=int(user_id),
                override=override,
                idempotency=IdempotencyRequest(
                    key=data["idempotency_key"], fingerprint=request_fingerprint(form.fingerprint_data())
                ),
            )
        except DomainError as exc:
            messages.error(request, self._refusal_text(exc, restaurant, override=override))
            return None
        if isinstance(result, StoredResponse):
            booking = get_object_or_404(
                Booking, restaurant=restaurant, reference=result.body.get("reference")
            )
        else:
            booking = result.booking
        messages.success(request, self._taken_text(restaurant, booking, override=override))
        return self._after(request, restaurant, booking)

    @staticmethod
    def _refusal_text(exc: DomainError, restaurant: Restaurant, *, override: bool) -> str:
        text = exc.message
        alternatives = exc.extra.get("alternatives")
        if alternatives:
            text += f" Nearest times: {', '.join(alternatives[:4])}."
        over_rules = isinstance(exc, CapacityExceeded) and exc.extra.get("reason") in CAPACITY_REASONS
        if over_rules and restaurant.allow_staff_override and not override:
            text += " Tick “Override capacity rules” to book it anyway (recorded)."
        return text

    @staticmethod
    def _taken_text(restaurant: Restaurant, booking: Booking, *, override: bool) -> str:
        tz = restaurant.tz
        tables = tables_by_booking([booking.pk]).get(booking.pk, [])
        who = f"{booking.guest_name} (party of {booking.party_size})"
        where = ", ".join(tables)
        if booking.status == Booking.Status.SEATED:
            text = f"Seated {who} at {where} now, until about {booking.ends_at.astimezone(tz):%H:%M}."
        elif booking.status == Booking.Status.PENDING:
            text = (
                f"Booked {who} at {booking.starts_at.astimezone(tz):%H:%M} on "
                f"{booking.starts_at.astimezone(tz):%a %-d %b}; its table is being assigned."
            )
        else:
            text = (
                f"Booked {who} at {where} at {booking.starts_at.astimezone(tz):%H:%M} on "
                f"{booking.starts_at.astimezone(tz):%a %-d %b}."
            )
        if booking.capacity_override and override:
            text += " Capacity override recorded."
        return text
