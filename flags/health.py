"""Health of the flags in force, for /readyz and start-up."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError

from flags.selectors import problems_in_force

logger = logging.getLogger("reservex.flags")


def contradictions() -> list[str]:
    """Return what is wrong with the flags in force here: contradictions and unusable overrides.

    Each entry reads "[scope] what is wrong". Empty means healthy. Never raises: when the
    database cannot be read, this returns [] and the database check of /readyz reports it.
    """
    try:
        problems = problems_in_force(settings.RESERVEX_ENV)
    except DatabaseError as exc:
        logger.warning("could not read flag overrides: %s", exc)
        return []
    return [str(problem) for problem in problems]
