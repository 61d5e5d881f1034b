from __future__ import annotations

from django.urls import path

from bookings.api import views, waitlist

urlpatterns = [
    path("restaurants/<slug:slug>/availability", views.AvailabilityView.as_view(), name="availability"),
    path("restaurants/<slug:slug>/holds", views.HoldCreateView.as_view(), name="hold-create"),
    path("holds/<uuid:hold_id>", views.HoldDeleteView.as_view(), name="hold-delete"),
    path("bookings", views.BookingCreateView.as_view(), name="booking-create"),
    path("bookings/<str:reference>", views.BookingDetailView.as_view(), name="booking-detail"),
    path("bookings/<str:reference>/cancel", views.BookingCancelView.as_view(), name="booking-cancel"),
    path("restaurants/<slug:slug>/waitlist", waitlist.WaitlistJoinView.as_view(), name="waitlist-join"),
    path("waitlist/<str:token>", waitlist.WaitlistDetailView.as_view(), name="waitlist-detail"),
    path("waitlist/<str:token>/accept", waitlist.WaitlistAcceptView.as_view(), name="waitlist-accept"),
    path("waitlist/<str:token>/decline", waitlist.WaitlistDeclineView.as_view(), name="waitlist-decline"),
    path("staff/restaurants/<slug:slug>/bookings", views.StaffDayView.as_view(), name="staff-day"),
    path("staff/bookings/<str:reference>/move", views.StaffMoveView.as_view(), name="staff-move"),
    path("staff/bookings/<str:reference>/status", views.StaffStatusView.as_view(), name="staff-status"),
]
