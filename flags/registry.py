"""The feature flags of ReserveX, typed and documented in code (DESIGN §8).

Each flag has a default per environment; overrides in the database (global or per restaurant)
take precedence and are read through ``flags.get``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ENVIRONMENTS = ("dev", "staging", "prod")
INLINE_TIMEOUT_CEILING_MS = 25_000

_TRUE_WORDS = frozenset({"true", "on", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "off", "no", "0"})


def format_value(value: Any) -> str:
    """Return a value as people type it: true/false, 25000, enforce; an absent value as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class Flag:
    key: str
    type: type
    description: str
    defaults: dict[str, Any]  # environment -> value
    owner: str
    kill_switch: bool = False
    choices: tuple[Any, ...] = ()
    min_value: int | None = None
    max_value: int | None = None

    def default_for(self, environment: str) -> Any:
        return self.defaults[environment]

    def parse(self, raw: str) -> Any:
        """Return the typed, validated value written as text (as typed in admin or a shell)."""
        text = raw.strip()
        value: Any
        if self.type is bool:
            if text.lower() in _TRUE_WORDS:
                value = True
            elif text.lower() in _FALSE_WORDS:
                value = False
            else:
                raise ValueError(f"{self.key} takes true or false, not {raw!r}")
        elif self.type is int:
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"{self.key} takes an integer, not {raw!r}") from None
        else:
            value = text
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        """Return the value if it is of this flag's type and range, else raise ValueError."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{self.key} takes true or false")
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{self.key} takes an integer")
            if self.min_value is not None and value < self.min_value:
                raise ValueError(f"{self.key} must be at least {self.min_value}")
            if self.max_value is not None and value > self.max_value:
                raise ValueError(f"{self.key} must be at most {self.max_value}")
        elif not isinstance(value, self.type):
            raise ValueError(f"{self.key} takes a {self.type.__name__}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.key} must be one of {', '.join(map(str, self.choices))}")
        return value


def _same(value: Any) -> dict[str, Any]:
    return dict.fromkeys(ENVIRONMENTS, value)


REGISTRY: dict[str, Flag] = {
    flag.key: flag
    for flag in [
        Flag(
            key="capacity.enforcement",
            type=str,
            description="enforce: refuse over-capacity bookings; shadow: admit them and record what "
            "would have been refused; off: do not evaluate capacity rules.",
            defaults=_same("enforce"),
            owner="operations",
            kill_switch=True,
            choices=("enforce", "shadow", "off"),
        ),
        Flag(
            key="capacity.enforcement_off_acknowledged",
            type=bool,
            description="Acknowledges that capacity.enforcement=off in prod is deliberate: with it "
            "off nothing but the tables themselves limits covers, parties or pacing. Required before "
            "capacity.enforcement may be off in prod (shadow needs no acknowledgement).",
            defaults=_same(False),
            owner="operations",
        ),
        Flag(
            key="holds.strict_conflicts",
            type=bool,
            description="Refuse a hold when its planned tables are taken at write time instead of "
            "re-planning once.",
            defaults=_same(False),
            owner="allocator",
        ),
        Flag(
            key="allocator.merges_enabled",
            type=bool,
            description="Let the planner join adjacent tables for larger parties.",
            defaults=_same(True),
            owner="allocator",
            kill_switch=True,
        ),
        Flag(
            key="allocator.require_adjacency",
            type=bool,
            description="Joined tables must be connected in the adjacency graph.",
            defaults=_same(True),
            owner="allocator",
        ),
        Flag(
            key="allocator.max_merge_tables",
            type=int,
            description="Most tables the planner may join for one party.",
            defaults=_same(3),
            owner="allocator",
            min_value=2,
            max_value=6,
        ),
        Flag(
            key="allocator.inline_timeout_ms",
            type=int,
            description="Budget for inline allocation in the request before handing the booking to "
            "the background job (a ceiling, not a target).",
            defaults=_same(INLINE_TIMEOUT_CEILING_MS),
            owner="allocator",
            min_value=0,
            max_value=INLINE_TIMEOUT_CEILING_MS,
        ),
        Flag(
            key="allocator.enumeration_timeout_ms",
            type=int,
            description="Budget of the planner's search of table combinations, in the request's CPU time.",
            defaults=_same(50),
            owner="allocator",
            min_value=1,
            max_value=5_000,
        ),
        Flag(
            key="allocator.reshuffle_enabled",
            type=bool,
            description="When a party fits the capacity rules but no table set is free, move "
            "confirmed bookings that have not arrived to other tables (same time and party) to "
            "make room, within allocator.reshuffle_timeout_ms.",
            defaults={"dev": False, "staging": True, "prod": False},
            owner="allocator",
            kill_switch=True,
        ),
        Flag(
            key="allocator.reshuffle_timeout_ms",
            type=int,
            description="Time budget for the re-seating search at admission.",
            defaults=_same(20),
            owner="allocator",
            min_value=1,
            max_value=1_000,
        ),
        Flag(
            key="allocator.reshuffle_freeze_minutes",
            type=int,
            description="Bookings starting within this many minutes are never re-seated (the "
            "table may already be laid for them).",
            defaults=_same(60),
            owner="allocator",
            min_value=0,
            max_value=24 * 60,
        ),
        Flag(
            key="waitlist.offer_minutes",
            type=int,
            description="How long a waitlist offer holds its table for the guest to accept.",
            defaults=_same(10),
            owner="allocator",
            min_value=1,
            max_value=24 * 60,
        ),
        Flag(
            key="reminders.hours",
            type=int,
            description="Send guests a reminder with confirm and cancel links this many hours before "
            "their booking; 0 sends none.",
            defaults=_same(24),
            owner="operations",
            min_value=0,
            max_value=7 * 24,
        ),
        Flag(
            key="allocator.service_fail_hard",
            type=bool,
            description="Answer a booking with an error when allocation fails unexpectedly instead "
            "of falling back to the background job (for debugging only).",
            defaults={"dev": False, "staging": False, "prod": False},
            owner="allocator",
        ),
        Flag(
            key="debug.capacity_profiling",
            type=bool,
            description="Record the capacity figures of every admission as an event's context.",
            defaults={"dev": True, "staging": False, "prod": False},
            owner="operations",
        ),
    ]
}
