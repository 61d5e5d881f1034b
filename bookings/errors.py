"""Domain errors. The API maps each to the error envelope ``{"error": code, "message": ...}``."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a caller can act on; carries its API code and HTTP status."""

    code = "DOMAIN_ERROR"
    status = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def as_envelope(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


class CapacityExceeded(DomainError):
    code = "CAPACITY_EXCEEDED"
    status = 409
    # Set by admission to the versions its locked read saw (bookings.config.RestaurantVersions), so
    # the refusal's alternatives are cached under the key the next requests will look for.
    seen_versions: Any = None


class SlotUnavailable(DomainError):
    """The time is outside service, closed, in the past, beyond the horizon or off the slot grid."""

    code = "SLOT_UNAVAILABLE"
    status = 409


class LockTimeout(DomainError):
    """Another admission for the same service day held the lock too long; try again shortly."""

    code = "BUSY_RETRY"
    status = 503

    def __init__(self, message: str = "The restaurant is busy taking other bookings; please retry.") -> None:
        super().__init__(message, retry_after=1)


class HoldNotFound(DomainError):
    code = "HOLD_NOT_FOUND"
    status = 404


class HoldExpired(DomainError):
    code = "HOLD_EXPIRED"
    status = 410


class HoldMismatch(DomainError):
    code = "HOLD_MISMATCH"
    status = 409


class HoldConflict(DomainError):
    """The tables of a hold were taken while it was being written (holds.strict_conflicts)."""

    code = "HOLD_CONFLICT"
    status = 409


class BookingNotFound(DomainError):
    code = "NOT_FOUND"
    status = 404


class InvalidTransition(DomainError):
    code = "INVALID_STATUS"
    status = 409


class TablesUnavailable(DomainError):
    """Staff asked for tables that are taken, inactive, too small or not joinable."""

    code = "TABLES_UNAVAILABLE"
    status = 409


class IdempotencyInProgress(DomainError):
    code = "IDEMPOTENCY_IN_PROGRESS"
    status = 409

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed.", retry_after=1)


class PartyTooLarge(DomainError):
    """No table set of the restaurant seats the party at any time: online booking cannot help."""

    code = "PARTY_TOO_LARGE"
    status = 422
