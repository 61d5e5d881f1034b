"""Validate docker-compose.yml as a file (no Docker engine runs in CI): services, images, healthchecks."""

from __future__ import annotations

import sys

import yaml

REQUIRED = {"postgres", "redis", "web", "worker", "beat"}

with open(sys.argv[1]) as handle:
    compose = yaml.safe_load(handle)
services = compose.get("services", {})
missing = REQUIRED - services.keys()
if missing:
    sys.exit(f"docker-compose.yml lacks services: {sorted(missing)}")
for name, service in services.items():
    if "image" not in service and "build" not in service:
        sys.exit(f"service {name} has neither image nor build")
    for dependency in service.get("depends_on", {}) or {}:
        if dependency not in services:
            sys.exit(f"service {name} depends on unknown service {dependency}")
redis_command = " ".join(map(str, services["redis"].get("command", [])))
if "noeviction" not in redis_command:
    sys.exit("redis must run with --maxmemory-policy noeviction (it is the Celery broker)")
# Every queue by kind of work (reservex/settings.py CELERY_TASK_ROUTES) has a worker consuming it.
consumed: set[str] = set()
for service in services.values():
    command = [str(part) for part in service.get("command", []) or []]
    if "worker" in command and "--queues" in command:
        consumed.update(command[command.index("--queues") + 1].split(","))
unserved = {"allocation", "notifications", "maintenance", "reservex"} - consumed
if unserved:
    sys.exit(f"no worker consumes the Celery queues {sorted(unserved)}")
print(f"docker-compose.yml: {len(services)} services ok: {', '.join(sorted(services))}")
