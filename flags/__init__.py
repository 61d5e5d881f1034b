"""Feature flags: ``flags.get(key, restaurant=None)`` is the one read path.

The value in force is the restaurant's override, else a cohort target of one of its cohorts, else
the percentage target when the restaurant's stable bucket falls under it, else the global override,
else the registry's default for ``settings.RESERVEX_ENV`` (flags.targeting). All of it comes from
one cached round trip (flags.store). Values change only through flags.services (two people, or an
audited kill switch); see docs/feature-flags.md.
"""

from __future__ import annotations

from typing import Any

from flags.registry import REGISTRY, Flag


class UnknownFlag(KeyError):
    pass


def get_flag(key: str) -> Flag:
    try:
        return REGISTRY[key]
    except KeyError:
        raise UnknownFlag(key) from None


def restaurant_id_of(restaurant: Any) -> int | None:
    """Return the id of a restaurant given as a model instance, an int id or None."""
    if restaurant is None or isinstance(restaurant, int):
        return restaurant
    return int(restaurant.pk)


def _values(restaurant: Any) -> dict[str, Any]:
    # Imported here: this package is imported while apps load, before models may be.
    from django.conf import settings

    from flags import store
    from flags.targeting import resolve_all

    restaurant_id = restaurant_id_of(restaurant)
    layers = store.layers(restaurant_id)
    return resolve_all(
        defaults={key: flag.default_for(settings.RESERVEX_ENV) for key, flag in REGISTRY.items()},
        global_overrides=layers.global_overrides,
        targets=layers.targets,
        restaurant_id=restaurant_id,
        restaurant_overrides=layers.restaurant_overrides,
        cohorts_of_restaurant=layers.cohorts,
    )


def get(key: str, restaurant: Any = None) -> Any:
    """Return the flag's value in force for this restaurant (or globally when restaurant is None)."""
    get_flag(key)
    return _values(restaurant)[key]


def get_all(restaurant: Any = None) -> dict[str, Any]:
    """Return every flag's value in force for this restaurant, for the price of one ``get``."""
    return _values(restaurant)


__all__ = ["UnknownFlag", "get", "get_all", "get_flag", "restaurant_id_of"]
