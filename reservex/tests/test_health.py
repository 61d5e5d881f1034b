from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthz_and_readyz_answer(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_admin_login_page_is_served(client: Client, db: None) -> None:
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b"ReserveX" in response.content  # the staff-facing brand, not Django's default
