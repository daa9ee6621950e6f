"""The annual re-survey's diff: each surveyed household against its stored card, by card number.

Pure: stored households come in as column dicts, surveyed rows as validated values
(registry/resources/convert.py household_values). registry/year/resurvey_store.py reads and
writes the database around it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from registry.errors import FieldViolation

# The surveyed fields, compared with the stored card (a change in any is an update).
SURVEYED = (
    *("village_id", "head_name", "members", "labour_force", "housing_safety", "food_security"),
    *("children_schooling", "health", "disability", "income_per_capita_fen", "causes"),
    "extra_indicators",
)
SHOWN_CHANGES = 20  # the first changes a dry run prints


JSON_FIELDS = frozenset({"causes", "extra_indicators"})


@dataclass(frozen=True)
class Change:
    card_number: str
    household_id: str
    field: str
    old: str
    new: str


class Stored(NamedTuple):
    """A stored household as the diff needs it; `surveyed` in SURVEYED order, JSON as text.
    A named tuple: 100,000 of them are made per re-survey, at a third of a frozen
    dataclass's cost."""

    id: str
    card_number: str
    score: int
    status: int
    surveyed: tuple[Any, ...]


@dataclass
class Diff:
    updated: list[tuple[Stored, dict[str, Any], list[str]]] = field(default_factory=list)
    unchanged: int = 0
    added: list[dict[str, Any]] = field(default_factory=list)
    missing: list[Stored] = field(default_factory=list)  # stored, not surveyed
    first_changes: list[Change] = field(default_factory=list)


def duplicate_cards(rows: Iterable[Mapping[str, Any]]) -> list[FieldViolation]:
    """A card number surveyed twice: each repeat named with the row it repeats."""
    seen: dict[str, int] = {}
    bad = []
    for i, row in enumerate(rows):
        first = seen.setdefault(row["card_number"], i)
        if first != i:
            bad.append(FieldViolation(f"households[{i}].card_number", f"repeats row {first}"))
    return bad


def diff(rows: list[dict[str, Any]], stored: Mapping[str, Stored]) -> Diff:
    """Updated (with the fields that changed), unchanged, added and missing households.

    Rows compare as tuples, JSON fields as their text (cached: few distinct cause lists), so
    an unchanged household costs one tuple comparison; only a mismatch looks field by field
    (and parses JSON text, which may differ in spacing alone)."""
    result = Diff()
    surveyed = set()
    texts: dict[Any, str] = {}
    for row in rows:
        card = row["card_number"]
        surveyed.add(card)
        old = stored.get(card)
        if old is None:
            result.added.append(row)
            continue
        new = _surveyed(row, texts)
        if new == old.surveyed:
            result.unchanged += 1
            continue
        changed = [
            name
            for name, a, b in zip(SURVEYED, old.surveyed, new, strict=True)
            if a != b and not (name in JSON_FIELDS and json.loads(a) == json.loads(b))
        ]
        if not changed:
            result.unchanged += 1
            continue
        result.updated.append((old, row, changed))
        for name in changed:
            if len(result.first_changes) < SHOWN_CHANGES:
                before = old.surveyed[SURVEYED.index(name)]
                after = json_text(row[name], texts) if name in JSON_FIELDS else row[name]
                change = Change(card, old.id, name, str(before), str(after))
                result.first_changes.append(change)
    result.missing = [old for card, old in stored.items() if card not in surveyed]
    return result


def _surveyed(row: Mapping[str, Any], texts: dict[Any, str]) -> tuple[Any, ...]:
    return (
        *(row["village_id"], row["head_name"], row["members"], row["labour_force"]),
        *(row["housing_safety"], row["food_security"], row["children_schooling"]),
        *(row["health"], row["disability"], row["income_per_capita_fen"]),
        json_text(row["causes"], texts),
        json_text(row["extra_indicators"], texts),
    )


def json_text(value: list[Any] | dict[str, Any], cache: dict[Any, str]) -> str:
    """value as JSON text, each distinct value encoded once."""
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    key = (0, *value.items()) if isinstance(value, dict) else (1, *value)
    text = cache.get(key)
    if text is None:
        text = cache[key] = json.dumps(value)
    return text
