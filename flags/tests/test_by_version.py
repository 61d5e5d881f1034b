"""Flag values kept per process by the flags version (flags.get_all(version=...)): the booking
path's flags cost no round trip, and any change to what decides a value moves the version in the
same transaction, however it is written, so kept values are never older than the version read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import flags
from bookings.config import restaurant_versions
from bookings.models import Restaurant
from flags.models import Cohort, CohortMember, FlagOverride, FlagsVersion

pytestmark = pytest.mark.django_db

ENFORCEMENT = "capacity.enforcement"


def version() -> int:
    return FlagsVersion.objects.get(pk=1).value


def test_every_kind_of_write_moves_the_version_to_a_new_value(alice_restaurant: Restaurant) -> None:
    seen = [version()]
    FlagOverride.objects.create(key=ENFORCEMENT, restaurant_id=None, value="shadow")
    seen.append(version())
    FlagOverride.objects.filter(key=ENFORCEMENT).update(value="enforce")  # a bulk update: no signal
    seen.append(version())
    cohort = Cohort.objects.create(name="beta-partners")
    CohortMember.objects.create(cohort=cohort, restaurant_id=alice_restaurant.pk)
    seen.append(version())
    FlagOverride.objects.all().delete()
    seen.append(version())
    assert seen == sorted(set(seen))  # always moved, never back to a value used before


def test_the_restaurant_versions_statement_reads_it(alice_restaurant: Restaurant) -> None:
    versions = restaurant_versions(alice_restaurant.slug)
    assert versions is not None and versions.flags_version == version()


def test_values_at_a_version_come_from_memory_the_second_time(alice_restaurant: Restaurant) -> None:
    versions = restaurant_versions(alice_restaurant.slug)
    assert versions is not None
    first = flags.get_all(alice_restaurant, version=versions.flags_version)
    with CaptureQueriesContext(connection) as queries:
        again = flags.get_all(alice_restaurant, version=versions.flags_version)
    assert again == first and len(queries) == 0
    again[ENFORCEMENT] = "changed by a caller"  # a copy: the kept values stay as read
    assert flags.get_all(alice_restaurant, version=versions.flags_version) == first


def test_a_change_is_seen_at_the_next_version_even_with_the_shared_cache_unaware(
    alice_restaurant: Restaurant, set_flags: Callable[..., Any]
) -> None:
    before = restaurant_versions(alice_restaurant.slug)
    assert before is not None
    assert flags.get_all(alice_restaurant, version=before.flags_version)[ENFORCEMENT] != "shadow"
    flags.get_all(alice_restaurant)  # the shared cache now holds the values before the change
    # A write behind the services' back: the shared cache is not told, the version still moves.
    FlagOverride.objects.create(key=ENFORCEMENT, restaurant_id=alice_restaurant.pk, value="shadow")
    after = restaurant_versions(alice_restaurant.slug)
    assert after is not None and after.flags_version != before.flags_version
    assert flags.get_all(alice_restaurant, version=after.flags_version)[ENFORCEMENT] == "shadow"
