"""The public and staff API (DESIGN §6). Views validate, call a service, serialise."""

from __future__ import annotations

import time as clock
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import permissions, status
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import flags
from bookings.api import serializers as s
from bookings.availability import add_alternatives, availability_at, availability_day_cached
from bookings.config import RestaurantVersions, config_at, restaurant_versions
from bookings.errors import CapacityExceeded, SlotUnavailable
from bookings.models import Booking, Restaurant
from bookings.refusals import day_reason, refuse_party_too_large
from bookings.selectors import booking_public, booking_staff, staff_day, tables_by_booking
from bookings.services.admission import BookingRequest
from bookings.services.changes import booking_cancel, booking_move, booking_set_status
from bookings.services.create import BookingOutcome, booking_submit
from bookings.services.holds import hold_create, hold_release
from bookings.services.idempotency import IdempotencyRequest, StoredResponse, request_fingerprint
from bookings.services.staff import booking_staff_create, staff_booking_request
from bookings.slots import local_datetime
from observability import metrics
from observability.models import AllocationAttempt
from reservex.api import PUBLIC_THROTTLES, ErrorEnvelopeSerializer

ERROR = ErrorEnvelopeSerializer


def _errors(*codes: tuple[int, str]) -> dict[int, OpenApiResponse]:
    return {status_code: OpenApiResponse(ERROR, description=text) for status_code, text in codes}


PARTY_TOO_LARGE_TEXT = (
    "PARTY_TOO_LARGE: no table set of the restaurant seats the party at any time; the message says "
    "how to reach the restaurant, `contact` has its phone and email where known"
)

COMMON_ERRORS = (
    (400, "VALIDATION_ERROR, PARSE_ERROR (malformed JSON)"),
    (429, "RATE_LIMITED (with Retry-After)"),
)


def _restaurant(slug: str) -> Restaurant:
    """Return the restaurant (configuration in force, one short statement when cached), or 404."""
    versions = _versions(slug)
    return config_at(versions.restaurant_id, versions.config_version).restaurant


def _versions(slug: str, day: date | None = None, key: str | None = None) -> RestaurantVersions:
    """Return the restaurant's id and the versions its answers depend on (one statement), or 404."""
    versions = restaurant_versions(slug, day, key)
    if versions is None:
        raise Http404("No such restaurant.")
    return versions


def _valid_for_day(
    serializer_class: type[s.serializers.Serializer[Any]], data: Any, slug: str
) -> tuple[dict[str, Any], RestaurantVersions]:
    """Validate a request about one day of a restaurant; return it with the restaurant's versions.

    An unknown restaurant is 404 whatever the rest of the request says.
    """
    try:
        valid = _valid(serializer_class, data)
    except ValidationError:
        _versions(slug)
        raise
    return valid, _versions(slug, valid["date"])


def _valid(serializer_class: type[s.serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class PublicView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = PUBLIC_THROTTLES


class AvailabilityView(PublicView):
    @extend_schema(
        operation_id="availability",
        parameters=[s.AvailabilityQuery],
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="AvailabilityOut",
                    serializers=[s.DayAvailabilityOut, s.TimeAvailabilityOut],
                    resource_type_field_name=None,
                ),
                description="All slots of the day (DayAvailabilityOut); with `time`, a TimeAvailabilityOut.",
            ),
            404: OpenApiResponse(ERROR, description="NOT_FOUND: no such restaurant"),
            **_errors(*COMMON_ERRORS),
        },
        summary="Available times of a day for a party size, or one time with alternatives",
    )
    def get(self, request: Request, slug: str) -> Response:
        started = clock.perf_counter()
        query, versions = _valid_for_day(s.AvailabilityQuery, request.query_params, slug)
        config = config_at(versions.restaurant_id, versions.config_version)
        restaurant = config.restaurant
        now = timezone.now()
        day = availability_day_cached(versions, query["date"], query["party_size"], now=now, config=config)
        # Why nothing can be booked that day, if so: the guest is told, not shown an empty list.
        reason, message = day_reason(
            config,
            query["date"],
            query["party_size"],
            day,
            now=now,
            flag_values=lambda: flags.get_all(restaurant, version=versions.flags_version),
        )
        if query.get("time") is not None:
            answer = availability_at(
                restaurant, query["date"], query["time"], query["party_size"], now=now, day=day
            )
            slot = answer.slot
            body: dict[str, Any] = s.TimeAvailabilityOut(
                {
                    "restaurant": restaurant.slug,
                    "date": query["date"],
                    "time": query["time"],
                    "party_size": query["party_size"],
                    "available": answer.available,
                    "reason": slot.reason if slot else reason or "outside_service",
                    "capacity": {
                        "max_covers": slot.max_covers,
                        "booked_covers": slot.booked_covers,
                        "utilization_percent": slot.utilization_percent,
                    }
                    if slot
                    else None,
                    "alternatives": [t.strftime("%H:%M") for t in answer.alternatives],
                    "day_reason": reason,
                    "message": message,
                }
            ).data
        else:
            body = s.DayAvailabilityOut(
                {
                    "restaurant": restaurant.slug,
                    "date": query["date"],
                    "party_size": query["party_size"],
                    "slots": day,
                    "reason": reason,
                    "message": message,
                }
            ).data
        metrics.AVAILABILITY_LATENCY.observe(clock.perf_counter() - started)
        return Response(body)


class HoldCreateView(PublicView):
    @extend_schema(
        operation_id="hold_create",
        request=s.HoldIn,
        responses={
            201: s.HoldOut,
            404: OpenApiResponse(ERROR, description="NOT_FOUND"),
            409: OpenApiResponse(
                ERROR, description="CAPACITY_EXCEEDED with alternatives, SLOT_UNAVAILABLE, HOLD_CONFLICT"
            ),
            422: OpenApiResponse(ERROR, description=PARTY_TOO_LARGE_TEXT),
            503: OpenApiResponse(ERROR, description="BUSY_RETRY with Retry-After"),
            **_errors(*COMMON_ERRORS),
        },
        summary="Hold tables for a party while the guest fills in the form",
    )
    def post(self, request: Request, slug: str) -> Response:
        data, versions = _valid_for_day(s.HoldIn, request.data, slug)
        config = config_at(versions.restaurant_id, versions.config_version)
        restaurant = config.restaurant
        flag_values = flags.get_all(restaurant, version=versions.flags_version)
        refuse_party_too_large(config, data["party_size"], lambda: flag_values)
        try:
            hold = hold_create(
                restaurant=restaurant,
                party_size=data["party_size"],
                starts_at=local_datetime(restaurant, data["date"], data["time"]),
                config=config,
                flag_values=flag_values,
            )
        except (CapacityExceeded, SlotUnavailable) as exc:
            add_alternatives(
                exc,
                versions,
                data["date"],
                data["time"],
                data["party_size"],
                config=config,
                flag_values=flag_values,
            )
            raise
        return Response(s.HoldOut(hold).data, status=status.HTTP_201_CREATED)


class HoldDeleteView(PublicView):
    @extend_schema(
        operation_id="hold_release",
        responses={
            204: None,
            404: OpenApiResponse(ERROR, description="HOLD_NOT_FOUND"),
            **_errors(*COMMON_ERRORS),
        },
        summary="Release a hold (the hold id is the holder's secret)",
    )
    def delete(self, request: Request, hold_id: UUID) -> Response:
        hold_release(hold_id=hold_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    # As _create checks it: not blank, at most 255 characters.
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per booking attempt (e.g. a UUID); retries with the same key and body are safe.",
)


class BookingCreateView(PublicView):
    @extend_schema(
        operation_id="booking_create",
        request=s.BookingIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: OpenApiResponse(s.BookingOut, description="Confirmed, with tables."),
            202: OpenApiResponse(
                s.BookingOut,
                description="Pending: poll `poll_url`; the Retry-After header says when. With "
                "`awaiting_staff` true, the table is held but staff must confirm the booking (the "
                "restaurant's no-show rule; `status_reason` says why): it stays pending until they do.",
            ),
            400: OpenApiResponse(
                ERROR, description="VALIDATION_ERROR (a missing Idempotency-Key included), PARSE_ERROR"
            ),
            404: OpenApiResponse(ERROR, description="NOT_FOUND (restaurant), HOLD_NOT_FOUND"),
            409: OpenApiResponse(
                ERROR,
                description="CAPACITY_EXCEEDED with alternatives, SLOT_UNAVAILABLE, HOLD_MISMATCH, "
                "IDEMPOTENCY_IN_PROGRESS with Retry-After",
            ),
            410: OpenApiResponse(ERROR, description="HOLD_EXPIRED"),
            422: OpenApiResponse(
                ERROR,
                description=f"IDEMPOTENCY_KEY_REUSED: same key, another body; {PARTY_TOO_LARGE_TEXT}",
            ),
            429: OpenApiResponse(ERROR, description="RATE_LIMITED with Retry-After"),
            503: OpenApiResponse(ERROR, description="BUSY_RETRY with Retry-After"),
        },
        summary="Book a table: confirmed inline in milliseconds, or pending while a job finishes",
    )
    @metrics.observe_booking_requests
    def post(self, request: Request) -> Response:
        return self._create(request)

    def _create(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 255:
            raise ValidationError({"Idempotency-Key": ["This header is required (at most 255 characters)."]})
        data = _valid(s.BookingIn, request.data)
        versions = _versions(data["restaurant"], data["date"], key)
        config = config_at(versions.restaurant_id, versions.config_version)
        restaurant = config.restaurant
        # Before the cached refusal and admission, which would say "full" to a party no table seats.
        refuse_party_too_large(
            config, data["party_size"], lambda: flags.get_all(restaurant, version=versions.flags_version)
        )
        idempotency = IdempotencyRequest(key=key, fingerprint=request_fingerprint(dict(request.data)))
        booking_request = BookingRequest(
            party_size=data["party_size"],
            starts_at=local_datetime(restaurant, data["date"], data["time"]),
            guest_name=data["guest_name"],
            guest_email=data["guest_email"],
            guest_phone=data["guest_phone"],
            notes=data["notes"],
            hold_id=data["hold_id"],
            source=data["source"],
        )
        result = booking_submit(
            versions=versions,
            config=config,
            request=booking_request,
            idempotency=idempotency,
            render=_booking_answer,
        )
        if isinstance(result, StoredResponse):
            replay = Response(result.body, status=result.status, headers=_retry_after(result.status))
            replay.replayed = True  # type: ignore[attr-defined]
            return replay
        code, body = result.answer or _booking_answer(result)  # rendered already when the key stored it
        return Response(body, status=code, headers=_retry_after(code))


def _booking_answer(outcome: BookingOutcome) -> tuple[int, dict[str, Any]]:
    """Return the status and body of a booking's answer, built from what is in memory."""
    booking = outcome.booking
    attempts = [
        AllocationAttempt(
            mode=AllocationAttempt.Mode.INLINE,
            outcome=a.outcome,
            seat_waste=a.seat_waste,
            failure_reason=a.failure_reason,
        )
        for a in outcome.attempts
        if a.outcome != "already_done"
    ]
    body = s.BookingOut(
        booking_public(booking, tables=outcome.tables, attempts=attempts, inline_ms=outcome.inline_ms)
    ).data
    return (201 if booking.status == Booking.Status.CONFIRMED else 202), dict(body)


def _retry_after(status_code: int) -> dict[str, str]:
    return {"Retry-After": "2"} if status_code == 202 else {}


class BookingDetailView(PublicView):
    @extend_schema(
        operation_id="booking_read",
        responses={200: s.BookingOut, 404: OpenApiResponse(ERROR, description="NOT_FOUND"), 429: ERROR},
        summary="Read a booking by its reference (status, tables, allocation; no contact details)",
    )
    def get(self, request: Request, reference: str) -> Response:
        booking = get_object_or_404(Booking.objects.select_related("restaurant"), reference=reference)
        headers = _retry_after(202) if booking.status == Booking.Status.PENDING else {}
        return Response(s.BookingOut(booking_public(booking)).data, headers=headers)


class BookingCancelView(PublicView):
    @extend_schema(
        operation_id="booking_cancel",
        request=None,
        responses={
            200: s.BookingOut,
            404: OpenApiResponse(ERROR, description="NOT_FOUND"),
            409: OpenApiResponse(ERROR, description="INVALID_STATUS: seated, completed or rejected"),
            429: ERROR,
        },
        summary="Cancel a booking; frees its tables and capacity",
    )
    def post(self, request: Request, reference: str) -> Response:
        booking = get_object_or_404(Booking.objects.select_related("restaurant"), reference=reference)
        booking = booking_cancel(booking=booking)
        return Response(s.BookingOut(booking_public(booking)).data)


# --- staff -----------------------------------------------------------------------------------------


class IsRestaurantStaff(permissions.BasePermission):
    """Staff users with the booking permission the view names (as in admin): view or change."""

    message = "You are not staff allowed to do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        return user.has_perm(getattr(view, "required_permission", "bookings.change_booking"))


class StaffView(APIView):
    # Basic first: an anonymous caller then gets 401 with WWW-Authenticate, not 403.
    authentication_classes = [BasicAuthentication, SessionAuthentication]
    permission_classes = [IsRestaurantStaff]

    def restaurant(self, request: Request, slug: str) -> Restaurant:
        restaurant = _restaurant(slug)
        if not Restaurant.objects.managed_by(request.user).filter(pk=restaurant.pk).exists():
            raise PermissionDenied("You are not staff of this restaurant.")
        return restaurant

    def booking(self, request: Request, reference: str) -> Booking:
        booking = get_object_or_404(Booking.objects.select_related("restaurant"), reference=reference)
        if not Restaurant.objects.managed_by(request.user).filter(pk=booking.restaurant_id).exists():
            raise PermissionDenied("You are not staff of this restaurant.")
        return booking

    def actor(self, request: Request) -> int:
        """Return the id of the staff user acting (authenticated by the permission check)."""
        if request.user.pk is None:
            raise PermissionDenied("Sign in as staff.")
        return int(request.user.pk)

    def detail(self, booking: Booking) -> dict[str, Any]:
        attempts = list(AllocationAttempt.objects.filter(booking_id=booking.pk).order_by("created_at"))
        tables = tables_by_booking([booking.pk]).get(booking.pk, [])
        return dict(s.StaffBookingOut(booking_staff(booking, tables=tables, attempts=attempts)).data)


STAFF_ERRORS = _errors(
    (401, "UNAUTHORIZED"),
    (403, "FORBIDDEN: not staff of this restaurant"),
    (404, "NOT_FOUND"),
    (400, "VALIDATION_ERROR, PARSE_ERROR (malformed JSON)"),
)


class StaffDayView(StaffView):
    """The day's bookings (GET) and a booking staff take by phone or for a walk-in (POST)."""

    @property
    def required_permission(self) -> str:
        return "bookings.add_booking" if self.request.method == "POST" else "bookings.view_booking"

    @extend_schema(
        operation_id="staff_day",
        parameters=[s.StaffDayQuery],
        responses={200: s.StaffBookingOut(many=True), **STAFF_ERRORS},
        summary="The day's bookings with guest details (staff of the restaurant)",
    )
    def get(self, request: Request, slug: str) -> Response:
        restaurant = self.restaurant(request, slug)
        query = _valid(s.StaffDayQuery, request.query_params)
        return Response(s.StaffBookingOut(staff_day(restaurant, query["date"]), many=True).data)

    @extend_schema(
        operation_id="staff_booking_create",
        request=s.StaffBookingIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: OpenApiResponse(
                s.StaffBookingOut, description="Confirmed with tables, or seated (walk-in)."
            ),
            202: OpenApiResponse(
                s.StaffBookingOut, description="Pending: tables are being assigned; poll `poll_url`."
            ),
            **STAFF_ERRORS,
            403: OpenApiResponse(
                ERROR, description="FORBIDDEN (not staff of this restaurant), OVERRIDE_NOT_ALLOWED"
            ),
            409: OpenApiResponse(
                ERROR,
                description="CAPACITY_EXCEEDED with alternatives, SLOT_UNAVAILABLE, TABLES_UNAVAILABLE, "
                "IDEMPOTENCY_IN_PROGRESS with Retry-After",
            ),
            422: OpenApiResponse(ERROR, description="IDEMPOTENCY_KEY_REUSED: same key, another body"),
            503: OpenApiResponse(ERROR, description="BUSY_RETRY with Retry-After"),
        },
        summary="Take a booking: by phone for a later time, or a walk-in seated now (staff)",
    )
    def post(self, request: Request, slug: str) -> Response:
        restaurant = self.restaurant(request, slug)
        key = _idempotency_key(request)
        data = _valid(s.StaffBookingIn, request.data)
        config = config_at(restaurant.pk, restaurant.config_version)
        result = booking_staff_create(
            config=config,
            request=staff_booking_request(
                config, data, walk_in=data["walk_in"], tables=data["tables"], now=timezone.now()
            ),
            actor_id=self.actor(request),
            override=data["override"],
            idempotency=IdempotencyRequest(key=key, fingerprint=request_fingerprint(dict(request.data))),
            render=staff_booking_answer,
        )
        if isinstance(result, StoredResponse):
            return Response(result.body, status=result.status, headers=_retry_after(result.status))
        code, body = result.answer or staff_booking_answer(result)
        return Response(body, status=code, headers=_retry_after(code))


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 255:
        raise ValidationError({"Idempotency-Key": ["This header is required (at most 255 characters)."]})
    return key


def staff_booking_answer(outcome: BookingOutcome) -> tuple[int, dict[str, Any]]:
    """Return the status and body of a booking staff took (guest details included)."""
    booking = outcome.booking
    mode = (
        AllocationAttempt.Mode.STAFF
        if "chosen_by_staff" in (booking.allocation_reason or {})
        else AllocationAttempt.Mode.INLINE
    )
    attempts = [
        AllocationAttempt(
            mode=mode, outcome=a.outcome, seat_waste=a.seat_waste, failure_reason=a.failure_reason
        )
        for a in outcome.attempts
        if a.outcome != "already_done"
    ]
    body = s.StaffBookingOut(booking_staff(booking, tables=outcome.tables, attempts=attempts)).data
    return (202 if booking.status == Booking.Status.PENDING else 201), dict(body)


class StaffMoveView(StaffView):
    @extend_schema(
        operation_id="staff_move",
        request=s.StaffMoveIn,
        responses={
            200: s.StaffBookingOut,
            **STAFF_ERRORS,
            409: OpenApiResponse(
                ERROR, description="TABLES_UNAVAILABLE, CAPACITY_EXCEEDED, SLOT_UNAVAILABLE, INVALID_STATUS"
            ),
            503: OpenApiResponse(ERROR, description="BUSY_RETRY"),
        },
        summary="Move or manually assign a booking (same constraints; explicit, audited override)",
    )
    def post(self, request: Request, reference: str) -> Response:
        booking = self.booking(request, reference)
        data = _valid(s.StaffMoveIn, request.data)
        starts_at: datetime | None = None
        if "date" in data:
            starts_at = local_datetime(booking.restaurant, data["date"], data["time"])
        moved = booking_move(
            booking=booking,
            actor_id=self.actor(request),
            starts_at=starts_at,
            table_labels=data.get("tables") or None,
            override=data["override"],
        )
        return Response(self.detail(moved))


class StaffStatusView(StaffView):
    @extend_schema(
        operation_id="staff_status",
        request=s.StaffStatusIn,
        responses={
            200: s.StaffBookingOut,
            **STAFF_ERRORS,
            409: OpenApiResponse(ERROR, description="INVALID_STATUS"),
        },
        summary="Mark a booking seated, completed, no-show or cancelled",
    )
    def post(self, request: Request, reference: str) -> Response:
        booking = self.booking(request, reference)
        data = _valid(s.StaffStatusIn, request.data)
        updated = booking_set_status(booking=booking, status=data["status"], actor_id=self.actor(request))
        return Response(self.detail(updated))
