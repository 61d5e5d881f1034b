"""Feature flags: ``flags.get(key, restaurant=None)`` is the one read path."""

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


def get(key: str, restaurant: Any = None) -> Any:
    """Return the flag's value in force for this restaurant (or globally when restaurant is None)."""
    from django.conf import settings

    flag = get_flag(key)
    return flag.default_for(settings.RESERVEX_ENV)


__all__ = ["UnknownFlag", "get", "get_flag"]
