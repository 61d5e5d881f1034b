"""A WSGI app that does nothing: the floor of the load generator for the hot-slot burst.

``make loadtest`` serves it with gunicorn at the same sizing as ReserveX and fires the same burst at
it with the same client (``locustfiles/hotslot.py``, one loopback address per guest), so the report
can say "ReserveX N s; do-nothing server under the same client M s" (docs MEASURING.md): what part
of the burst's time is the client and the kernel rather than the app. Every POST is answered 201
with a confirmed booking without tables, every other request 200 (``/readyz`` included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

_BOOKED = b'{"reference": "", "status": "confirmed", "tables": []}'
_READY = b'{"status": "ok"}'


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Drain the request body and answer at once."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    posted = environ.get("REQUEST_METHOD") == "POST"
    body = _BOOKED if posted else _READY
    start_response(
        "201 Created" if posted else "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
