"""The guest's waitlist page: the link in an offer message opens it; its buttons accept or decline.

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
