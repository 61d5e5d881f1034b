"""docs/feature-flags.md stays in step with the registry."""

from __future__ import annotations

import re
from pathlib import Path

from flags.registry import ENVIRONMENTS, REGISTRY, format_value

DOC = Path(__file__).resolve().parents[2] / "docs" / "feature-flags.md"
COLUMNS = ["key", "type", *ENVIRONMENTS, "owner", "kill switch", "meaning"]


def documented_flags() -> dict[str, dict[str, str]]:
    """Return the rows of the registry table (under "## Registry", before the next heading), by key."""
    section = re.split(r"\n#{2,3} ", DOC.read_text().split("\n## Registry\n", 1)[1], maxsplit=1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            row = dict(zip(COLUMNS, cells, strict=True))
            rows[row["key"].strip("`")] = row
    return rows


def test_every_flag_in_the_registry_is_documented() -> None:
    missing = sorted(set(REGISTRY) - set(documented_flags()))
    assert not missing, f"add these flags to the registry table of {DOC.name}: {missing}"


def test_no_documented_flag_is_missing_from_the_registry() -> None:
    stale = sorted(set(documented_flags()) - set(REGISTRY))
    assert not stale, f"remove these flags from {DOC.name} or add them to the registry: {stale}"


def test_documented_defaults_type_owner_and_kill_switch_match_the_registry() -> None:
    documented = documented_flags()
    for key, flag in REGISTRY.items():
        row = documented[key]
        expected = {
            "type": flag.type.__name__,
            **{environment: format_value(flag.default_for(environment)) for environment in ENVIRONMENTS},
            "owner": flag.owner,
            "kill switch": "yes" if flag.kill_switch else "no",
        }
        actual = {column: row[column] for column in expected}
        assert actual == expected, f"{DOC.name} is out of step for {key}"
        assert row["meaning"], f"{DOC.name} says nothing about what {key} means"
