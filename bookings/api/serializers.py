"""Input and output shapes of the public and staff API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.models import Booking

MAX_PARTY_SIZE = 50


@extend_schema_field({"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "19:30"})
class HourMinuteField(serializers.TimeField):
    """A local wall-clock time written HH:MM (the schema's ``format: time`` would demand seconds)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("format", "%H:%M")
        super().__init__(**kwargs)


class AvailabilityQuery(serializers.Serializer[Any]):
    date = serializers.DateField()
    party_size = serializers.IntegerField(min_value=1, max_value=MAX_PARTY_SIZE)
    time = serializers.TimeField(required=False, format="%H:%M")


class SlotOut(serializers.Serializer[Any]):
    time = HourMinuteField()
    available = serializers.BooleanField()
    remaining_covers = serializers.IntegerField(allow_null=True, help_text="Null when covers are unlimited.")
    reason = serializers.CharField(allow_null=True, help_text="Why the time cannot seat the party.")


class DayAvailabilityOut(serializers.Serializer[Any]):
    restaurant = serializers.CharField()
    date = serializers.DateField()
    party_size = serializers.IntegerField()
    slots = SlotOut(many=True)


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
    reason = serializers.CharField(allow_null=True)
    capacity = CapacityOut(allow_null=True)
    alternatives = serializers.ListField(child=serializers.CharField(), help_text="HH:MM, nearest first.")


class HoldIn(serializers.Serializer[Any]):
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


class BookingIn(serializers.Serializer[Any]):
    restaurant = serializers.SlugField()
    date = serializers.DateField()
    time = serializers.TimeField()
    party_size = serializers.IntegerField(min_value=1, max_value=MAX_PARTY_SIZE)
    guest_name = serializers.CharField(max_length=200)
    guest_email = serializers.EmailField(required=False, allow_blank=True, default="")
    guest_phone = serializers.RegexField(
        r"^\+?[0-9 ()./-]{0,31}$", max_length=32, required=False, allow_blank=True, default=""
    )
    notes = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
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

    reference = serializers.CharField()
    restaurant = serializers.CharField()
    status = serializers.ChoiceField(choices=Booking.Status.choices)
    status_reason = serializers.CharField(allow_blank=True)
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
