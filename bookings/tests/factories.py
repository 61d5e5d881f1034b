"""factory-boy factories for the booking domain."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import factory
from django.contrib.auth import get_user_model

from bookings.models import Booking, CapacityRule, Restaurant, ServicePeriod, Table, TableAdjacency


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password("correct-horse-battery")


class RestaurantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Restaurant
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"restaurant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    timezone = "UTC"


class TableFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Table

    restaurant = factory.SubFactory(RestaurantFactory)
    label = factory.Sequence(lambda n: f"T{n}")
    section = "main"
    min_party = 1
    max_party = 4


class ServicePeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServicePeriod

    restaurant = factory.SubFactory(RestaurantFactory)
    kind = ServicePeriod.Kind.DINNER
    weekday = 0
    opens = time(17, 0)
    closes = time(23, 0)
    last_seating = time(21, 0)


class CapacityRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CapacityRule

    period = factory.SubFactory(ServicePeriodFactory)
    max_covers = None
    max_parties = None
    pacing_covers = None


class BookingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Booking

    restaurant = factory.SubFactory(RestaurantFactory)
    party_size = 2
    starts_at = factory.LazyFunction(lambda: datetime(2030, 1, 7, 19, 0, tzinfo=UTC))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=90))
    guest_name = "Ada Lovelace"
    guest_email = "ada@example.org"
    guest_phone = "+44 1223 555 0100"


def adjacency(a: Table, b: Table) -> TableAdjacency:
    low, high = sorted([a, b], key=lambda t: t.pk)
    return TableAdjacency.objects.create(restaurant=a.restaurant, table_a=low, table_b=high)


def open_every_day(restaurant: Restaurant, **rule: Any) -> None:
    """Give the restaurant a 17:00–23:00 dinner period every weekday with the given limits."""
    for weekday in range(7):
        period = ServicePeriodFactory(restaurant=restaurant, weekday=weekday)
        CapacityRuleFactory(period=period, **rule)


def two_fours_restaurant(slug: str) -> Restaurant:
    """Open every day with two four-tops that join (F1+F2: the only place for six) and two two-tops."""
    restaurant = RestaurantFactory(slug=slug, name="Two Fours")
    open_every_day(restaurant)
    f1 = TableFactory(restaurant=restaurant, label="F1", max_party=4)
    f2 = TableFactory(restaurant=restaurant, label="F2", max_party=4)
    TableFactory(restaurant=restaurant, label="C1", max_party=2)
    TableFactory(restaurant=restaurant, label="C2", max_party=2)
    adjacency(f1, f2)
    return restaurant
