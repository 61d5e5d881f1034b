from __future__ import annotations

import os

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bookings.waitlist_page import booking_page, waitlist_page
from bookings.widget import widget
from observability.views import metrics
from reservex.health import healthz, readyz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("bookings.api.urls")),
    path("admin/", admin.site.urls),
    path("widget/<slug:slug>/", widget, name="widget"),
    path("waitlist/<str:token>/", waitlist_page, name="waitlist-page"),
    path("booking/<str:reference>/", booking_page, name="booking-page"),
]
if os.environ.get("RESERVEX_LOADTEST_REFERENCE") == "1":  # make loadtest's reference endpoint
    urlpatterns.append(path("loadtest/reference/", include("locustfiles.reference")))

handler404 = "reservex.api.not_found"
handler500 = "reservex.api.server_error"
