from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bookings.demo import DEMO_OPERATORS, DEMO_STAFF_PASSWORD, DEMO_STAFF_USERNAME, seed_demo, seed_stress


class Command(BaseCommand):
    help = "Create or refresh the demo restaurant (and, with --stress, load-test restaurants)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stress",
            type=int,
            default=0,
            metavar="N",
            help="also build N 60-table restaurants for load tests",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        restaurant = seed_demo()
        self.stdout.write(
            f"Demo restaurant: {restaurant.name} (/{restaurant.slug}), {restaurant.tables.count()} tables\n"
            f"Demo staff login: {DEMO_STAFF_USERNAME} / {DEMO_STAFF_PASSWORD}"
        )
        for username, (password, group, _) in DEMO_OPERATORS.items():
            self.stdout.write(f"Demo flag operator ({group}): {username} / {password}")
        if options["stress"]:
            made = seed_stress(options["stress"])
            self.stdout.write(f"Stress restaurants: {len(made)} (stress-001 … stress-{len(made):03d})")
