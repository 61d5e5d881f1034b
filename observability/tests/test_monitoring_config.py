"""Alert rules, the Grafana dashboard and the provisioning files refer to metrics that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from observability import metrics

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "prometheus"
GRAFANA = ROOT / "grafana"
SCRAPE_TIME = {"reservex_pending_bookings", "reservex_pending_oldest_age_seconds", "reservex_queue_depth"}
RUNBOOKS = ROOT.parent / "docs" / "runbooks"


def exported_names() -> set[str]:
    """Every sample name ReserveX exports: metric objects with their suffixes, plus scrape-time ones."""
    names = set(SCRAPE_TIME)
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            base = value._name
            kind = value._type
            if kind == "counter":
                names |= {f"{base}_total", f"{base}_created"}
            elif kind == "histogram":
                names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_created"}
            else:
                names.add(base)
    return names


def referenced_names(text: str) -> set[str]:
    return set(re.findall(r"\breservex_[a-z_]+\b", text)) - {"reservex_prometheus"}


def alert_rules() -> list[dict[str, object]]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_alert_rules_use_exported_metrics() -> None:
    used = referenced_names((PROMETHEUS / "alerts.yml").read_text())
    assert used, "alerts.yml refers to no reservex_* metric"
    assert used <= exported_names(), f"unknown metrics in alerts.yml: {sorted(used - exported_names())}"


def test_every_alert_has_a_severity_and_a_runbook_that_exists() -> None:
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"P0", "P1"}, rule["alert"]  # type: ignore[index]
        runbook = rule["annotations"]["runbook"]  # type: ignore[index]
        assert (ROOT.parent / runbook).is_file(), f"{rule['alert']}: {runbook} is missing"


def test_every_alert_has_a_promtool_test() -> None:
    tests = (PROMETHEUS / "alerts_test.yml").read_text()
    for rule in alert_rules():
        assert f"alertname: {rule['alert']}" in tests


def test_the_grafana_dashboard_uses_exported_metrics() -> None:
    dashboard = json.loads((GRAFANA / "reservex.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = set().union(*(referenced_names(e) for e in expressions))
    assert used <= exported_names(), f"unknown metrics in the dashboard: {sorted(used - exported_names())}"
    # The dashboard shows every metric family listed in DESIGN §7.
    for family in (
        "reservex_booking_requests_total",
        "reservex_booking_request_seconds_bucket",
        "reservex_availability_request_seconds_bucket",
        "reservex_allocation_attempts_total",
        "reservex_inline_fallbacks_total",
        "reservex_planner_seconds_bucket",
        "reservex_seat_waste_seats_bucket",
        "reservex_hold_conflicts_total",
        "reservex_pending_bookings",
        "reservex_pending_oldest_age_seconds",
        "reservex_queue_depth",
        "reservex_integrity_violations",
    ):
        assert family in used, family
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_grafana_provisioning_points_at_the_dashboard_data_source() -> None:
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    dashboard = json.loads((GRAFANA / "reservex.json").read_text())
    [source] = datasource["datasources"]
    [variable] = dashboard["templating"]["list"]
    assert variable["current"]["value"] == source["uid"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "reservex.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_docker_compose_mounts_the_monitoring_files() -> None:
    compose = yaml.safe_load((ROOT.parent / "docker-compose.yml").read_text())
    prometheus = compose["services"]["prometheus"]
    assert "./observability/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    grafana = compose["services"]["grafana"]
    assert any(v.startswith("./observability/grafana/provisioning:") for v in grafana["volumes"])
    scrape = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    web = next(job for job in scrape["scrape_configs"] if job["job_name"] == "reservex-web")
    assert web["authorization"]["type"] == "Bearer"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_passes_the_alert_rule_tests() -> None:
    result = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
