"""API plumbing shared by every endpoint: the error envelope, throttles, JSON 404/500."""

from __future__ import annotations

import copy
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from bookings.errors import DomainError

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
    (exceptions.ParseError, "PARSE_ERROR"),
    (exceptions.NotAuthenticated, "UNAUTHORIZED"),
    (exceptions.AuthenticationFailed, "UNAUTHORIZED"),
    (exceptions.PermissionDenied, "FORBIDDEN"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, "RATE_LIMITED"),
]


class FlatSerializer(serializers.Serializer[Any]):
    """An input serializer of plain fields, built per request without DRF's deep copy.

    DRF gives every serializer instance a deep copy of its declared fields, and copying a field
    re-runs its ``__init__`` (validators included): most of the CPU of validating a booking
    request. A field's own state (name, parent, label) is set when the copy is bound, so a shallow
    copy per instance is enough for fields without children. Not for nested serializers or list
    fields: their child is bound to the copy and would be shared.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, declared in cls._declared_fields.items():
            if isinstance(declared, serializers.BaseSerializer) or hasattr(declared, "child"):
                raise TypeError(f"{cls.__name__}.{name} has children: use serializers.Serializer")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {name: copy.copy(declared) for name, declared in self._declared_fields.items()}


def envelope(code: str, message: str, status: int, **extra: Any) -> Response:
    headers = {}
    if "retry_after" in extra and extra["retry_after"] is not None:
        headers["Retry-After"] = str(int(extra["retry_after"]))
    return Response({"error": code, "message": message, **extra}, status=status, headers=headers)


# How long a client should wait before retrying while the database is unreachable: a restart or a
# failover takes seconds, and the pool replaces dead connections on their next checkout.
DATABASE_RETRY_AFTER_SECONDS = 2
DATABASE_UNAVAILABLE_MESSAGE = "The booking service cannot reach its database just now; please retry shortly."


def database_unavailable(exc: BaseException | None) -> bool:
    """Return whether the error means PostgreSQL cannot be reached now.

    A restart or failover ("terminating connection due to administrator command"), a refused
    connection and an exhausted pool (psycopg_pool.PoolTimeout) all reach Django as
    OperationalError or InterfaceError. Lost races (lock timeouts, deadlocks, exclusion conflicts)
    are OperationalErrors too, but the services turn those into retries or domain errors first.
    """
    return isinstance(exc, OperationalError | InterfaceError)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Map every exception an API view raises to the error envelope; never a bare 500 page."""
    if isinstance(exc, DomainError):
        return envelope(exc.code, exc.message, exc.status, **exc.extra)
    if database_unavailable(exc):
        logger.warning("database unavailable in %s: %s", context.get("view"), exc)
        return envelope(
            "SERVICE_UNAVAILABLE", DATABASE_UNAVAILABLE_MESSAGE, 503, retry_after=DATABASE_RETRY_AFTER_SECONDS
        )
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
    """A fixed-window request counter in Redis that lets requests through when Redis is unreachable.

    Each window of ``duration`` seconds has its own key, ``<cache prefix>:throttle:<scope>:<ident>:
    <window start>``, incremented once per request and expiring after the window. The first throttle
    of a request counts for every throttle of the view in one pipeline (INCR + EXPIRE per key) and
    leaves the counts on the request; the others read them: one Redis round trip per request.

    Throttling protects the service; it must not take bookings down with Redis. After a failure
    the throttle stands aside for a few seconds, so an outage costs one timeout, not one per request.
    """

    cache_format = "throttle:%(scope)s:%(ident)s"
    num_requests: int | None  # set by SimpleRateThrottle.__init__ from the rate; None when off
    duration: int | None
    window_end: float
    _skip_until = 0.0  # shared by all throttles of the process: Redis is one dependency
    _skip_lock = threading.Lock()
    SKIP_SECONDS = 5.0

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None or time.monotonic() < FailOpenThrottle._skip_until:
            return True
        counts = _request_counts(request, self.timer)
        counter = self.counter(request, view, counts.now)
        if counter is None:
            return True  # nothing to count against
        self.key = counter.key
        self.now = counts.now
        self.window_end = counter.window_end
        if self.key not in counts.by_key:
            # This one first: a view overriding get_throttles() may not list this throttle's class.
            pending = [counter, *_view_counters(request, view, counts)]
            try:
                counts.by_key.update(_incr(pending))
            except Exception as exc:  # noqa: BLE001 - any cache failure means "do not throttle"
                _stand_aside(exc, self.SKIP_SECONDS)
                return True
        assert self.num_requests is not None  # rate is set
        return counts.by_key[self.key] <= self.num_requests

    def counter(self, request: Request, view: APIView, now: float) -> _Counter | None:
        """Return this throttle's counter for the window holding ``now``; None when off or no ident."""
        if self.rate is None:
            return None
        ident_key = self.get_cache_key(request, view)
        if ident_key is None:
            return None
        assert self.duration is not None  # rate is set
        start = int(now // self.duration) * self.duration
        return _Counter(cache.make_key(f"{ident_key}:{start}"), self.duration, start + self.duration)

    def wait(self) -> float | None:
        """Return the seconds to the end of the window (DRF rounds them up for Retry-After)."""
        return self.window_end - self.now

    def get_ident(self, request: Request) -> str:
        """Return the client's address, not a proxy's, and not one the client wrote.

        With ``THROTTLE_TRUSTED_PROXIES`` = N > 0, the N-th X-Forwarded-For entry from the right: the
        address the outermost trusted proxy saw (each proxy appends its peer). With 0 the header is
        ignored, since anyone can send it.
        """
        remote_addr = str(request.META.get("REMOTE_ADDR") or "")
        proxies = settings.THROTTLE_TRUSTED_PROXIES
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
        if proxies <= 0 or not forwarded:
            return remote_addr
        addrs = [addr.strip() for addr in str(forwarded).split(",")]
        # Fewer entries than proxies: the request skipped the outer ones; the leftmost entry is then
        # what the first proxy it met saw (DRF's NUM_PROXIES reads it the same way).
        return addrs[-min(proxies, len(addrs))][:64] or remote_addr


@dataclass(frozen=True)
class _Counter:
    key: str
    ttl: int
    window_end: float


@dataclass
class _RequestCounts:
    """The counts of one request, shared by its throttles: one clock reading, one round trip."""

    now: float
    by_key: dict[str, int] = field(default_factory=dict)


_COUNTS_ATTR = "_reservex_throttle_counts"


def _request_counts(request: Request, timer: Callable[[], float]) -> _RequestCounts:
    counts = getattr(request, _COUNTS_ATTR, None)
    if not isinstance(counts, _RequestCounts):
        counts = _RequestCounts(now=timer())
        setattr(request, _COUNTS_ATTR, counts)
    return counts


def _view_counters(request: Request, view: APIView, counts: _RequestCounts) -> list[_Counter]:
    """Return the uncounted counters of the view's Redis throttles, to ride in one pipeline."""
    found: list[_Counter] = []
    for throttle in view.get_throttles():
        if isinstance(throttle, FailOpenThrottle):
            counter = throttle.counter(request, view, counts.now)
            if counter is not None and counter.key not in counts.by_key:
                found.append(counter)
    return found


def _incr(counters: list[_Counter]) -> dict[str, int]:
    """Count one request on every counter in one round trip; return the counts in this window."""
    unique = {counter.key: counter for counter in counters}  # two throttles, one key: count once
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    # MULTI/EXEC costs no extra round trip and never leaves a counter without its expiry.
    with client.pipeline(transaction=True) as pipe:
        for counter in unique.values():
            pipe.incr(counter.key)
            pipe.expire(counter.key, counter.ttl)
        replies = pipe.execute()
    return {key: int(count) for key, count in zip(unique, replies[0::2], strict=True)}


def _stand_aside(exc: Exception, seconds: float) -> None:
    with FailOpenThrottle._skip_lock:
        first = time.monotonic() >= FailOpenThrottle._skip_until
        FailOpenThrottle._skip_until = time.monotonic() + seconds
    if first:  # once per outage window, not once per thread that saw it fail
        logger.warning("throttles skipped for %.0fs: %s", seconds, exc)


class PerIPThrottle(FailOpenThrottle):
    scope = "anon_ip"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PerRestaurantThrottle(FailOpenThrottle):
    scope = "anon_restaurant"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        slug = view.kwargs.get("slug") if hasattr(view, "kwargs") else None
        if slug is None:
            # An unreadable body raises here, before anything is counted: DRF keeps an empty body
            # after a failed parse, so the view could no longer say what was wrong with it.
            data = request.data
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
    # Django calls this inside the except block of the failure, so the exception is at hand.
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response()
    return _json_error(request, "INTERNAL_ERROR", "Something went wrong on our side.", 500)


def database_unavailable_response() -> JsonResponse:
    response = JsonResponse(
        {
            "error": "SERVICE_UNAVAILABLE",
            "message": DATABASE_UNAVAILABLE_MESSAGE,
            "retry_after": DATABASE_RETRY_AFTER_SECONDS,
        },
        status=503,
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Answer 503 with Retry-After, not a 500 page, when a view (admin, widget, metrics) loses the
    database; the API views do the same through exception_handler."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_unavailable(exception):
            return None
        logger.warning("database unavailable at %s: %s", request.path, exception)
        return database_unavailable_response()
