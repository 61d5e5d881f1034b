"""gunicorn settings for ReserveX (threaded workers; sized by the environment)."""

from __future__ import annotations

import os

bind = f"{os.environ.get('RESERVEX_BIND', '127.0.0.1')}:{os.environ.get('RESERVEX_PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 60  # above the 25 s inline-allocation ceiling
graceful_timeout = 20
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None
