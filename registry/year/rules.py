"""The procedure's configured rules: notice length and exit conditions.

Read from the scoring file's [notice] and [exit] sections (registry/resources/scoring.toml
by default, FUPIN_SCORING_FILE to override), so an office changes them where it changes the
weights and thresholds.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from registry.resources.scoring import DEFAULT_SCORING_FILE

# 两不愁三保障: the sub-scores exit checks, with the term an office uses.
GUARANTEES = MappingProxyType(
    {
        "food_security": "吃穿不愁 food and clothing",
        "housing_safety": "住房安全 safe housing",
        "children_schooling": "义务教育 compulsory schooling",
        "health": "基本医疗 basic medical care",
    }
)


@dataclass(frozen=True)
class YearRules:
    notice_days: int = 7  # a notice lasts at least this many days, first and last included
    exit_income_line_fen: int = 400_000  # per capita per year
    exit_guarantee_min: int = 60  # each 两不愁三保障 sub-score at least this

    def __post_init__(self) -> None:
        if self.notice_days < 1:
            raise ValueError("notice.days must be at least 1")
        if self.exit_income_line_fen < 0 or not 0 <= self.exit_guarantee_min <= 100:
            raise ValueError("exit.income_line_fen >= 0 and 0 <= exit.guarantee_min <= 100")

    @classmethod
    def load(cls, path: Path | None = None) -> YearRules:
        with (path or DEFAULT_SCORING_FILE).open("rb") as f:
            raw: dict[str, Any] = tomllib.load(f)
        notice, leaving = raw.get("notice", {}), raw.get("exit", {})
        return cls(
            notice_days=int(notice.get("days", 7)),
            exit_income_line_fen=int(leaving.get("income_line_fen", 400_000)),
            exit_guarantee_min=int(leaving.get("guarantee_min", 60)),
        )

    def unmet_exit_conditions(self, household: Any) -> list[str]:
        """Each exit condition the household misses, in words (empty: it may exit)."""
        unmet = []
        income = int(household.income_per_capita_fen)
        if income < self.exit_income_line_fen:
            unmet.append(
                f"income_per_capita_fen {income} is below the exit line {self.exit_income_line_fen}"
            )
        for name, term in GUARANTEES.items():
            value = int(getattr(household, name))
            if value < self.exit_guarantee_min:
                unmet.append(
                    f"indicators.{name} {value} is below {self.exit_guarantee_min} ({term})"
                )
        return unmet


@dataclass(frozen=True)
class RiskRules:
    """The risk rule's weights and spans (the scoring file's [risk] section)."""

    margin_weight: int = 40  # closeness of the score to the poverty line
    trend_weight: int = 20  # the score's fall since the previous assessment, or the income's
    causes_weight: int = 10  # how many causes of poverty
    shocks_weight: int = 30  # recent shocks on the household, its village or its county
    margin_span: int = 20  # points above the line at which the margin term reaches 0
    drop_span: int = 20  # a fall of this many points makes the trend term 1
    income_drop_percent: int = 30  # so does a fall of this many percent of last year's income
    causes_full: int = 3  # this many causes make the causes term 1
    shock_window_days: int = 365  # a shock fades linearly to nothing over this many days
    alert_at: int = 60  # WatchAlerts' default level

    def __post_init__(self) -> None:
        weights = (self.margin_weight, self.trend_weight, self.causes_weight, self.shocks_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("risk weights must be non-negative and not all zero")
        spans = (self.margin_span, self.drop_span, self.income_drop_percent, self.causes_full,
                 self.shock_window_days)  # fmt: skip
        if min(spans) <= 0 or not 0 <= self.alert_at <= 100:
            raise ValueError("risk spans must be positive and alert_at within 0..100")

    @classmethod
    def load(cls, path: Path | None = None) -> RiskRules:
        with (path or DEFAULT_SCORING_FILE).open("rb") as f:
            raw: dict[str, Any] = tomllib.load(f).get("risk", {})
        return cls(**{k: int(v) for k, v in raw.items()})
