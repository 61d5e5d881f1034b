"""The guest's pages that messages link to: a waitlist offer (accept, decline) and a booking
(confirm, cancel: the reminder's links).

Server-rendered and cookie-less like the widget: the token in the URL is the guest's only key, so
there is no session to protect with a CSRF token. A GET never changes anything (mail scanners open
links); the buttons POST.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from bookings.errors import DomainError
from bookings.models import Booking
from bookings.services.changes import booking_cancel
from bookings.services.reminders import booking_guest_confirm
from bookings.services.waitlist import waitlist_by_token, waitlist_decline
from bookings.services.waitlist_accept import waitlist_accept


@csrf_exempt
@require_http_methods(["GET", "POST"])
def waitlist_page(request: HttpRequest, token: str) -> HttpResponse:
    """Show the entry (waiting, the offer, the booking); POST answer=accept|decline answers the offer."""
    problem = None
    try:
        if request.method == "POST":
            answer = request.POST.get("answer")
            if answer == "accept":
                waitlist_accept(token=token)
            elif answer == "decline":
                waitlist_decline(token=token)
        entry = waitlist_by_token(token)
    except DomainError as exc:
        if exc.status == 404:
            return render(request, "bookings/waitlist_page.html", {"entry": None}, status=404)
        problem = exc.message
        entry = waitlist_by_token(token)
    with timezone.override(entry.restaurant.tz):
        return render(
            request,
            "bookings/waitlist_page.html",
            {"entry": entry, "problem": problem, "asked": request.GET.get("answer", "")},
        )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def booking_page(request: HttpRequest, reference: str) -> HttpResponse:
    """Show a booking to its guest; POST answer=confirm|cancel is the reminder's answer."""
    booking = Booking.objects.select_related("restaurant").filter(reference=reference).first()
    if booking is None:
        return render(request, "bookings/booking_page.html", {"booking": None}, status=404)
    problem = None
    if request.method == "POST":
        try:
            if request.POST.get("answer") == "confirm":
                booking_guest_confirm(reference=reference)
            elif request.POST.get("answer") == "cancel":
                booking_cancel(booking=booking)
        except DomainError as exc:
            problem = exc.message
        booking.refresh_from_db()
    reminder = getattr(booking, "reminder", None)  # None: no reminder row yet
    with timezone.override(booking.restaurant.tz):
        return render(
            request,
            "bookings/booking_page.html",
            {
                "booking": booking,
                "problem": problem,
                "asked": request.GET.get("answer", ""),
                "confirmed_at": reminder.confirmed_at if reminder else None,
            },
        )
