"""Household scoring and status: the 建档立卡 score from indicators, thresholds from config.

Pure functions over plain values; the weights, thresholds and watchlist margins come from a
TOML file (registry/scoring.toml by default, FUPIN_SCORING_FILE to override).
"""

from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

DEFAULT_SCORING_FILE = Path(__file__).with_name("scoring.toml")
INDICATORS = (
    "income",
    "housing_safety",
    "food_security",
    "children_schooling",
    "health",
    "disability",
    "labour",
)


class Status(enum.IntEnum):
    """Mirrors fupin.registry.v1.HouseholdStatus."""

    UNSPECIFIED = 0
    IMPOVERISHED = 1
    AT_RISK = 2
    LIFTED_OUT = 3
    RETURNED_TO_POVERTY = 4


@dataclass(frozen=True)
class ScoringConfig:
    weights: MappingProxyType[str, int]
    income_full_score_fen: int
    impoverished_below: int = 60
    lifted_out_from: int = 80
    watch_margin: int = 5
    watch_drop: int = 10

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(INDICATORS)
        if unknown:
            raise ValueError(f"unknown indicator weights: {sorted(unknown)}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        if not 0 < self.impoverished_below <= self.lifted_out_from <= 100:
            raise ValueError("thresholds must satisfy 0 < impoverished_below <= lifted_out_from")
        if self.income_full_score_fen <= 0:
            raise ValueError("income.full_score_fen must be positive")

    @cached_property
    def total_weight(self) -> int:
        return sum(self.weights.values())

    @cached_property
    def weight_row(self) -> tuple[int, ...]:
        """The weights in INDICATORS order (0 when unset), looked up once: imports score a lot."""
        return tuple(self.weights.get(name, 0) for name in INDICATORS)

    @classmethod
    def load(cls, path: Path | None = None) -> ScoringConfig:
        """Read a scoring TOML file (the bundled default when path is None)."""
        with (path or DEFAULT_SCORING_FILE).open("rb") as f:
            raw: dict[str, Any] = tomllib.load(f)
        thresholds = raw.get("thresholds", {})
        watch = raw.get("watchlist", {})
        return cls(
            weights=MappingProxyType({k: int(v) for k, v in raw["weights"].items()}),
            income_full_score_fen=int(raw["income"]["full_score_fen"]),
            impoverished_below=int(thresholds.get("impoverished_below", 60)),
            lifted_out_from=int(thresholds.get("lifted_out_from", 80)),
            watch_margin=int(watch.get("margin", 5)),
            watch_drop=int(watch.get("drop", 10)),
        )


class Indicators(NamedTuple):
    """A household's indicators (a NamedTuple: five times cheaper to build than a frozen
    dataclass, and imports build one per row)."""

    housing_safety: int
    food_security: int
    children_schooling: int
    health: int
    disability: int
    income_per_capita_fen: int
    members: int
    labour_force: int


def score(ind: Indicators, config: ScoringConfig) -> int:
    """Weighted mean of the indicator sub-scores, 0..100."""
    w_income, w_housing, w_food, w_schooling, w_health, w_disability, w_labour = config.weight_row
    income = min(100.0, 100.0 * ind.income_per_capita_fen / config.income_full_score_fen)
    labour = 100.0 * ind.labour_force / ind.members if ind.members > 0 else 0.0
    weighted = (
        w_income * income
        + w_housing * ind.housing_safety
        + w_food * ind.food_security
        + w_schooling * ind.children_schooling
        + w_health * ind.health
        + w_disability * ind.disability
        + w_labour * labour
    )
    return max(0, min(100, round(weighted / config.total_weight)))


def status_for(new_score: int, *, ever_lifted_out: bool, config: ScoringConfig) -> Status:
    """Status from the score; a household once lifted out that falls below the line returned."""
    if new_score >= config.lifted_out_from:
        return Status.LIFTED_OUT
    if new_score >= config.impoverished_below:
        return Status.AT_RISK
    return Status.RETURNED_TO_POVERTY if ever_lifted_out else Status.IMPOVERISHED


class WatchReason(enum.IntEnum):
    """Mirrors fupin.registry.v1.WatchReason."""

    NEAR_LOWER_THRESHOLD = 1
    NEAR_UPPER_THRESHOLD = 2
    SCORE_DROPPED = 3


def watch_reasons(
    status: Status, new_score: int, previous_score: int, config: ScoringConfig
) -> list[WatchReason]:
    """Why a household belongs on the early-warning list (empty: it does not)."""
    reasons = []
    if status in (Status.LIFTED_OUT, Status.AT_RISK):
        if abs(new_score - config.impoverished_below) <= config.watch_margin:
            reasons.append(WatchReason.NEAR_LOWER_THRESHOLD)
        if abs(new_score - config.lifted_out_from) <= config.watch_margin:
            reasons.append(WatchReason.NEAR_UPPER_THRESHOLD)
    if previous_score >= 0 and previous_score - new_score > config.watch_drop:
        reasons.append(WatchReason.SCORE_DROPPED)
    return reasons
