"""Combinations of flag values that must not be in force together (pure: values in, findings out).

Each rule looks at the values of one scope (defaults, then the global overrides, then one
restaurant's overrides on top) and says what is wrong and how to fix it. The services refuse a
change that would introduce a finding; the system check and ``flags.health`` report findings
that are in force anyway (written behind the services' back, or made contradictory by a registry
change).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flags.registry import INLINE_TIMEOUT_CEILING_MS


@dataclass(frozen=True, slots=True)
class Finding:
    message: str
    hint: str


def contradictions_in(values: Mapping[str, Any], *, environment: str) -> list[Finding]:
    """Return what is contradictory in one scope's values (every registry key present)."""
    findings: list[Finding] = []
    if values["allocator.merges_enabled"] and not values["allocator.require_adjacency"]:
        findings.append(
            Finding(
                "allocator.merges_enabled is on while allocator.require_adjacency is off: the "
                "planner could join tables that are not next to each other.",
                "Turn allocator.require_adjacency on, or allocator.merges_enabled off.",
            )
        )
    timeout = values["allocator.inline_timeout_ms"]
    # The registry bounds the flag too; this rule keeps the ceiling if the bounds are ever loosened.
    if not isinstance(timeout, int) or not 0 <= timeout <= INLINE_TIMEOUT_CEILING_MS:
        findings.append(
            Finding(
                f"allocator.inline_timeout_ms is {timeout!r}, outside 0..{INLINE_TIMEOUT_CEILING_MS} ms "
                "(the inline budget is capped at 25 s).",
                f"Set allocator.inline_timeout_ms between 0 and {INLINE_TIMEOUT_CEILING_MS}.",
            )
        )
    if (
        environment == "prod"
        and values["capacity.enforcement"] == "off"
        and not values["capacity.enforcement_off_acknowledged"]
    ):
        findings.append(
            Finding(
                "capacity.enforcement is off in prod without capacity.enforcement_off_acknowledged: "
                "nothing but the tables limits covers, parties or pacing.",
                "Use capacity.enforcement=shadow, or have capacity.enforcement_off_acknowledged=true "
                "approved first.",
            )
        )
    return findings
