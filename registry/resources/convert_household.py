"""The household's file card (建档立卡) between its message and its row: every input field
checked (indicators, causes, members, income), and the card with its score, per-set sub-scores
and status history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fupin.registry.v1 import resources_pb2 as pb
from registry.resources import models
from registry.resources.checks import CONTROL, Checker, checked_extra, valid_extra
from registry.resources.convert import CARD_NUMBER, Values
from registry.resources.household_rows import Change, HouseholdRow, micros

INDICATOR_FIELDS = ("housing_safety", "food_security", "children_schooling", "health", "disability")
KNOWN_CAUSES = frozenset(pb.PovertyCause.values()) - {0}
MAX_MEMBERS = 100
MAX_INCOME_FEN = 10**12


def household_values(m: pb.Household, c: Checker) -> Values:
    values = _valid_household(m)
    return values if values is not None else _checked_household(m, c)


def _valid_household(m: pb.Household) -> Values | None:
    """The values of a household that passes every check of _checked_household, else None.

    Imports validate 100,000s of rows, nearly all valid; plain comparisons are several times
    cheaper than checks that can word a violation. So this must accept exactly what
    _checked_household accepts, and only rows it refuses pay for the wording."""
    ind = m.indicators
    village_id, head_name = m.village_id.strip(), m.head_name.strip()
    reason = m.assessment_reason.strip()
    members, labour_force = m.members, m.labour_force
    causes = list(m.causes)  # iterated twice below, and a list iterates faster
    extra = ind.extra
    valid = (
        0 < len(village_id) <= 40
        and 0 < len(head_name) <= 100
        and len(reason) <= 200
        and not CONTROL.search(village_id + head_name + reason)
        and CARD_NUMBER.fullmatch(m.card_number)
        and 1 <= members <= MAX_MEMBERS
        and 0 <= labour_force <= members
        and KNOWN_CAUSES.issuperset(causes)
        and m.HasField("indicators")
        and 0 <= ind.housing_safety <= 100
        and 0 <= ind.food_security <= 100
        and 0 <= ind.children_schooling <= 100
        and 0 <= ind.health <= 100
        and 0 <= ind.disability <= 100
        and 0 <= ind.income_per_capita_fen <= MAX_INCOME_FEN
        and (not extra or valid_extra(extra))
    )
    if not valid:
        return None
    return {
        "village_id": village_id,
        "card_number": m.card_number,
        "head_name": head_name,
        "members": members,
        "labour_force": labour_force,
        "causes": list(dict.fromkeys(causes)),  # first occurrences, in order
        "_reason": reason,
        "housing_safety": ind.housing_safety,
        "food_security": ind.food_security,
        "children_schooling": ind.children_schooling,
        "health": ind.health,
        "disability": ind.disability,
        "income_per_capita_fen": ind.income_per_capita_fen,
        "extra_indicators": dict(sorted(extra.items())) if extra else {},  # most have none
    }


def _checked_household(m: pb.Household, c: Checker) -> Values:
    members = c.integer("members", m.members, 1, MAX_MEMBERS)
    values: Values = {
        "village_id": c.text("village_id", m.village_id, 40),
        "card_number": c.matches(
            "card_number", m.card_number, CARD_NUMBER, "4-40 letters, digits or '-'"
        ),
        "head_name": c.text("head_name", m.head_name, 100),
        "members": members,
        "labour_force": c.integer("labour_force", m.labour_force, 0, max(members, 0)),
        "causes": c.enums("causes", m.causes, pb.PovertyCause),
        "_reason": c.text("assessment_reason", m.assessment_reason, 200, required=False),
    }
    if not m.HasField("indicators"):
        c.fail("indicators", "is required")
    ind = m.indicators
    for name in INDICATOR_FIELDS:
        values[name] = c.integer(f"indicators.{name}", getattr(ind, name), 0, 100)
    values["income_per_capita_fen"] = c.integer(
        "indicators.income_per_capita_fen", ind.income_per_capita_fen, 0, MAX_INCOME_FEN
    )
    values["extra_indicators"] = checked_extra(ind.extra, c)
    return values


def household_proto(
    row: models.Household, history: list[models.StatusChange] | None = None
) -> pb.Household:
    return pb.Household(**household_fields(household_row(row, history or [])))


def household_row(row: Any, history: Sequence[Any]) -> HouseholdRow:
    """The columns of a household read as an ORM object or a Row, as household_rows reads
    them for a page (one conversion to the message for both)."""
    return HouseholdRow(
        row.id,
        row.village_id,
        row.county_code,
        row.card_number,
        row.head_name,
        row.members,
        row.labour_force,
        row.housing_safety,
        row.food_security,
        row.children_schooling,
        row.health,
        row.disability,
        row.income_per_capita_fen,
        list(row.causes or []),
        row.score,
        row.status,
        row.previous_score,
        dict(row.extra_indicators or {}),
        dict(row.set_scores or {}),
        micros(row.create_time),
        micros(row.update_time),
        row.version,
        [Change(micros(h.time), h.old_status, h.new_status, h.score, h.reason) for h in history],
    )


def household_fields(h: HouseholdRow) -> dict[str, Any]:
    """The Household message's fields, as keyword arguments: `pb.Household(**fields)`, or
    `response.households.add(**fields)`, which builds it in place (extend() copies each).
    Nested messages are given as dicts, which protobuf builds without a Python object."""
    indicators: dict[str, Any] = {
        "housing_safety": h.housing_safety,
        "food_security": h.food_security,
        "children_schooling": h.children_schooling,
        "health": h.health,
        "disability": h.disability,
        "income_per_capita_fen": h.income_per_capita_fen,
    }
    if h.extra_indicators:  # a map is filled item by item in Python: not when it is empty
        indicators["extra"] = h.extra_indicators
    return {
        "id": h.id,
        "village_id": h.village_id,
        "county_code": h.county_code,
        "card_number": h.card_number,
        "head_name": h.head_name,
        "members": h.members,
        "labour_force": h.labour_force,
        "indicators": indicators,
        "causes": h.causes,
        "score": h.score,
        "status": h.status,
        "previous_score": h.previous_score,
        "set_scores": h.set_scores,
        "history": [
            {
                "time": timestamp_fields(c.time_us),
                "old_status": c.old_status,
                "new_status": c.new_status,
                "score": c.score,
                "reason": c.reason,
            }
            for c in h.history
        ],
        "create_time": timestamp_fields(h.create_us),
        "update_time": timestamp_fields(h.update_us),
        "etag": f'"{h.version}"',
    }


def timestamp_fields(us: int) -> dict[str, int]:
    """A google.protobuf.Timestamp's fields from microseconds since the epoch."""
    seconds, rest = divmod(us, 1_000_000)
    return {"seconds": seconds, "nanos": rest * 1000}
