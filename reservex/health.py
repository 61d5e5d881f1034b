"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse

from flags.health import contradictions


def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the process can serve requests at all."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database is reachable; Redis being down only degrades (see DESIGN §5)."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        cache.get("readyz")
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"degraded: {exc.__class__.__name__}"
    # Contradictory flags do not stop traffic, but an operator must see them (docs/feature-flags.md).
    problems = contradictions() if checks["database"] == "ok" else []
    checks["flags"] = "ok" if not problems else f"warning: {len(problems)} problem(s)"
    ready = checks["database"] == "ok"
    return JsonResponse(
        {
            "status": "ok" if ready else "unavailable",
            "environment": settings.RESERVEX_ENV,
            "checks": checks,
            "flag_problems": problems,
        },
        status=200 if ready else 503,
    )
