"""Idempotency-Key: one booking per key, claimed inside the booking's own transaction (decision 0004)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from bookings.errors import (
    DomainError,
    IdempotencyInProgress,
)
from bookings.models import Booking, IdempotencyKey
from flags.registry import INLINE_TIMEOUT_CEILING_MS

logger = logging.getLogger(__name__)


IDEMPOTENCY_TTL = timedelta(hours=24)


# An unbound claim older than this belongs to a request that died (see idempotency_claim).
IDEMPOTENCY_STALE_AFTER = timedelta(seconds=INLINE_TIMEOUT_CEILING_MS / 1000 + 5)


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = 422


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


def request_fingerprint(body: dict[str, Any]) -> str:
    """Return a stable hash of the request body (key order and whitespace do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IdempotencyRequest:
    """The Idempotency-Key of a request and the fingerprint of its body."""

    key: str
    fingerprint: str


_CLAIM_SQL = """
INSERT INTO bookings_idempotencykey (restaurant_id, key, fingerprint, state, created_at, expires_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (restaurant_id, key) DO NOTHING
RETURNING id
"""


def idempotency_claim(
    *, restaurant_id: int, request: IdempotencyRequest, now: datetime
) -> int | StoredResponse | Booking:
    """Claim the key inside the booking's transaction; return the new key's id, or what answers it.

    The claim commits or rolls back with the booking: a request that dies before its commit leaves
    no claim behind, so the retry is processed at once. A concurrent request with the same key
    waits on the first one's insert and then sees its committed answer. Returns the stored answer
    of a finished request, or the booking of one still assigning tables (its poll URL answers).
    Raises IdempotencyKeyReused for the same key with another body.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("idempotency_claim must run inside the booking's transaction")
    params = [
        restaurant_id,
        request.key,
        request.fingerprint,
        IdempotencyKey.State.IN_PROGRESS,
        now,
        now + IDEMPOTENCY_TTL,
    ]
    for _ in range(2):
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, params)
            inserted = cursor.fetchone()
        if inserted is not None:
            return int(inserted[0])
        row = IdempotencyKey.objects.filter(restaurant_id=restaurant_id, key=request.key).first()
        if row is None:
            continue  # deleted between the two statements (purged); claim again
        if row.expires_at <= now:
            IdempotencyKey.objects.filter(pk=row.pk).delete()
            continue
        if row.fingerprint != request.fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
        if row.state == IdempotencyKey.State.COMPLETED and row.response_status is not None:
            return StoredResponse(status=row.response_status, body=row.response_body or {})
        if row.booking_id is not None:
            return Booking.objects.select_related("restaurant").get(pk=row.booking_id)
        # A claim without a booking is written only by a release that claimed keys in a transaction
        # of their own: its request may still be running; once stale, it is gone and is taken over.
        if row.created_at > now - IDEMPOTENCY_STALE_AFTER:
            raise IdempotencyInProgress()
        IdempotencyKey.objects.filter(pk=row.pk).delete()
    raise IdempotencyInProgress()


def idempotency_complete(*, key_id: int, booking_id: int | None, status: int, body: dict[str, Any]) -> None:
    """Store the answer for replays (inside the booking's transaction, or after its inline retries)."""
    IdempotencyKey.objects.filter(pk=key_id).update(
        state=IdempotencyKey.State.COMPLETED,
        response_status=status,
        response_body=body,
        booking_id=booking_id,
    )


def idempotency_purge_expired(*, now: datetime | None = None) -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
