"""Short booking codes (nullable, backfilled, then required and unique per restaurant) and the
restaurant's phone and email for guests who cannot book online."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

import bookings.codes

BATCH = 1000


def backfill_codes(apps: Any, schema_editor: Any) -> None:
    """Give every existing booking a code, unique within its restaurant."""
    booking_model = apps.get_model("bookings", "Booking")
    used: dict[int, set[str]] = {}
    for restaurant_id, code in booking_model.objects.exclude(code=None).values_list("restaurant_id", "code"):
        used.setdefault(restaurant_id, set()).add(code)
    pending = []
    for booking in booking_model.objects.filter(code=None).only("pk", "restaurant_id").iterator():
        taken = used.setdefault(booking.restaurant_id, set())
        code = bookings.codes.new_booking_code()
        while code in taken:
            code = bookings.codes.new_booking_code()
        taken.add(code)
        booking.code = code
        pending.append(booking)
        if len(pending) >= BATCH:
            booking_model.objects.bulk_update(pending, ["code"])
            pending = []
    if pending:
        booking_model.objects.bulk_update(pending, ["code"])


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0003_versions"),
    ]

    operations = [
        # Nullable first: a callable default in AddField is evaluated once, so every existing row
        # would get the same code.
        migrations.AddField(
            model_name="booking",
            name="code",
            field=models.CharField(editable=False, max_length=7, null=True),
        ),
        migrations.RunPython(backfill_codes, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="booking",
            name="code",
            field=models.CharField(default=bookings.codes.new_booking_code, editable=False, max_length=7),
        ),
        migrations.AddConstraint(
            model_name="booking",
            constraint=models.UniqueConstraint(fields=("restaurant", "code"), name="booking_unique_code"),
        ),
        migrations.AddField(
            model_name="restaurant",
            name="phone",
            field=models.CharField(
                blank=True,
                help_text="Shown to guests whose party is too large to book online.",
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="restaurant",
            name="email",
            field=models.EmailField(
                blank=True, help_text="Shown with the phone number, for the same guests.", max_length=254
            ),
        ),
    ]
