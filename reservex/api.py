"""API plumbing shared by every endpoint: the error envelope, throttles, JSON 404/500."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from allocator.errors import DomainError

logger = logging.getLogger(__name__)


class ErrorEnvelopeSerializer(serializers.Serializer[Any]):
    """Every error answer: a stable machine code and a sentence for people."""

    error = serializers.CharField(help_text="Machine-readable code, e.g. CAPACITY_EXCEEDED.")
    message = serializers.CharField()
    # Declared fields are collected by DRF's metaclass, so this does not shadow Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Per-field problems (VALIDATION_ERROR)."
    )
    alternatives = serializers.ListField(child=serializers.CharField(), required=False)
    reason = serializers.CharField(required=False, allow_null=True)
    retry_after = serializers.IntegerField(required=False)


_DRF_CODES: list[tuple[type[exceptions.APIException], str]] = [
    (exceptions.ValidationError, "VALIDATION_ERROR"),
    (exceptions.ParseError, "VALIDATION_ERROR"),
    (exceptions.NotAuthenticated, "UNAUTHORIZED"),
    (exceptions.AuthenticationFailed, "UNAUTHORIZED"),
    (exceptions.PermissionDenied, "FORBIDDEN"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, "RATE_LIMITED"),
]


def envelope(code: str, message: str, status: int, **extra: Any) -> Response:
    headers = {}
    if "retry_after" in extra and extra["retry_after"] is not None:
        headers["Retry-After"] = str(int(extra["retry_after"]))
    return Response({"error": code, "message": message, **extra}, status=status, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Map every exception an API view raises to the error envelope; never a bare 500 page."""
    if isinstance(exc, DomainError):
        return envelope(exc.code, exc.message, exc.status, **exc.extra)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "ERROR")
        extra: dict[str, Any] = {}
        if isinstance(exc, exceptions.ValidationError):
            message = "The request is not valid; see fields."
            extra["fields"] = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        else:
            message = str(exc.detail)
        if isinstance(exc, exceptions.Throttled):
            extra["retry_after"] = int(getattr(exc, "wait", None) or 1)
        response = envelope(code, message, exc.status_code, **extra)
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        return response
    logger.exception("unhandled error in %s", context.get("view"))
    return envelope("INTERNAL_ERROR", "Something went wrong on our side; nothing you sent was lost.", 500)


class FailOpenThrottle(SimpleRateThrottle):
    """A Redis-backed throttle that lets requests through when Redis is unreachable.

    Throttling protects the service; it must not take bookings down with Redis. After a failure
    the throttle stands aside for a few seconds, so an outage costs one timeout, not one per request.
    """

    _skip_until = 0.0  # shared by all throttles of the process: Redis is one dependency
    SKIP_SECONDS = 5.0

    def allow_request(self, request: Request, view: APIView) -> bool:
        if time.monotonic() < FailOpenThrottle._skip_until:
            return True
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # noqa: BLE001 - any cache failure means "do not throttle"
            FailOpenThrottle._skip_until = time.monotonic() + self.SKIP_SECONDS
            logger.warning("throttles skipped for %.0fs: %s", self.SKIP_SECONDS, exc)
            return True


class PerIPThrottle(FailOpenThrottle):
    scope = "anon_ip"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PerRestaurantThrottle(FailOpenThrottle):
    scope = "anon_restaurant"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        slug = view.kwargs.get("slug") if hasattr(view, "kwargs") else None
        if slug is None:
            try:
                data = request.data
            except exceptions.ParseError:
                return None  # the view reports the malformed body
            slug = data.get("restaurant") if isinstance(data, dict) else None
        if not isinstance(slug, str):
            return None  # nothing to count against
        return self.cache_format % {"scope": self.scope, "ident": slug[:64]}


PUBLIC_THROTTLES = [PerIPThrottle, PerRestaurantThrottle]


def _json_error(request: HttpRequest, code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(request, "NOT_FOUND", "There is nothing at this address.", 404)


def server_error(request: HttpRequest) -> JsonResponse:
    return _json_error(request, "INTERNAL_ERROR", "Something went wrong on our side.", 500)
