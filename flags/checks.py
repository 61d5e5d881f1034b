"""The start-up check: warn about contradictory or unusable flags (flags.W001 / flags.W002).

Contradictions among the registry defaults are reported by every check run. The flags in force
live in the database, so, following Django's convention for checks that query it, they are
checked only when Django names the databases: ``migrate`` (run before ReserveX starts, by
``make run`` and the deployment's migrate job) and ``manage.py check --database default``.
Otherwise a command run with the database away (a build step) would wait out the connection
pool's timeout. ``flags.health.contradictions()`` reports the same findings at run time (/readyz).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning
from django.db import DatabaseError

from flags.selectors import Problem, problems_in_force, registry_default_problems

_IDS = {"contradiction": "flags.W001", "invalid_override": "flags.W002"}


def _warning(problem: Problem) -> CheckMessage:
    return Warning(str(problem), hint=problem.hint, id=_IDS[problem.kind])


def check_flags(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Report contradictions among the registry defaults and, given a database, the flags in force."""
    # Warnings, not errors: an emergency state may be deliberate, and start-up must not be blocked.
    messages = [_warning(problem) for problem in registry_default_problems()]
    if not databases:
        return messages
    try:
        in_force = problems_in_force(settings.RESERVEX_ENV)
    except DatabaseError:
        # Before the first migrate the tables do not exist yet; nothing can be in force.
        return messages
    return messages + [_warning(problem) for problem in in_force]
