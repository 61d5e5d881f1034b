"""make multinode's judgement and report, on summaries made up here (the run itself takes minutes)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from locustfiles.multinode import verdict, write_report

CLEAN: dict[str, Any] = {
    "cpus": 2,
    "plan": {"hot_users": 1000, "web_workers": 2, "web_threads": 4, "widget_users": 16},
    "hot": {
        "one": {"checks": {"five_xx": 0, "tables_given_twice": [], "unanswered": 0}, "answers_per_s": 100.0},
        "two": {"checks": {"five_xx": 0, "tables_given_twice": [], "unanswered": 0}, "answers_per_s": 120.0},
    },
    "widget": {
        "one": {"failures": 0, "five_xx": 0, "requests_per_s": 60.0},
        "two": {"failures": 0, "five_xx": 0, "requests_per_s": 84.0},
    },
    "database": {
        "hot_one_bookings_match_answers": True,
        "hot_two_bookings_match_answers": True,
        "key_storm_bookings": 1,
        "key_storm_one_reference": True,
    },
    "integrity_after": {"ok": True, "violations": {"overlap": 0}},
}


def test_a_clean_run_fails_nothing() -> None:
    assert verdict(CLEAN) == []


def test_each_broken_invariant_is_named() -> None:
    broken = copy.deepcopy(CLEAN)
    broken["integrity_after"] = {"ok": False}
    broken["hot"]["two"]["checks"]["tables_given_twice"] = ["T1"]
    broken["database"]["key_storm_bookings"] = 2
    broken["widget"]["one"]["five_xx"] = 1
    assert verdict(broken) == [
        "check_integrity after the run",
        "hot slot (two node(s)): 5xx, unanswered or a table given twice",
        "widget swarm (one node(s)): failures",
        "one Idempotency-Key over both nodes: not exactly one booking",
    ]


def test_the_report_puts_one_node_against_two(tmp_path: Path) -> None:
    path = tmp_path / "MULTINODE.md"
    write_report(path, {**CLEAN, "failed": []})
    text = path.read_text()
    assert "| hot slot: answers/s (to the last answer) | 100.0 | 120.0 | ×1.20 |" in text
    assert "| widget: requests/s | 60.0 | 84.0 | ×1.40 |" in text
    assert "Failed: nothing." in text
