"""Screenshot an admin page as a logged-in user with headless Chromium (a developer tool).

    python -m observability.screenshot --user demo-staff \\
        --url 'http://127.0.0.1:8000/admin/observability/dashboard/?period=week' \\
        --out docs/screenshots/admin-dashboard.png

It drives ``chromedriver`` through its W3C WebDriver HTTP API with the standard library (no
Selenium), and logs in by handing the browser a session cookie created for ``--user`` in the
database the server uses (same DATABASE_URL), so no password is needed or typed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - a local chromedriver
        f"{base}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return json.loads(response.read() or b"{}").get("value")


def session_cookie(username: str) -> tuple[str, str]:
    """Return (cookie name, session key) of a fresh session logged in as ``username``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reservex.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model()._default_manager.get(username=username))
    return settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value


def screenshot(url: str, username: str, out: Path, width: int, height: int) -> None:
    """Open ``url`` as ``username`` and save a PNG of the window."""
    name, key = session_cookie(username)
    port = _free_port()
    driver = subprocess.Popen(
        [shutil.which("chromedriver") or "chromedriver", f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp(prefix="reservex-chromium-")
    try:
        for _ in range(100):
            try:
                _call(base, "GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
        ]
        options = {"binary": shutil.which("chromium") or "/usr/bin/chromium", "args": args}
        capabilities = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        session = _call(base, "POST", "/session", {"capabilities": capabilities})["sessionId"]
        try:
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
            _call(base, "POST", f"/session/{session}/url", {"url": f"{origin}/healthz"})
            _call(
                base,
                "POST",
                f"/session/{session}/cookie",
                {"cookie": {"name": name, "value": key, "path": "/"}},
            )
            _call(base, "POST", f"/session/{session}/url", {"url": url})
            png = base64.b64decode(_call(base, "GET", f"/session/{session}/screenshot"))
        finally:
            _call(base, "DELETE", f"/session/{session}")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(png)
        print(f"wrote {out} ({len(png):,} bytes)")
    finally:
        driver.terminate()
        driver.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m observability.screenshot")
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True, help="username to log in as (staff)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1600)
    args = parser.parse_args()
    screenshot(args.url, args.user, args.out, args.width, args.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
