"""The database refuses rows that break the domain's simple rules, whatever path wrote them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import time, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.models import CapacityRule, IdempotencyKey, Restaurant, TableAdjacency
from bookings.tests.factories import (
    BookingFactory,
    RestaurantFactory,
    ServicePeriodFactory,
    TableFactory,
)

pytestmark = pytest.mark.django_db


@contextmanager
def refused(constraint: str) -> Iterator[None]:
    """Expect the database to refuse the statement because of this named constraint."""
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        yield


def test_party_size_must_be_positive() -> None:
    with refused("booking_party_positive"):
        BookingFactory(party_size=0)


def test_booking_must_start_before_it_ends() -> None:
    booking = BookingFactory()
    with refused("booking_starts_before_ends"):
        BookingFactory(restaurant=booking.restaurant, starts_at=booking.starts_at, ends_at=booking.starts_at)


def test_table_min_party_cannot_exceed_max() -> None:
    with refused("table_min_le_max"):
        TableFactory(min_party=6, max_party=4)


def test_table_labels_are_unique_per_restaurant() -> None:
    table = TableFactory(label="A1")
    TableFactory(label="A1")  # another restaurant may reuse it
    with refused("table_unique_label"):
        TableFactory(label="A1", restaurant=table.restaurant)


def test_period_must_open_before_it_closes() -> None:
    with refused("period_(opens_before_closes|last_seating_within)"):
        ServicePeriodFactory(opens=time(22, 0), closes=time(17, 0), last_seating=time(21, 0))


def test_pacing_cannot_exceed_covers() -> None:
    period = ServicePeriodFactory()
    with refused("rule_pacing_within_covers"):
        CapacityRule.objects.create(period=period, max_covers=10, pacing_covers=12)


def test_adjacency_is_stored_once_with_the_lower_id_first() -> None:
    a = TableFactory()
    b = TableFactory(restaurant=a.restaurant)
    TableAdjacency.objects.create(restaurant=a.restaurant, table_a=a, table_b=b)
    with refused("adjacency_ordered_pair"):
        TableAdjacency.objects.create(restaurant=a.restaurant, table_a=b, table_b=a)
    with refused("adjacency_unique_pair"):
        TableAdjacency.objects.create(restaurant=a.restaurant, table_a=a, table_b=b)


def test_idempotency_keys_are_unique_per_restaurant() -> None:
    restaurant: Restaurant = RestaurantFactory()
    expires = timezone.now() + timedelta(hours=24)
    IdempotencyKey.objects.create(restaurant=restaurant, key="k-1", fingerprint="f", expires_at=expires)
    IdempotencyKey.objects.create(
        restaurant=RestaurantFactory(), key="k-1", fingerprint="f", expires_at=expires
    )
    with refused("idempotency_unique_key"):
        IdempotencyKey.objects.create(restaurant=restaurant, key="k-1", fingerprint="g", expires_at=expires)
