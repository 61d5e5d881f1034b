#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reservex.settings")
    from django.core.management import execute_from_command_line
    from django.db import InterfaceError, OperationalError

    try:
        execute_from_command_line(sys.argv)
    except (OperationalError, InterfaceError) as exc:
        # One line instead of a pool traceback: the usual cause is that nothing is running there.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        sys.exit(
            f"manage.py: cannot reach the database ({first}). With the embedded services, run commands "
            'through them: make manage ARGS="check_integrity" (or set DATABASE_URL).'
        )


if __name__ == "__main__":
    main()
