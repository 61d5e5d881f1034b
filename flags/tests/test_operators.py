"""The demo operators can try the two-person rule; demo-staff gets the admin's 403 naming the permission."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from bookings.demo import DEMO_OPERATORS, DEMO_STAFF_USERNAME, seed_demo
from flags.models import ChangeRequest
from flags.services import SelfApprovalRefused, change_approve, change_propose

pytestmark = pytest.mark.django_db


def _user(username: str) -> object:
    return get_user_model()._default_manager.get(username=username)


def test_the_demo_seeds_a_proposer_and_an_approver_with_exactly_their_permissions() -> None:
    seed_demo()
    seed_demo()  # safe to run again

    proposer, approver = _user("demo-proposer"), _user("demo-approver")
    assert {p for p in proposer.get_all_permissions() if p.startswith("flags.")} == {  # type: ignore[attr-defined]
        "flags.propose_change",
        "flags.view_cohort",
        "flags.add_cohort",
        "flags.change_cohort",
    }
    assert {p for p in approver.get_all_permissions() if p.startswith("flags.")} == {  # type: ignore[attr-defined]
        "flags.approve_change",
        "flags.throw_kill_switch",
    }
    for username, (password, _, _) in DEMO_OPERATORS.items():
        user = _user(username)
        assert user.check_password(password) and user.is_staff and not user.is_superuser  # type: ignore[attr-defined]
        assert not user.get_all_permissions() - {  # type: ignore[attr-defined]
            p
            for p in user.get_all_permissions()
            if p.startswith("flags.")  # type: ignore[attr-defined]
        }


def test_the_two_demo_operators_can_apply_a_change_together_but_not_alone() -> None:
    seed_demo()
    proposer, approver = _user("demo-proposer"), _user("demo-approver")
    change = change_propose(proposer=proposer, key="holds.strict_conflicts", value=True, reason="try it")  # type: ignore[arg-type]

    with pytest.raises(SelfApprovalRefused):
        change_approve(change_request=change, approver=proposer)  # type: ignore[arg-type]
    change_approve(change_request=change, approver=approver)  # type: ignore[arg-type]

    assert ChangeRequest.objects.get(pk=change.pk).status == "approved"


def test_the_demo_operators_sign_in_with_the_passwords_the_readme_lists(client: Client) -> None:
    seed_demo()
    with open("README.md", encoding="utf-8") as readme:
        text = readme.read()
    for username, (password, _, _) in DEMO_OPERATORS.items():
        assert f"`{username}` / `{password}`" in text
        assert client.login(username=username, password=password)
        assert client.get("/admin/flags/changerequest/").status_code == 200


@pytest.mark.parametrize(
    ("url", "permission"),
    [
        ("/admin/flags/changerequest/", "flags.propose_change"),
        ("/admin/flags/changerequest/add/", "flags.propose_change"),
        ("/admin/flags/rolloutplan/", "flags.propose_change"),
        ("/admin/flags/auditentry/", "flags.propose_change"),
    ],
)
def test_demo_staff_gets_the_admins_own_403_naming_the_missing_permission(
    client: Client, url: str, permission: str
) -> None:
    seed_demo()
    client.force_login(_user(DEMO_STAFF_USERNAME))  # type: ignore[arg-type]

    response = client.get(url)

    html = response.content.decode()
    assert response.status_code == 403
    assert 'id="site-name"' in html and 'class="breadcrumbs"' in html  # admin/base_site.html
    assert f"<code>{permission}</code>" in html
    assert "Can propose a feature-flag change" in html
    assert DEMO_STAFF_USERNAME in html


def test_an_approver_pressing_propose_gets_the_403_naming_propose(client: Client) -> None:
    seed_demo()
    client.force_login(_user("demo-approver"))  # type: ignore[arg-type]

    response = client.post("/admin/flags/rolloutplan/1/propose/")

    assert response.status_code == 403
    assert "<code>flags.propose_change</code>" in response.content.decode()


def test_the_proposer_manages_a_cohort_in_admin_by_restaurant_name(client: Client) -> None:
    from bookings.tests.factories import RestaurantFactory
    from flags.models import Cohort

    seed_demo()
    pubs = [RestaurantFactory(name=f"Partner {n}") for n in range(3)]
    client.force_login(_user("demo-proposer"))  # type: ignore[arg-type]
    form = client.get("/admin/flags/cohort/add/").content.decode()
    assert "Partner 0" in form

    client.post(
        "/admin/flags/cohort/add/",
        {"name": "beta-partners", "description": "early adopters", "restaurants": [pubs[0].pk, pubs[2].pk]},
    )

    cohort = Cohort.objects.get(name="beta-partners")
    assert sorted(cohort.members.values_list("restaurant_id", flat=True)) == sorted([pubs[0].pk, pubs[2].pk])
