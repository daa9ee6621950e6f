"""Field-by-field validation that collects every violation before anything is written."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from registry.errors import FieldViolation, InvalidArgument
from registry.resources.scoring import EXTRA_NAME, INDICATORS

SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Dates are compared as text in the database, so only one spelling of each is accepted:
# fromisoformat alone also takes "2020-W01-1" and "20200501".
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(value: str) -> dt.date:
    """The date written strictly as YYYY-MM-DD; ValueError otherwise."""
    if not DATE.fullmatch(value):
        raise ValueError(value)
    return dt.date.fromisoformat(value)


class Checker:
    """Validates one message; `field` paths are prefixed (e.g. "households[17].")."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(self.prefix + field, description))

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)

    def text(self, field: str, value: str, max_len: int, *, required: bool = True) -> str:
        value = value.strip()
        if required and not value:
            self.fail(field, "is required")
        elif len(value) > max_len:
            self.fail(field, f"must be at most {max_len} characters")
        elif CONTROL.search(value):
            self.fail(field, "must not contain control characters")
        return value

    def matches(self, field: str, value: str, pattern: re.Pattern[str], what: str) -> str:
        if not pattern.fullmatch(value):
            self.fail(field, f"must be {what}")
        return value

    def integer(self, field: str, value: int, lo: int, hi: int | None = None) -> int:
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            self.fail(field, f"must be {bound}, got {value}")
        return value

    def number(self, field: str, value: float, lo: float, hi: float) -> float:
        if not (math.isfinite(value) and lo <= value <= hi):
            self.fail(field, f"must be between {lo} and {hi}, got {value}")
        return value

    def enum(self, field: str, value: int, enum: Any, *, required: bool = True) -> int:
        if value not in enum.DESCRIPTOR.values_by_number:
            self.fail(field, f"unknown value {value}")
        elif required and value == 0:
            self.fail(field, f"is required (one of {', '.join(enum.keys()[1:])})")
        return value

    def enums(self, field: str, values: Any, enum: Any) -> list[int]:
        out: list[int] = []
        known = enum.DESCRIPTOR.values_by_number
        for i, value in enumerate(values):
            if value == 0 or value not in known:
                self.fail(f"{field}[{i}]", f"unknown value {value}")
            elif value not in out:
                out.append(int(value))
        return out

    def tags(self, field: str, values: Any, *, max_items: int = 50) -> list[str]:
        out: list[str] = []
        if len(values) > max_items:
            self.fail(field, f"at most {max_items} items")
            return out
        for i, value in enumerate(values):
            if not SLUG.fullmatch(value) or len(value) > 60:
                self.fail(f"{field}[{i}]", "must be a lower-case tag such as 'ecommerce'")
            elif value not in out:
                out.append(str(value))
        return out

    def date(self, field: str, value: str) -> str:
        try:
            iso_date(value)
        except ValueError:
            self.fail(field, f"must be a date YYYY-MM-DD, got {value[:40]!r}")
        return value

    def location(self, field: str, message: Any) -> dict[str, float]:
        if not message.HasField(field):
            self.fail(field, "is required")
            return {"latitude": 0.0, "longitude": 0.0}
        point = getattr(message, field)
        return {
            "latitude": self.number(f"{field}.latitude", point.latitude, -90, 90),
            "longitude": self.number(f"{field}.longitude", point.longitude, -180, 180),
        }


MAX_EXTRA_INDICATORS = 100


def valid_extra(extra: Any) -> bool:
    """Extra indicators (a map of name to 0..100) that checked_extra accepts (the fast path)."""
    return len(extra) <= MAX_EXTRA_INDICATORS and all(
        0 <= value <= 100 and EXTRA_NAME.fullmatch(name) and name not in INDICATORS
        for name, value in extra.items()
    )


def checked_extra(extra: Any, c: Checker) -> dict[str, int]:
    """Extra indicators, each bad name or value a violation naming it."""
    if len(extra) > MAX_EXTRA_INDICATORS:
        c.fail("indicators.extra", f"holds at most {MAX_EXTRA_INDICATORS} indicators")
    for name, value in sorted(extra.items()):
        field = f"indicators.extra[{name}]"
        if not EXTRA_NAME.fullmatch(name) or name in INDICATORS:
            c.fail(field, "names an indicator: [a-z][a-z0-9_]*, at most 40, not a built-in one")
        c.integer(field, value, 0, 100)
    return dict(sorted(extra.items()))
