"""The form staff take a booking with: by phone (a time, the guest) or a walk-in seated now."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from bookings.api.serializers import MAX_PARTY_SIZE
from bookings.models import Table

PHONE = "phone"
WALK_IN = "walk_in"


class NewBookingForm(forms.Form):
    """Validate what staff typed; admission decides whether the restaurant can take it."""

    kind = forms.ChoiceField(
        choices=[(PHONE, "Phone booking"), (WALK_IN, "Walk-in, seated now")],
        initial=PHONE,
        widget=forms.RadioSelect,
        label="Booking",
    )
    date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    time = forms.TimeField(required=False, widget=forms.Select)
    party_size = forms.IntegerField(min_value=1, max_value=MAX_PARTY_SIZE, initial=2, label="Party size")
    guest_name = forms.CharField(max_length=200, required=False, label="Name")
    guest_phone = forms.RegexField(
        regex=r"^\+?[0-9 ()./-]{0,31}$",
        max_length=32,
        required=False,
        label="Phone",
        error_messages={"invalid": "Digits, spaces and + ( ) . / - only."},
    )
    guest_email = forms.EmailField(required=False, label="Email")
    notes = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    tables = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    override = forms.BooleanField(required=False, label="Override capacity rules")
    # One key per form shown: pressing "Book" twice (or reloading the answer) takes one booking.
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, tables: list[Table], times: list[dt.time], allow_override: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.table_list = tables
        self.fields["tables"].choices = [(t.label, t.label) for t in tables if t.active]  # type: ignore[attr-defined]
        self.time_options = times
        self.fields["time"].widget.choices = [(t.strftime("%H:%M"), t.strftime("%H:%M")) for t in times]
        if not allow_override:
            del self.fields["override"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == PHONE:
            for name, text in (
                ("date", "Choose the day."),
                ("time", "Choose the time."),
                ("guest_name", "Give the guest's name."),
            ):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, text)
            given = data.get("guest_name")
            if isinstance(given, str) and not given.strip() and "guest_name" not in self.errors:
                self.add_error("guest_name", "Give the guest's name.")
        return data

    @property
    def walk_in(self) -> bool:
        return self.cleaned_data.get("kind") == WALK_IN

    def table_groups(self) -> list[dict[str, Any]]:
        """Return the tables by section, with those ticked (prefilled, or as submitted)."""
        ticked = set(self["tables"].value() or [])
        groups: list[dict[str, Any]] = []
        for table in self.table_list:
            if not groups or groups[-1]["section"] != (table.section or "Tables"):
                groups.append({"section": table.section or "Tables", "tables": []})
            groups[-1]["tables"].append(
                {
                    "label": table.label,
                    "seats": table.max_party,
                    "checked": table.label in ticked,
                    "inactive": not table.active,
                }
            )
        return groups

    def fingerprint_data(self) -> dict[str, Any]:
        """Return what identifies the request for its Idempotency-Key (the key itself excluded)."""
        data = {k: v for k, v in self.cleaned_data.items() if k != "idempotency_key"}
        for name in ("date", "time"):
            value = data.get(name)
            data[name] = value.isoformat() if isinstance(value, dt.date | dt.time) else value
        data["tables"] = sorted(data.get("tables") or [])
        return data
