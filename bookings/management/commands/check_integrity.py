from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from bookings.integrity import check_integrity


class Command(BaseCommand):
    help = (
        "Check the booking invariants (overlaps, capacity, seating, stale pending); exit 1 on any violation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stale-minutes", type=int, default=10, help="pending longer than this is stale")
        parser.add_argument(
            "--days-back", type=int, default=None, help="only bookings ending after now minus this many days"
        )
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        since = now - timedelta(days=options["days_back"]) if options["days_back"] is not None else None
        report = check_integrity(
            now=now, since=since, stale_after=timedelta(minutes=options["stale_minutes"])
        )
        if options["json"]:
            self.stdout.write(json.dumps({"ok": report.ok, "violations": report.counts()}))
        else:
            self.stdout.write(report.render())
        if not report.ok:
            sys.exit(1)
