"""The waitlist API (issue 17): join, read by token, accept or decline an offer."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

import flags
from bookings.api.serializers import MAX_PARTY_SIZE, BookingOut, GuestTextField, HourMinuteField
from bookings.api.views import (
    COMMON_ERRORS,
    ERROR,
    IDEMPOTENCY_HEADER,
    PARTY_TOO_LARGE_TEXT,
    PublicView,
    _errors,
    _idempotency_key,
    _versions,
)
from bookings.config import config_at
from bookings.models import WaitlistEntry
from bookings.refusals import refuse_party_too_large
from bookings.selectors import booking_public
from bookings.services.idempotency import IdempotencyRequest, StoredResponse, request_fingerprint
from bookings.services.waitlist import WaitlistRequest, waitlist_by_token, waitlist_decline, waitlist_join
from bookings.services.waitlist_accept import waitlist_accept
from reservex.api import FlatSerializer


class WaitlistIn(FlatSerializer):
    date = serializers.DateField()
    earliest_time = serializers.TimeField(help_text="The earliest start time the guest accepts (local).")
    latest_time = serializers.TimeField(help_text="The latest start time the guest accepts (local).")
    party_size = serializers.IntegerField(min_value=1, max_value=MAX_PARTY_SIZE)
    guest_name = GuestTextField(max_length=200)
    guest_email = serializers.EmailField(required=False, allow_blank=True, default="")
    guest_phone = serializers.RegexField(
        r"^\+?[0-9 ()./-]{0,31}$", max_length=32, required=False, allow_blank=True, default=""
    )
    notes = GuestTextField(max_length=1000, required=False, allow_blank=True, default="")
    # Declared fields are collected by DRF's metaclass, so this does not shadow Field.source.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["api", "widget"], required=False, default="api"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["earliest_time"] > attrs["latest_time"]:
            raise ValidationError({"latest_time": ["Must not be before earliest_time."]})
        if not (attrs["guest_email"] or attrs["guest_phone"].strip()):
            raise ValidationError({"guest_email": ["An email or a phone number is needed for the offer."]})
        return attrs


class OfferOut(serializers.Serializer[Any]):
    starts_at = serializers.DateTimeField(help_text="The held time.")
    expires_at = serializers.DateTimeField(help_text="Accept before this; then the table passes on.")


class WaitlistOut(serializers.Serializer[Any]):
    """What the holder of the token sees: the wait, the open offer, the booking; no contact details."""

    token = serializers.CharField(help_text="The entry's secret: keep it private, like a password.")
    restaurant = serializers.CharField(source="restaurant.slug")
    status = serializers.ChoiceField(choices=WaitlistEntry.Status.choices)
    date = serializers.DateField()
    earliest_time = HourMinuteField()
    latest_time = HourMinuteField()
    party_size = serializers.IntegerField()
    position = serializers.IntegerField(
        allow_null=True, help_text="Place in line for the day (1 = next); null unless waiting."
    )
    offer = OfferOut(allow_null=True, help_text="The open offer, while there is one.")
    booking = BookingOut(allow_null=True, help_text="The booking the accepted offer became.")
    status_url = serializers.CharField()


def waitlist_answer(entry: WaitlistEntry) -> dict[str, Any]:
    """Return the public view of an entry (one more statement for the position while waiting)."""
    position = None
    if entry.status == WaitlistEntry.Status.WAITING:
        position = (
            WaitlistEntry.objects.filter(
                restaurant_id=entry.restaurant_id,
                date=entry.date,
                status=WaitlistEntry.Status.WAITING,
                created_at__lte=entry.created_at,
            ).count()
            or 1
        )
    offer = None
    if entry.status == WaitlistEntry.Status.OFFERED and entry.hold is not None:
        offer = {"starts_at": entry.hold.starts_at, "expires_at": entry.offer_expires_at}
    booking = booking_public(entry.booking) if entry.booking is not None else None
    return dict(
        WaitlistOut(
            {
                "token": entry.token,
                "restaurant": entry.restaurant,
                "status": entry.status,
                "date": entry.date,
                "earliest_time": entry.earliest_time,
                "latest_time": entry.latest_time,
                "party_size": entry.party_size,
                "position": position,
                "offer": offer,
                "booking": booking,
                "status_url": reverse("waitlist-detail", args=[entry.token]),
            }
        ).data
    )


class WaitlistJoinView(PublicView):
    @extend_schema(
        operation_id="waitlist_join",
        request=WaitlistIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: OpenApiResponse(WaitlistOut, description="On the list; an offer follows a free table."),
            400: OpenApiResponse(
                ERROR, description="VALIDATION_ERROR (missing Idempotency-Key or contact), PARSE_ERROR"
            ),
            404: OpenApiResponse(ERROR, description="NOT_FOUND: no such restaurant"),
            409: OpenApiResponse(
                ERROR,
                description="WAITLIST_UNAVAILABLE (day past, closed or beyond the horizon), "
                "IDEMPOTENCY_IN_PROGRESS with Retry-After",
            ),
            422: OpenApiResponse(
                ERROR, description=f"IDEMPOTENCY_KEY_REUSED: same key, another body; {PARTY_TOO_LARGE_TEXT}"
            ),
            429: OpenApiResponse(ERROR, description="RATE_LIMITED with Retry-After"),
        },
        summary="Wait for a table on a day, within a window of start times",
    )
    def post(self, request: Request, slug: str) -> Response:
        key = _idempotency_key(request)
        serializer = WaitlistIn(data=request.data)
        if not serializer.is_valid():
            _versions(slug)  # an unknown restaurant is 404 whatever the body says
            raise ValidationError(serializer.errors)
        data = dict(serializer.validated_data)
        versions = _versions(slug, data["date"])
        config = config_at(versions.restaurant_id, versions.config_version)
        refuse_party_too_large(
            config,
            data["party_size"],
            lambda: flags.get_all(config.restaurant, version=versions.flags_version),
        )
        result = waitlist_join(
            config=config,
            request=WaitlistRequest(
                local_date=data["date"],
                earliest_time=data["earliest_time"],
                latest_time=data["latest_time"],
                party_size=data["party_size"],
                guest_name=data["guest_name"],
                guest_email=data["guest_email"],
                guest_phone=data["guest_phone"].strip(),
                notes=data["notes"],
                source=data["source"],
            ),
            idempotency=IdempotencyRequest(
                key=key, fingerprint=request_fingerprint({"waitlist": dict(request.data)})
            ),
            render=lambda entry: (201, waitlist_answer(entry)),
        )
        if isinstance(result, StoredResponse):
            return Response(result.body, status=result.status)
        return Response(waitlist_answer(result), status=status.HTTP_201_CREATED)


TOKEN_ERRORS = _errors((404, "NOT_FOUND: no entry has that token"), *COMMON_ERRORS)


class WaitlistDetailView(PublicView):
    @extend_schema(
        operation_id="waitlist_read",
        responses={200: WaitlistOut, **TOKEN_ERRORS},
        summary="Read a waitlist entry by its token: place in line, open offer, booking",
    )
    def get(self, request: Request, token: str) -> Response:
        return Response(waitlist_answer(waitlist_by_token(token)))


class WaitlistAcceptView(PublicView):
    @extend_schema(
        operation_id="waitlist_accept",
        request=None,
        responses={
            200: OpenApiResponse(WaitlistOut, description="Accepted: `booking` is the confirmed booking."),
            **TOKEN_ERRORS,
            409: OpenApiResponse(
                ERROR, description="OFFER_NOT_OPEN (still waiting, declined, cancelled), CAPACITY_EXCEEDED"
            ),
            410: OpenApiResponse(ERROR, description="OFFER_EXPIRED"),
            503: OpenApiResponse(ERROR, description="BUSY_RETRY with Retry-After"),
        },
        summary="Accept the open offer: its held table becomes a confirmed booking (safe to repeat)",
    )
    def post(self, request: Request, token: str) -> Response:
        entry, _ = waitlist_accept(token=token)
        return Response(waitlist_answer(entry))


class WaitlistDeclineView(PublicView):
    @extend_schema(
        operation_id="waitlist_decline",
        request=None,
        responses={
            200: OpenApiResponse(
                WaitlistOut, description="Declined (the table passes on), or off the list while waiting."
            ),
            **TOKEN_ERRORS,
            409: OpenApiResponse(ERROR, description="OFFER_NOT_OPEN (accepted or expired)"),
        },
        summary="Decline the open offer, or leave the waitlist while waiting",
    )
    def post(self, request: Request, token: str) -> Response:
        return Response(waitlist_answer(waitlist_decline(token=token)))
