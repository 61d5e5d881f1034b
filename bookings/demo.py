"""Deterministic demo and stress data: the White Horse Pub and generated load-test restaurants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from bookings.models import CapacityRule, Restaurant, ServicePeriod, Table, TableAdjacency

DEMO_SLUG = "white-horse-waterbeach"
DEMO_NAME = "White Horse Pub (Waterbeach)"
DEMO_STAFF_USERNAME = "demo-staff"
DEMO_STAFF_PASSWORD = "whitehorse-demo"  # demo data only; printed by seed_demo
STAFF_GROUP = "Restaurant staff"
# Two flag operators, so the two-person rule can be tried: one proposes (and manages cohorts), the
# other approves and may pull a rollout. Username: (password, group, flags permission codenames).
DEMO_OPERATORS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "demo-proposer": (
        "propose-demo",
        "Flag proposers",
        ("propose_change", "view_cohort", "add_cohort", "change_cohort"),
    ),
    "demo-approver": ("approve-demo", "Flag approvers", ("approve_change", "throw_kill_switch")),
}


@dataclass(frozen=True)
class TableSpec:
    label: str
    section: str
    seats: int
    x: int
    y: int
    min_party: int = 1
    combinable: bool = True


# Bar: high tops along the bar and two booths; dining room: rows of 2s and 4s that join along the
# wall, two 6s and a round 8; garden: picnic benches that join in pairs.
DEMO_TABLES: list[TableSpec] = [
    *(TableSpec(f"B{i}", "bar", 2, 40 + 60 * (i - 1), 40) for i in range(1, 7)),
    TableSpec("B7", "bar", 4, 60, 140),
    TableSpec("B8", "bar", 4, 160, 140),
    *(TableSpec(f"D{i}", "dining room", 2, 440 + 70 * (i - 1), 40) for i in range(1, 5)),
    *(TableSpec(f"D{i}", "dining room", 4, 440 + 90 * (i - 5), 140, min_party=2) for i in range(5, 11)),
    TableSpec("D11", "dining room", 6, 460, 260, min_party=3),
    TableSpec("D12", "dining room", 6, 580, 260, min_party=3),
    TableSpec("D13", "dining room", 8, 760, 260, min_party=5, combinable=False),
    TableSpec("G1", "garden", 2, 60, 400),
    TableSpec("G2", "garden", 2, 140, 400),
    TableSpec("G3", "garden", 4, 240, 400, min_party=2),
    TableSpec("G4", "garden", 4, 340, 400, min_party=2),
    TableSpec("G5", "garden", 6, 240, 500, min_party=3),
    TableSpec("G6", "garden", 8, 380, 500, min_party=4),
]
DEMO_ADJACENCY: list[tuple[str, str]] = [
    ("B1", "B2"), ("B2", "B3"), ("B3", "B4"), ("B4", "B5"), ("B5", "B6"), ("B7", "B8"),
    ("D1", "D2"), ("D2", "D3"), ("D3", "D4"),
    ("D5", "D6"), ("D6", "D7"), ("D7", "D8"), ("D8", "D9"), ("D9", "D10"),
    ("D11", "D12"), ("D5", "D11"),
    ("G1", "G2"), ("G2", "G3"), ("G3", "G4"), ("G5", "G6"), ("G4", "G6"),
]  # fmt: skip


@dataclass(frozen=True)
class PeriodSpec:
    kind: str
    weekdays: range
    opens: time
    closes: time
    last_seating: time
    max_covers: int
    max_parties: int
    pacing_covers: int


DEMO_PERIODS = [
    PeriodSpec("lunch", range(1, 7), time(12, 0), time(15, 0), time(14, 0), 60, 20, 16),
    PeriodSpec("dinner", range(0, 7), time(17, 30), time(22, 30), time(21, 0), 90, 28, 20),
]


def _upsert_restaurant(
    *,
    slug: str,
    name: str,
    tables: list[TableSpec],
    adjacency: list[tuple[str, str]],
    periods: list[PeriodSpec],
    contact: dict[str, str] | None = None,
) -> Restaurant:
    restaurant, _ = Restaurant.objects.update_or_create(
        slug=slug, defaults={"name": name, "timezone": "Europe/London", **(contact or {})}
    )
    by_label: dict[str, Table] = {}
    for spec in tables:
        table, _ = Table.objects.update_or_create(
            restaurant=restaurant,
            label=spec.label,
            defaults={
                "section": spec.section,
                "min_party": spec.min_party,
                "max_party": spec.seats,
                "combinable": spec.combinable,
                "active": True,
                "x": spec.x,
                "y": spec.y,
            },
        )
        by_label[spec.label] = table
    for label_a, label_b in adjacency:
        low, high = sorted([by_label[label_a], by_label[label_b]], key=lambda t: t.pk)
        TableAdjacency.objects.get_or_create(restaurant=restaurant, table_a=low, table_b=high)
    for period_spec in periods:
        for weekday in period_spec.weekdays:
            period, _ = ServicePeriod.objects.update_or_create(
                restaurant=restaurant,
                weekday=weekday,
                kind=period_spec.kind,
                defaults={
                    "opens": period_spec.opens,
                    "closes": period_spec.closes,
                    "last_seating": period_spec.last_seating,
                },
            )
            CapacityRule.objects.update_or_create(
                period=period,
                defaults={
                    "max_covers": period_spec.max_covers,
                    "max_parties": period_spec.max_parties,
                    "pacing_covers": period_spec.pacing_covers,
                },
            )
    return restaurant


def staff_group() -> Group:
    """Return the group whose members may manage their own restaurants in admin."""
    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    codenames = [
        f"{action}_{model}"
        for model in (
            "restaurant",
            "serviceperiod",
            "capacityrule",
            "capacityoverride",
            "table",
            "tableadjacency",
        )
        for action in ("view", "change", "add", "delete")
        if not (model == "restaurant" and action in ("add", "delete"))
    ] + ["view_booking", "add_booking", "change_booking", "view_hold", "view_tableoccupancy"]
    codenames += ["view_waitlistentry", "add_waitlistentry", "change_waitlistentry"]  # the waitlist
    group.permissions.set(
        Permission.objects.filter(content_type__app_label="bookings", codename__in=codenames)
    )
    return group


@transaction.atomic
def seed_demo() -> Restaurant:
    """Create or refresh the demo restaurant and its staff login; safe to run again."""
    restaurant = _upsert_restaurant(
        slug=DEMO_SLUG,
        name=DEMO_NAME,
        tables=DEMO_TABLES,
        adjacency=DEMO_ADJACENCY,
        periods=DEMO_PERIODS,
        # A number from the range Ofcom keeps for drama, and a reserved domain: neither reaches anyone.
        contact={"phone": "01632 960 123", "email": "bookings@whitehorse.example"},
    )
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=DEMO_STAFF_USERNAME, defaults={"is_staff": True, "email": ""}
    )
    if created or not user.check_password(DEMO_STAFF_PASSWORD):
        user.set_password(DEMO_STAFF_PASSWORD)
        user.is_staff = True
        user.save()
    user.groups.add(staff_group())
    restaurant.staff.add(user)
    seed_operators()
    return restaurant


def seed_operators() -> None:
    """Create or refresh the two demo flag operators with exactly the permissions their role needs."""
    for username, (password, group_name, codenames) in DEMO_OPERATORS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="flags", codename__in=codenames)
        )
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "email": ""}
        )
        if created or not user.check_password(password) or not user.is_staff:
            user.set_password(password)
            user.is_staff = True
            user.save()
        user.groups.set([group])


def stress_layout(sections: int = 5, per_section: int = 12) -> tuple[list[TableSpec], list[tuple[str, str]]]:
    """Return a large layout: rows of mixed tables, each joinable with its neighbour in the row."""
    seat_cycle = [2, 2, 4, 4, 2, 4, 6, 4, 2, 4, 8, 6]
    tables: list[TableSpec] = []
    adjacency: list[tuple[str, str]] = []
    for s in range(sections):
        for i in range(per_section):
            seats = seat_cycle[i % len(seat_cycle)]
            label = f"S{s + 1}-{i + 1:02d}"
            tables.append(TableSpec(label, f"section {s + 1}", seats, 60 * i, 120 * s, min_party=1))
            if i > 0 and i % 6 != 0:
                adjacency.append((f"S{s + 1}-{i:02d}", label))
    return tables, adjacency


@transaction.atomic
def seed_stress(count: int) -> list[Restaurant]:
    """Create or refresh ``count`` load-test restaurants with 60-table layouts."""
    tables, adjacency = stress_layout()
    periods = [
        PeriodSpec("lunch", range(0, 7), time(11, 30), time(15, 30), time(14, 30), 200, 60, 40),
        PeriodSpec("dinner", range(0, 7), time(17, 0), time(23, 0), time(21, 30), 240, 70, 48),
    ]
    return [
        _upsert_restaurant(
            slug=f"stress-{n:03d}",
            name=f"Stress Test {n:03d}",
            tables=tables,
            adjacency=adjacency,
            periods=periods,
        )
        for n in range(1, count + 1)
    ]
