"""Decide whether a party may be admitted under the capacity rules in force.

Pure: the caller passes the limits (``resolve_limits`` of the period's rule and the date's
override), the seatings already counting against capacity (pending and confirmed bookings,
unexpired holds) and the request; ``evaluate`` returns a ``CapacityDecision``.

Figures
    * covers / parties "at once": the maximum, over every instant of ``[starts_at, ends_at)``,
      of the sum over seatings occupying that instant. Windows are half-open, so a seating
      ending at 19:00 and one starting at 19:00 are never at once.
    * pacing: covers of seatings whose start falls in ``[starts_at, starts_at + slot_interval)``
      — the bucket opened by the request's own start. Requests start on the restaurant's slot
      grid, so this is "covers starting in this slot"; the module does not know the grid's
      anchor (the service period opening) and so does not snap to it.

All figures include the request itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

REASON_CLOSED = "closed"
REASON_MAX_COVERS = "max_covers"
REASON_MAX_PARTIES = "max_parties"
REASON_PACING = "pacing"


class EnforcementMode(StrEnum):
    """How a capacity verdict is applied (the ``capacity.enforcement`` flag)."""

    ENFORCE = "enforce"
    SHADOW = "shadow"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class CapacityLimits:
    """Limits for one service period; None means no limit."""

    # Covers seated at once.
    max_covers: int | None = None
    # Parties seated at once.
    max_parties: int | None = None
    # Covers starting within one slot interval.
    pacing_covers: int | None = None
    closed: bool = False

    def as_dict(self) -> dict[str, object]:
        """Return the limits as JSON-ready data."""
        return {
            "max_covers": self.max_covers,
            "max_parties": self.max_parties,
            "pacing_covers": self.pacing_covers,
            "closed": self.closed,
        }


@dataclass(frozen=True, slots=True)
class Seating:
    """A booking or unexpired hold that counts against capacity."""

    starts_at: datetime
    ends_at: datetime
    party_size: int


@dataclass(frozen=True, slots=True)
class CapacityRequest:
    """The party asking to be admitted."""

    starts_at: datetime
    ends_at: datetime
    party_size: int
    slot_interval: timedelta


class Usage(NamedTuple):
    """Figures of existing seatings over a window, excluding any request.

    A named tuple so callers may unpack ``covers, parties, pacing = usage_at(...)``.
    """

    peak_covers: int
    peak_parties: int
    pacing_covers: int


@dataclass(frozen=True, slots=True)
class CapacityDecision:
    """The verdict and the figures behind it."""

    # What the caller must do.
    admitted: bool
    # What enforce mode would have done; in shadow mode True means "would have refused".
    would_refuse: bool
    # REASON_* of the first limit broken (closed, covers, parties, pacing), else None.
    reason: str | None
    # Figures including the request.
    peak_covers: int
    peak_parties: int
    pacing_covers: int
    limits: CapacityLimits
    mode: EnforcementMode = EnforcementMode.ENFORCE

    def as_dict(self) -> dict[str, object]:
        """Return the decision as JSON-ready data."""
        return {
            "admitted": self.admitted,
            "would_refuse": self.would_refuse,
            "reason": self.reason,
            "mode": self.mode.value,
            "peak_covers": self.peak_covers,
            "peak_parties": self.peak_parties,
            "pacing_covers": self.pacing_covers,
            "limits": self.limits.as_dict(),
        }


NO_LIMITS = CapacityLimits()


def resolve_limits(rule: CapacityLimits | None, override: CapacityLimits | None) -> CapacityLimits:
    """Return the limits in force: the date's override entirely, else the rule, else none."""
    if override is not None:
        return override
    if rule is not None:
        return rule
    return NO_LIMITS


def usage_at(
    existing: Iterable[Seating],
    starts_at: datetime,
    ends_at: datetime,
    slot_interval: timedelta,
) -> Usage:
    """Return peak covers and parties over [starts_at, ends_at) and pacing covers of its bucket."""
    if not starts_at < ends_at:
        raise ValueError("starts_at must be before ends_at")
    if slot_interval <= timedelta(0):
        raise ValueError("slot_interval must be positive")
    bucket_end = starts_at + slot_interval
    pacing = 0
    # (instant, order, covers delta, parties delta); order 0 = end sorts before 1 = start at the
    # same instant, so a table freed at 19:00 is free for a party arriving at 19:00.
    events: list[tuple[datetime, int, int, int]] = []
    for s in existing:
        if s.party_size <= 0 or not s.starts_at < s.ends_at:
            continue
        if starts_at <= s.starts_at < bucket_end:
            pacing += s.party_size
        if s.starts_at < ends_at and starts_at < s.ends_at:
            events.append((max(s.starts_at, starts_at), 1, s.party_size, 1))
            if s.ends_at < ends_at:
                events.append((s.ends_at, 0, -s.party_size, -1))
    events.sort(key=lambda e: (e[0], e[1]))
    covers = parties = peak_covers = peak_parties = 0
    for _, _, d_covers, d_parties in events:
        covers += d_covers
        parties += d_parties
        # Covers and parties peak independently: many small parties vs a few large ones.
        peak_covers = max(peak_covers, covers)
        peak_parties = max(peak_parties, parties)
    return Usage(peak_covers=peak_covers, peak_parties=peak_parties, pacing_covers=pacing)


def evaluate(
    limits: CapacityLimits,
    existing: Iterable[Seating],
    request: CapacityRequest,
    mode: EnforcementMode,
) -> CapacityDecision:
    """Return whether the request may be admitted, with the figures including it.

    ENFORCE admits only within every limit; SHADOW always admits and flags what enforce would
    have refused; OFF always admits and flags nothing but still reports the figures. Raises
    ValueError on a malformed request (empty window, party < 1, non-positive interval).
    """
    if request.party_size < 1:
        raise ValueError("party_size must be at least 1")
    usage = usage_at(existing, request.starts_at, request.ends_at, request.slot_interval)
    # The request occupies its whole window, so it adds to every instant — and to the peak.
    covers = usage.peak_covers + request.party_size
    parties = usage.peak_parties + 1
    pacing = usage.pacing_covers + request.party_size
    reason = _broken_limit(limits, covers, parties, pacing)
    over = reason is not None
    if mode is EnforcementMode.ENFORCE:
        admitted, would_refuse = not over, over
    elif mode is EnforcementMode.SHADOW:
        admitted, would_refuse = True, over
    else:
        admitted, would_refuse, reason = True, False, None
    return CapacityDecision(
        admitted=admitted,
        would_refuse=would_refuse,
        reason=reason,
        peak_covers=covers,
        peak_parties=parties,
        pacing_covers=pacing,
        limits=limits,
        mode=mode,
    )


def _broken_limit(limits: CapacityLimits, covers: int, parties: int, pacing: int) -> str | None:
    """Return the first limit the figures break, or None."""
    if limits.closed:
        return REASON_CLOSED
    if limits.max_covers is not None and covers > limits.max_covers:
        return REASON_MAX_COVERS
    if limits.max_parties is not None and parties > limits.max_parties:
        return REASON_MAX_PARTIES
    if limits.pacing_covers is not None and pacing > limits.pacing_covers:
        return REASON_PACING
    return None
