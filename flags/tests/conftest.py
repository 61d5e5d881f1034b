"""Fixtures for the flags tests: isolated cache keys and a cast of staff users.

carol proposes, dave approves (both hold every flags permission); erin is staff of a restaurant
with no flags permission, like the demo staff login.
"""

from __future__ import annotations

import sys
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

# The headless Chromium fixtures of the booking browser tests, for flags/tests/test_rollout_browser.py.
from bookings.tests.browser.conftest import browser, page  # noqa: F401
from bookings.tests.factories import UserFactory
from flags import store

FLAG_PERMISSIONS = ("propose_change", "approve_change", "throw_kill_switch")


@pytest.fixture(autouse=True)
def flag_test_settings(settings: Any) -> Iterator[None]:
    """Give each test its own cache key prefix: cached overrides never leak between tests."""
    # The real hasher takes most of a second per user; these tests are not about passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {
        alias: {**config, "KEY_PREFIX": f"test-flags-{uuid.uuid4().hex}"}
        for alias, config in settings.CACHES.items()
    }
    store.reset_cache_state()
    yield
    store.reset_cache_state()


def flag_user(username: str, *codenames: str) -> Any:
    user = UserFactory(username=username)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="flags", codename__in=codenames)
    )
    return get_user_model().objects.get(pk=user.pk)  # fresh instance: no stale permission cache


@pytest.fixture
def carol(db: None) -> Any:
    return flag_user("carol", *FLAG_PERMISSIONS)


@pytest.fixture
def dave(db: None) -> Any:
    return flag_user("dave", *FLAG_PERMISSIONS)


@pytest.fixture
def erin(db: None) -> Any:
    return flag_user("erin")


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Capture send_alert calls (observability.alerts is replaced, whether or not it exists)."""
    sent: list[dict[str, Any]] = []

    def send_alert(title: str, text: str, *, severity: str) -> bool:
        sent.append({"title": title, "text": text, "severity": severity})
        return True

    monkeypatch.setitem(sys.modules, "observability.alerts", types.SimpleNamespace(send_alert=send_alert))
    return sent
