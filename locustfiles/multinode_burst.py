"""The hot-slot burst of locustfiles/hotslot.py with its guests spread round robin over several web nodes.

    .venv/bin/python -m locustfiles.multinode_burst --hosts http://127.0.0.1:A,http://127.0.0.1:B \
        --restaurant stress-002 --date 2026-12-13 --users 1000 --out-prefix .reservex/multinode/hot_two

Every guest connects from its own loopback address (127.2.x.y) and waits at the starting line until
all are spawned; ``make multinode`` (locustfiles/multinode.py) runs it once on one node, once on two.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import date
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from locustfiles.hotslot import GO, HotSlotUser, burst_checks, burst_state
from locustfiles.slotfill import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locustfiles.multinode_burst", description=__doc__)
    parser.add_argument("--hosts", required=True, help="comma-separated base URLs of the web nodes")
    parser.add_argument("--restaurant", required=True)
    parser.add_argument("--date", required=True, type=date.fromisoformat)
    parser.add_argument("--time", default="19:00", type=clock_time.fromisoformat)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--max-seconds", type=float, default=240.0)
    parser.add_argument("--out-prefix", required=True, type=Path)
    args = parser.parse_args(argv)
    hosts = [host for host in args.hosts.split(",") if host]
    spread: Counter[str] = Counter()

    class SplitHotSlotUser(HotSlotUser):
        """A hot-slot guest pinned to one node, round robin, as a load balancer would spread them."""

        def __init__(self, environment: Any) -> None:
            self.host = hosts[sum(spread.values()) % len(hosts)]
            spread[self.host] += 1
            super().__init__(environment)

    HotSlotUser.source_network = "127.2"
    state = burst_state(args.restaurant, args.date, args.time, args.users, args.seed, post_job_timeout=60.0)
    GO.clear()
    meta = run(
        host=hosts[0],
        state=state,
        user_class=SplitHotSlotUser,
        users=args.users,
        max_seconds=args.max_seconds,
        out_prefix=args.out_prefix,
        ready=GO,
        html=False,
    )
    meta["checks"] = burst_checks(state.records)
    meta["users_per_node"] = dict(spread)
    Path(f"{args.out_prefix}_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
