"""python manage.py seed_telemetry: deterministic telemetry so the dashboard shows real charts."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from observability.models import AllocationAttempt, ObservabilityEvent
from observability.scoping import restaurant_model
from observability.seeding import (
    ATTEMPT_COLUMNS,
    EVENT_COLUMNS,
    SEED_BOOKING_BASE,
    days_ending,
    generate_day,
)


def _copy(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Write rows with COPY (a year of telemetry in seconds, not minutes of INSERTs)."""
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


class Command(BaseCommand):
    help = (
        "Write deterministic AllocationAttempt and ObservabilityEvent rows for the given days and "
        "restaurants (replacing earlier seeded rows there; real telemetry is never touched)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=14, help="how many days (default 14; 365 = a year)")
        parser.add_argument("--until", type=date.fromisoformat, help="last day, YYYY-MM-DD (default today)")
        parser.add_argument(
            "--restaurant", action="append", default=[], metavar="SLUG", help="restaurant slug (repeatable)"
        )
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--scale", type=float, default=1.0, help="bookings per day multiplier")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1")
        queryset = restaurant_model()._default_manager.order_by("id")
        if options["restaurant"]:
            queryset = queryset.filter(slug__in=options["restaurant"])
        restaurants = list(queryset.values_list("id", "slug", "timezone"))
        if not restaurants:
            raise CommandError("no restaurants to seed telemetry for (run `manage.py seed_demo` first)")
        started = time.monotonic()
        attempts = events = 0
        for restaurant_id, slug, tz in restaurants:
            zone = ZoneInfo(tz)
            until: date = options["until"] or timezone.now().astimezone(zone).date()
            days = list(days_ending(until, options["days"]))
            first = datetime.combine(days[0], datetime.min.time(), tzinfo=zone)
            # Attempts of a day's last bookings run past midnight: clear a little beyond the range.
            last = datetime.combine(until, datetime.min.time(), tzinfo=zone) + timedelta(days=1, hours=2)
            with transaction.atomic():
                for model in (AllocationAttempt, ObservabilityEvent):
                    model.objects.filter(
                        restaurant_id=restaurant_id,
                        booking_id__gte=SEED_BOOKING_BASE,
                        created_at__gte=first,
                        created_at__lt=last,
                    ).delete()
                for day in days:
                    rows = generate_day(
                        seed=options["seed"],
                        restaurant_id=restaurant_id,
                        day=day,
                        zone=zone,
                        scale=options["scale"],
                    )
                    _copy(AllocationAttempt._meta.db_table, ATTEMPT_COLUMNS, rows.attempts)
                    _copy(ObservabilityEvent._meta.db_table, EVENT_COLUMNS, rows.events)
                    attempts += len(rows.attempts)
                    events += len(rows.events)
            self.stdout.write(f"{slug}: {days[0]} – {until} seeded")
        with connection.cursor() as cursor:
            for model in (AllocationAttempt, ObservabilityEvent):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
        self.stdout.write(
            self.style.SUCCESS(
                f"seeded {attempts:,} allocation attempts and {events:,} events for {len(restaurants)} "
                f"restaurant(s) in {time.monotonic() - started:.1f} s"
            )
        )
