"""The WSGI module prepares a worker before its first request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# In a fresh interpreter, as a gunicorn worker starts: import the application, then resolve the
# public API's paths as the first requests would, and report any module that resolving imported.
_FIRST_REQUESTS = """
import sys
import reservex.wsgi
from django.urls import resolve
before = set(sys.modules)
for path in ("/api/v1/bookings", "/api/v1/restaurants/x/availability", "/api/v1/restaurants/x/holds"):
    resolve(path)
print(sorted(set(sys.modules) - before))
"""


def test_first_requests_import_nothing_more() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUESTS], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_control_without_the_warm_up_the_first_request_imports_the_views() -> None:
    control = _FIRST_REQUESTS.replace(
        "import reservex.wsgi",
        "import os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'reservex.settings')\n"
        "django.setup()",
    )
    done = subprocess.run(
        [sys.executable, "-c", control], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bookings.api.views" in done.stdout
