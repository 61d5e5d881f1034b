"""Input and output shapes of the public and staff API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.codes import CODE_LENGTH
from bookings.models import Booking
from bookings.refusals import DAY_REASONS
from bookings.text import strip_bidi
from reservex.api import FlatSerializer

MAX_PARTY_SIZE = 50


@extend_schema_field({"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "19:30"})
class HourMinuteField(serializers.TimeField):
    """A local wall-clock time written HH:MM (the schema's ``format: time`` would demand seconds)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("format", "%H:%M")
        super().__init__(**kwargs)


class GuestTextField(serializers.CharField):
    """A guest's name or notes, without Unicode bidi controls (they could flip it on the staff pages)."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        # Before the blank check, so a name of nothing but controls is refused as blank.
        return super().run_validation(strip_bidi(data) if isinstance(data, str) else data)


class AvailabilityQuery(FlatSerializer):
    date = serializers.DateField()
    party_size = serializers.IntegerField(min_value=1, max_value=MAX_PARTY_SIZE)
    time = serializers.TimeField(required=False, format="%H:%M")


class SlotOut(serializers.Serializer[Any]):
    time = HourMinuteField()
    available = serializers.BooleanField()
    remaining_covers = serializers.IntegerField(allow_null=True, help_text="Null when covers are unlimited.")
    reason = serializers.CharField(allow_null=True, help_text="Why the time cannot seat the party.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        # Every availability answer renders the day's 30-odd slots: built directly, the shape the
        # fields above declare (and document), at a twentieth of DRF's per-field cost.
        # bookings/tests/api/test_contract.py checks it against the fields' own rendering.
        return {
            "time": instance.time.strftime("%H:%M"),
            "available": bool(instance.available),
            "remaining_covers": instance.remaining_covers,
            "reason": instance.reason,
        }


DAY_REASON_HELP = (
    "Why no time of the day can be booked, or null when one can: `past` (the date or today's last "
    "time has passed), `beyond_horizon` (further ahead than the restaurant takes bookings), `closed` "
    "(no service that day), `party_too_large` (no table set seats the party; the message says how to "
    "reach the restaurant) or `full`."
)


class DayAvailabilityOut(serializers.Serializer[Any]):
    restaurant = serializers.CharField()
    date = serializers.DateField()
    party_size = serializers.IntegerField()
    slots = SlotOut(many=True)
    reason = serializers.ChoiceField(choices=DAY_REASONS, allow_null=True, help_text=DAY_REASON_HELP)
    message = serializers.CharField(
        allow_null=True, help_text="The reason in words for the guest; null with it."
    )


class CapacityOut(serializers.Serializer[Any]):
    max_covers = serializers.IntegerField(allow_null=True)
    booked_covers = serializers.IntegerField()
    utilization_percent = serializers.FloatField(allow_null=True)


class TimeAvailabilityOut(serializers.Serializer[Any]):
    restaurant = serializers.CharField()
    date = serializers.DateField()
    time = HourMinuteField()
    party_size = serializers.IntegerField()
    available = serializers.BooleanField()
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why the time cannot seat the party; for a time the day does not offer, the day's "
        "reason (past, beyond_horizon, closed, party_too_large) or `outside_service`.",
    )
    capacity = CapacityOut(allow_null=True)
    alternatives = serializers.ListField(child=serializers.CharField(), help_text="HH:MM, nearest first.")
    day_reason = serializers.ChoiceField(choices=DAY_REASONS, allow_null=True, help_text=DAY_REASON_HELP)
    message = serializers.CharField(allow_null=True, help_text="The day's reason in words; null with it.")


class HoldIn(FlatSerializer):
    date = serializers.DateField()
    time = serializers.TimeField()
    party_size = serializers.IntegerField(min_value=1, max_value=MAX_PARTY_SIZE)


class HoldOut(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    restaurant = serializers.CharField(source="restaurant.slug")
    party_size = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class BookingIn(FlatSerializer):
    restaurant = serializers.SlugField()
    date = serializers.DateField()
    time = serializers.TimeField()
    party_size = serializers.IntegerField(min_value=1, max_value=MAX_PARTY_SIZE)
    guest_name = GuestTextField(max_length=200)
    guest_email = serializers.EmailField(required=False, allow_blank=True, default="")
    guest_phone = serializers.RegexField(
        r"^\+?[0-9 ()./-]{0,31}$", max_length=32, required=False, allow_blank=True, default=""
    )
    notes = GuestTextField(max_length=1000, required=False, allow_blank=True, default="")
    hold_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    # Declared fields are collected by DRF's metaclass, so this does not shadow Field.source.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["api", "widget"],
        required=False,
        default="api",
        help_text="Where the booking comes from: the ReserveX widget says `widget`; anything else is `api`.",
    )


class AllocationSummaryOut(serializers.Serializer[Any]):
    mode = serializers.CharField(allow_null=True, help_text="inline, background or hold.")
    attempts = serializers.IntegerField()
    inline_ms = serializers.FloatField(allow_null=True)
    background = serializers.BooleanField(help_text="The background job was (or is being) used.")
    seat_waste = serializers.IntegerField(allow_null=True)
    failure_reason = serializers.CharField(allow_null=True)


class BookingOut(serializers.Serializer[Any]):
    """What the holder of a reference sees: no contact details."""

    reference = serializers.CharField(
        help_text="The unguessable key of the booking's URL: keep it private, like a password."
    )
    code = serializers.CharField(
        min_length=CODE_LENGTH,
        max_length=CODE_LENGTH,
        help_text="Short code to read aloud or quote to staff (7 characters, no 0/O, 1/I/L or U), "
        "unique within the restaurant. Shown grouped as 3-4 (K7M-4QPX); staff search ignores case, "
        "spaces and dashes. It does not open the booking: the reference does.",
    )
    restaurant = serializers.CharField()
    status = serializers.ChoiceField(choices=Booking.Status.choices)
    status_reason = serializers.CharField(allow_blank=True)
    awaiting_staff = serializers.BooleanField(
        help_text="Pending until the restaurant's staff confirm it (its table is held meanwhile): the "
        "restaurant asks staff to confirm guests with several recent no-shows. No need to poll often."
    )
    party_size = serializers.IntegerField()
    date = serializers.DateField()
    time = HourMinuteField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    tables = serializers.ListField(child=serializers.CharField())
    allocation = AllocationSummaryOut()
    poll_url = serializers.CharField()


class StaffBookingOut(BookingOut):
    id = serializers.IntegerField()
    guest_name = serializers.CharField()
    guest_email = serializers.CharField(allow_blank=True)
    guest_phone = serializers.CharField(allow_blank=True)
    notes = serializers.CharField(allow_blank=True)
    source = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.source
    capacity_override = serializers.BooleanField()


class StaffMoveIn(serializers.Serializer[Any]):
    date = serializers.DateField(required=False)
    time = serializers.TimeField(required=False)
    tables = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=8)
    override = serializers.BooleanField(default=False, help_text="Place past the capacity rules (audited).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("date" in attrs) != ("time" in attrs):
            raise serializers.ValidationError("Give both date and time, or neither.")
        if "date" not in attrs and not attrs.get("tables"):
            raise serializers.ValidationError("Give a new date and time, tables, or both.")
        return attrs


class StaffStatusIn(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=[
            Booking.Status.SEATED,
            Booking.Status.COMPLETED,
            Booking.Status.NO_SHOW,
            Booking.Status.CANCELLED,
        ]
    )


class StaffDayQuery(serializers.Serializer[Any]):
    date = serializers.DateField()


class StaffBookingIn(serializers.Serializer[Any]):
    """A booking staff take: by phone (a date, a time and the guest) or a walk-in seated now."""

    walk_in = serializers.BooleanField(
        default=False, help_text="Seat the party now; leave out date and time, the name is optional."
    )
    date = serializers.DateField(required=False)
    time = serializers.TimeField(required=False)
    party_size = serializers.IntegerField(min_value=1, max_value=MAX_PARTY_SIZE)
    guest_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    guest_email = serializers.EmailField(required=False, allow_blank=True, default="")
    guest_phone = serializers.RegexField(
        r"^\+?[0-9 ()./-]{0,31}$", max_length=32, required=False, allow_blank=True, default=""
    )
    notes = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    tables = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        max_length=8,
        default=list,
        help_text="Table labels to seat the party at; none: ReserveX chooses.",
    )
    override = serializers.BooleanField(
        default=False, help_text="Place past the capacity rules, where the restaurant allows it (audited)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["walk_in"]:
            if "date" in attrs or "time" in attrs:
                raise serializers.ValidationError("A walk-in is seated now: leave out date and time.")
            return attrs
        missing = {
            name: ["This field is required for a phone booking."]
            for name in ("date", "time")
            if name not in attrs
        }
        if not attrs["guest_name"].strip():
            missing["guest_name"] = ["This field is required for a phone booking."]
        if missing:
            raise serializers.ValidationError(missing)
        return attrs
