"""GET /metrics: every ReserveX and django_* metric, summed over processes, behind a bearer token."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from observability.collectors import BacklogCollector


class _ThisProcess(Collector):
    """Everything in this process's default registry (single-process mode: runserver, tests)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def build_registry() -> CollectorRegistry:
    """Return a registry with the process metrics (all processes when multiprocess) + the backlog."""
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        # The files of every gunicorn and Celery process, django-prometheus's django_* included.
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ThisProcess())
    registry.register(BacklogCollector())
    return registry


def _authorized(request: HttpRequest) -> bool:
    if settings.DEBUG:
        return True
    token: str = getattr(settings, "METRICS_TOKEN", "")
    if not token:
        return False  # no token configured outside DEBUG: nobody may read metrics
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Answer the Prometheus text exposition; 401 with the error envelope without a valid token."""
    if not _authorized(request):
        response = JsonResponse(
            {"error": "UNAUTHORIZED", "message": "Metrics need 'Authorization: Bearer <METRICS_TOKEN>'."},
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(build_registry()), content_type=CONTENT_TYPE_LATEST)
