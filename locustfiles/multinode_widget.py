"""The widget swarm (locustfiles/widget.py) spread over several web nodes: user i books on node i mod N.

``make multinode`` runs it through the Locust CLI with MULTINODE_HOSTS=http://127.0.0.1:A,http://…:B;
every option of the widget swarm (--restaurants, --think, --records, --final-csv) applies.
"""

from __future__ import annotations

import os
import sys
from itertools import count
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # loaded by path (locust -f): make the locustfiles package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The module, not its class: Locust runs every user class it finds in this file's namespace.
import locustfiles.widget as widget

HOSTS = [host for host in os.environ.get("MULTINODE_HOSTS", "").split(",") if host]
_NEXT = count()


class SplitWidgetUser(widget.WidgetUser):
    """A widget guest pinned to one web node, round robin, as a load balancer would spread them."""

    def __init__(self, environment: Any) -> None:
        if HOSTS:
            self.host = HOSTS[next(_NEXT) % len(HOSTS)]
        super().__init__(environment)
