"""Admin: propose through the add form, decide through actions (never your own), read the rest."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

import flags
from flags.models import AuditEntry, ChangeRequest, FlagOverride
from flags.services import change_approve, change_propose

pytestmark = pytest.mark.django_db

CHANGES = "/admin/flags/changerequest/"


def _propose_in_admin(client: Client, **data: Any) -> Any:
    return client.post(
        f"{CHANGES}add/", {"restaurant_id": "", "value": "", "reason": "because", **data}, follow=True
    )


def _decide_in_admin(client: Client, action: str, change: ChangeRequest) -> str:
    response = client.post(CHANGES, {"action": action, "_selected_action": [change.pk]}, follow=True)
    return " ".join(str(message) for message in response.context["messages"])


def test_the_add_form_proposes_with_the_signed_in_user_as_proposer(client: Client, carol: Any) -> None:
    client.force_login(carol)
    response = _propose_in_admin(client, key="holds.strict_conflicts", value="true", restaurant_id="3")

    assert response.status_code == 200
    change = ChangeRequest.objects.get()
    assert (change.key, change.restaurant_id, change.new_value) == ("holds.strict_conflicts", 3, True)
    assert (change.proposed_by, change.status) == (carol, "pending")
    assert flags.get("holds.strict_conflicts", 3) is False


def test_the_add_form_shows_why_a_proposal_is_refused(client: Client, carol: Any) -> None:
    client.force_login(carol)
    response = _propose_in_admin(client, key="allocator.require_adjacency", value="false")
    assert (
        "allocator.merges_enabled is on while allocator.require_adjacency is off" in response.content.decode()
    )
    response = _propose_in_admin(client, key="allocator.max_merge_tables", value="many")
    assert "allocator.max_merge_tables takes an integer" in response.content.decode()
    assert not ChangeRequest.objects.exists()


def test_the_add_form_can_remove_an_override(client: Client, carol: Any, dave: Any) -> None:
    change_approve(
        change_request=change_propose(proposer=carol, key="holds.strict_conflicts", value=True, reason="r"),
        approver=dave,
    )
    client.force_login(carol)
    _propose_in_admin(client, key="holds.strict_conflicts", remove_override="on")
    assert ChangeRequest.objects.filter(status="pending", new_value__isnull=True).exists()


def test_approving_your_own_change_is_refused_with_a_clear_message(
    client: Client, carol: Any, dave: Any
) -> None:
    change = change_propose(proposer=carol, key="holds.strict_conflicts", value=True, reason="r")

    client.force_login(carol)
    message = _decide_in_admin(client, "approve_selected", change)
    assert f"#{change.pk} not approved: You proposed change request #{change.pk}" in message
    assert "a different person must approve it" in message
    assert flags.get("holds.strict_conflicts") is False

    client.force_login(dave)
    assert "approved and applied" in _decide_in_admin(client, "approve_selected", change)
    assert flags.get("holds.strict_conflicts") is True


def test_rejecting_in_admin(client: Client, carol: Any, dave: Any) -> None:
    change = change_propose(proposer=carol, key="holds.strict_conflicts", value=True, reason="r")
    client.force_login(carol)
    assert "a different person must reject it" in _decide_in_admin(client, "reject_selected", change)
    client.force_login(dave)
    assert "rejected" in _decide_in_admin(client, "reject_selected", change)
    change.refresh_from_db()
    assert change.status == "rejected"


def test_change_requests_cannot_be_edited_or_deleted(client: Client, carol: Any) -> None:
    change = change_propose(proposer=carol, key="holds.strict_conflicts", value=True, reason="r")
    client.force_login(carol)
    assert client.get(f"{CHANGES}{change.pk}/change/").status_code == 200  # view only
    client.post(f"{CHANGES}{change.pk}/change/", {"key": "capacity.enforcement", "reason": "x"})
    change.refresh_from_db()
    assert change.key == "holds.strict_conflicts"
    assert client.post(f"{CHANGES}{change.pk}/delete/", {"post": "yes"}).status_code == 403


@pytest.mark.parametrize("model", ["flagoverride", "auditentry"])
def test_overrides_and_audit_are_read_only(client: Client, carol: Any, dave: Any, model: str) -> None:
    change_approve(
        change_request=change_propose(proposer=carol, key="holds.strict_conflicts", value=True, reason="r"),
        approver=dave,
    )
    row = (FlagOverride if model == "flagoverride" else AuditEntry).objects.get()
    client.force_login(dave)
    base = f"/admin/flags/{model}/"
    listing = client.get(base)
    assert listing.status_code == 200 and "holds.strict_conflicts" in listing.content.decode()
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{base}{row.pk}/change/").status_code == 200
    assert 'name="_save"' not in client.get(f"{base}{row.pk}/change/").content.decode()


def test_staff_without_flags_permissions_do_not_see_flags(client: Client, erin: Any) -> None:
    client.force_login(erin)
    assert client.get(CHANGES).status_code == 403
    assert client.get(f"{CHANGES}add/").status_code == 403
