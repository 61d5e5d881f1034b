"""A local HTTP server that records webhook posts, for alert tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Webhook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0


@contextmanager
def webhook_server(status: int = 200) -> Iterator[Webhook]:
    """Serve on 127.0.0.1 (a free port) in a thread; yield where it listens and what it got."""
    hook = Webhook(url="", status=status)
    ready = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if hook.delay:
                ready.wait(hook.delay)  # never set again: a plain, interruptible sleep
            hook.received.append({"body": body, "content_type": self.headers.get("Content-Type")})
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False  # do not wait for a deliberately slow handler on shutdown
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
