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


def _values(restaurant: Any, *, from_database: bool = False) -> dict[str, Any]:
    # Imported here: this package is imported while apps load, before models may be.
    from django.conf import settings

    from flags import store
    from flags.targeting import resolve_all

    restaurant_id = restaurant_id_of(restaurant)
    layers = store.layers(restaurant_id, from_database=from_database)
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


def get_all(restaurant: Any = None, *, version: int | None = None) -> dict[str, Any]:
    """Return every flag's value in force for this restaurant, for the price of one ``get``.

    With ``version`` (flags.models.FlagsVersion's value, read by the caller just before, as the
    booking path does with the restaurant's versions), the values come from this process's memory
    when they were read at that version: no round trip at all. Otherwise they are read from the
    database (not the shared cache, which may still hold what the change replaced) and kept. Read
    after the version, they are never older than it.
    """
    if version is None:
        return _values(restaurant)
    from django.conf import settings

    key = (restaurant_id_of(restaurant), settings.RESERVEX_ENV)
    held = _by_version.get(key)
    if held is None or held[0] != version:
        held = _by_version[key] = (version, _values(restaurant, from_database=True))
    return dict(held[1])


# (restaurant id, environment) -> (flags version, values): one entry per restaurant, the latest.
_by_version: dict[tuple[int | None, str], tuple[int, dict[str, Any]]] = {}


def forget_versions() -> None:
    """Drop the values kept by version (tests start each from nothing)."""
    _by_version.clear()


__all__ = ["UnknownFlag", "forget_versions", "get", "get_all", "get_flag", "restaurant_id_of"]
