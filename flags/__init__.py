"""Feature flags: ``flags.get(key, restaurant=None)`` is the one read path.

The value in force is the restaurant's override, else the global override, else the registry's
default for ``settings.RESERVEX_ENV``. Overrides change only through flags.services (two people,
or an audited kill switch); see docs/feature-flags.md.
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


def get(key: str, restaurant: Any = None) -> Any:
    """Return the flag's value in force for this restaurant (or globally when restaurant is None)."""
    # Imported here: this package is imported while apps load, before models may be.
    from django.conf import settings

    from flags import store

    flag = get_flag(key)
    restaurant_values, global_values = store.overrides(restaurant_id_of(restaurant))
    if key in restaurant_values:
        return restaurant_values[key]
    if key in global_values:
        return global_values[key]
    return flag.default_for(settings.RESERVEX_ENV)


def get_all(restaurant: Any = None) -> dict[str, Any]:
    """Return every flag's value in force for this restaurant, for the price of one ``get``."""
    from django.conf import settings

    from flags import store

    restaurant_values, global_values = store.overrides(restaurant_id_of(restaurant))
    values = {key: flag.default_for(settings.RESERVEX_ENV) for key, flag in REGISTRY.items()}
    values.update(global_values)
    values.update(restaurant_values)
    return values


__all__ = ["UnknownFlag", "get", "get_all", "get_flag", "restaurant_id_of"]
