from __future__ import annotations

from django.contrib import admin
from django.urls import path

from observability.views import metrics
from reservex.health import healthz, readyz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
]
