"""The start-up check: warn about contradictory or unusable flags in force (flags.W001/W002)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning
from django.db import DatabaseError

from flags.selectors import Problem, problems_in_force, registry_default_problems

_IDS = {"contradiction": "flags.W001", "invalid_override": "flags.W002"}


def _warning(problem: Problem) -> CheckMessage:
    return Warning(str(problem), hint=problem.hint, id=_IDS[problem.kind])


def check_flags(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report contradictions among the registry defaults and among the flags in force."""
    # Warnings, not errors: an emergency state may be deliberate, and start-up must not be blocked.
    messages = [_warning(problem) for problem in registry_default_problems()]
    try:
        in_force = problems_in_force(settings.RESERVEX_ENV)
    except DatabaseError:
        # Before the first migrate the table does not exist; with no database there is nothing
        # to report and Django's own checks say why.
        return messages
    return messages + [_warning(problem) for problem in in_force]
