"""What Django's request logger writes: server errors, not the client's 4xx answers."""

from __future__ import annotations

import logging

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.log import log_response


@pytest.mark.parametrize(("status", "logged"), [(409, False), (429, False), (500, True), (503, True)])
def test_only_server_errors_are_logged(status: int, logged: bool, caplog: pytest.LogCaptureFixture) -> None:
    request = RequestFactory().post("/api/v1/bookings")
    with caplog.at_level(logging.DEBUG):
        log_response("%s: %s", "Answer", request.path, response=HttpResponse(status=status), request=request)

    records = [r for r in caplog.records if r.name == "django.request"]
    assert bool(records) is logged
    assert all(r.levelno >= logging.ERROR for r in records)
