"""The load test's reference: the thinnest Django + DRF endpoint that writes what a booking writes.

``make loadtest`` serves it beside ReserveX, in the same gunicorn, on the same database, and runs the
same load against both (``locustfiles/compare.py``): ReserveX's bookings/s and p95 are reported as a
ratio to this endpoint (DESIGN §10). It writes one ``Booking`` row (confirmed) and one
``TableOccupancy`` row per table, in one transaction, and nothing else: no capacity check, no
planner (the client names the tables), no idempotency, no throttles, no telemetry. The exclusion
constraint still guards the occupancy rows; a clash is answered 409.

Mounted only when ``RESERVEX_LOADTEST_REFERENCE=1`` (reservex/urls.py), at
``POST /loadtest/reference/bookings``::

    {"restaurant": "stress-001", "date": "2026-12-01", "time": "19:00", "party_size": 2,
     "tables": ["S1-01"], "guest_name": "…", "guest_email": "…", "guest_phone": "…"}

The load test sends ``guest_name`` = ``common.REFERENCE_GUEST`` so that the harness can delete these
rows before ``check_integrity`` judges the run: they ignore the capacity rules on purpose.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.urls import path
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.models import Booking, Table, TableOccupancy
from locustfiles.common import REFERENCE_GUEST

__all__ = ["REFERENCE_GUEST", "ReferenceBookingView", "urlpatterns"]


class ReferenceBookingIn(serializers.Serializer[dict[str, object]]):
    restaurant = serializers.SlugField(max_length=50)
    date = serializers.DateField()
    time = serializers.TimeField()
    party_size = serializers.IntegerField(min_value=1, max_value=100)
    tables = serializers.ListField(
        child=serializers.CharField(max_length=32), min_length=1, max_length=8, allow_empty=False
    )
    guest_name = serializers.CharField(max_length=200)
    guest_email = serializers.EmailField(required=False, allow_blank=True, default="")
    guest_phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


class ReferenceBookingView(APIView):
    """POST a booking onto the named tables: one SELECT, then INSERT booking + occupancy, one commit."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    throttle_classes: list[type] = []

    def post(self, request: Request) -> Response:
        incoming = ReferenceBookingIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        labels = set(data["tables"])
        tables = list(
            Table.objects.select_related("restaurant").filter(
                restaurant__slug=data["restaurant"], label__in=labels
            )
        )
        if len(tables) != len(labels):
            return Response({"error": "NOT_FOUND", "message": "No such restaurant or table."}, status=404)
        restaurant = tables[0].restaurant
        starts_at = datetime.combine(data["date"], data["time"], tzinfo=ZoneInfo(restaurant.timezone))
        ends_at = starts_at + restaurant.turn_time(data["party_size"])
        try:
            with transaction.atomic():
                booking = Booking.objects.create(
                    restaurant=restaurant,
                    party_size=data["party_size"],
                    starts_at=starts_at,
                    ends_at=ends_at,
                    guest_name=data["guest_name"],
                    guest_email=data["guest_email"],
                    guest_phone=data["guest_phone"],
                    status=Booking.Status.CONFIRMED,
                    confirmed_at=timezone.now(),
                )
                TableOccupancy.objects.bulk_create(
                    TableOccupancy(
                        restaurant=restaurant,
                        table=table,
                        during=(starts_at, ends_at),
                        kind=TableOccupancy.Kind.ASSIGNMENT,
                        booking=booking,
                    )
                    for table in tables
                )
        except IntegrityError:
            return Response({"error": "SLOT_UNAVAILABLE", "message": "A table is taken."}, status=409)
        return Response(
            {
                "reference": booking.reference,
                "status": booking.status,
                "starts_at": starts_at.isoformat(),
                "tables": sorted(labels),
            },
            status=201,
        )


urlpatterns = [path("bookings", ReferenceBookingView.as_view(), name="loadtest-reference-booking")]
