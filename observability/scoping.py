"""Which restaurants a user may see telemetry of, without importing bookings (DESIGN §2).

observability knows one thing about restaurants: users have a ``restaurants`` relation (the staff
of bookings.Restaurant). The restaurant model is reached through that relation's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Model


@dataclass(frozen=True)
class RestaurantRef:
    id: int
    name: str
    timezone: str


def restaurant_model() -> type[Model]:
    """Return the model behind ``user.restaurants``."""
    model = get_user_model()._meta.get_field("restaurants").related_model
    assert isinstance(model, type)
    return model


def visible_restaurants(user: Any) -> list[RestaurantRef]:
    """Return the restaurants whose telemetry ``user`` may see: all for superusers, else their own."""
    if not (user.is_active and user.is_staff):
        return []
    queryset = restaurant_model()._default_manager.all() if user.is_superuser else user.restaurants.all()
    return [
        RestaurantRef(id=pk, name=name, timezone=tz)
        for pk, name, tz in queryset.order_by("name").values_list("id", "name", "timezone")
    ]
