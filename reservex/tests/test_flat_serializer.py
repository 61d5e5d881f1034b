"""FlatSerializer validates exactly as DRF's Serializer does, with fields of its own per instance."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from rest_framework import serializers

from reservex.api import FlatSerializer

FIELDS: dict[str, Any] = {
    "name": lambda: serializers.CharField(max_length=10),
    "party": lambda: serializers.IntegerField(min_value=1, max_value=8),
    "email": lambda: serializers.EmailField(required=False, allow_blank=True, default=""),
    "phone": lambda: serializers.RegexField(r"^[0-9 ]{0,12}$", required=False, default=""),
    "kind": lambda: serializers.ChoiceField(choices=["api", "widget"], required=False, default="api"),
}


def _declare(base: type) -> type:
    return type(f"Sample{base.__name__}", (base,), {name: make() for name, make in FIELDS.items()})


Flat = _declare(FlatSerializer)
Deep = _declare(serializers.Serializer)

PAYLOADS: list[dict[str, Any]] = [
    {"name": "Ann", "party": 2},
    {"name": "Bo", "party": "3", "email": "bo@example.com", "phone": "0123 456", "kind": "widget"},
    {"name": "x" * 11, "party": 0, "email": "not-an-email", "phone": "abc", "kind": "fax"},
    {"party": 9},
    {},
    {"name": None, "party": "two"},
]


def _outcome(serializer_class: type, data: dict[str, Any]) -> tuple[bool, Any]:
    serializer = serializer_class(data=data)
    valid = serializer.is_valid()
    return valid, dict(serializer.validated_data) if valid else serializer.errors


@pytest.mark.parametrize("data", PAYLOADS)
def test_the_same_answers_as_drf_serializer(data: dict[str, Any]) -> None:
    assert _outcome(Flat, data) == _outcome(Deep, data)


def test_each_instance_binds_fields_of_its_own() -> None:
    first, second = Flat(data={}), Flat(data={})
    for name in FIELDS:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
        assert Flat._declared_fields[name].parent is None  # type: ignore[attr-defined]  # never bound


def test_threads_validating_at_once_get_their_own_answers() -> None:
    def validate(index: int) -> tuple[bool, Any]:
        return _outcome(Flat, {"name": f"g{index % 1000}", "party": index % 10})

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(validate, range(400)))
    assert outcomes == [_outcome(Deep, {"name": f"g{i % 1000}", "party": i % 10}) for i in range(400)]


def test_a_field_with_children_is_refused_at_declaration() -> None:
    with pytest.raises(TypeError, match="has children"):
        type("Nested", (FlatSerializer,), {"items": serializers.ListField(child=serializers.IntegerField())})
