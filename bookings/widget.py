"""The embeddable booking widget: one server-rendered page; everything else is the public API.

The page carries only what the script needs to start (slug, name, today, horizon, hold time);
availability, holds and bookings go through ``/api/v1/`` like any other client. It may be framed
by any site (``xframe_options_exempt`` on this view only; see docs/widget.md), sets no cookies and
needs no CSRF token: the public API is anonymous.
"""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from bookings.api.serializers import MAX_PARTY_SIZE
from bookings.models import Restaurant

# Larger parties are asked to call: the widget offers 1..WIDGET_MAX_PARTY.
WIDGET_MAX_PARTY = min(12, MAX_PARTY_SIZE)


@xframe_options_exempt
@require_GET
def widget(request: HttpRequest, slug: str) -> HttpResponse:
    """Render the booking widget of one restaurant."""
    restaurant = Restaurant.objects.filter(slug=slug).first()
    if restaurant is None:
        # A page, not the API's JSON 404: this is what a guest sees inside the host site's frame.
        return render(request, "bookings/widget_missing.html", {"slug": slug}, status=404)
    today = timezone.now().astimezone(restaurant.tz).date()
    context = {
        "restaurant": restaurant,
        "today": today,
        "last_day": today + timedelta(days=restaurant.booking_horizon_days),
        "party_sizes": range(1, WIDGET_MAX_PARTY + 1),
        "default_party": 2,
        # The API root as this deployment serves it (honours a URL prefix).
        "api_root": reverse("booking-create").removesuffix("bookings"),
    }
    return render(request, "bookings/widget.html", context)
