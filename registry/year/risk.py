"""A household's risk of (returning to) poverty, explained: pure, over plain values.

The risk (0-100) is the weighted mean of four terms (registry/year/rules.py RiskRules): how
close the score is to the poverty line, the trend (how far the score fell since the previous
assessment or the household's income fell from the year before last to last year, whichever
weighs more), how many causes of poverty the household has, and the shocks on it, its village
or its county (each severity / 3, fading linearly over the window). Each term that counts is
explained.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from registry.year.rules import RiskRules

SHOCK_WORDS = {
    1: "disaster 灾害",
    2: "illness 疾病",
    3: "price collapse 价格暴跌",
    4: "epidemic 疫情",
    5: "job loss 失业",
}


@dataclass(frozen=True)
class HouseholdFacts:
    id: str
    village_id: str
    county_code: str
    status: int
    score: int
    previous_score: int  # -1: none
    causes: Sequence[int]
    # Income records (produce + dividends + aid, fen) of the year before last and last year,
    # and last year; -1 where there is none.
    income_before: int = -1
    income_after: int = -1
    income_year: int = 0


@dataclass(frozen=True)
class ShockFact:
    id: str
    kind: int
    date: dt.date
    severity: int
    where: str  # "household", "village" or "county"


@dataclass(frozen=True)
class Risk:
    risk: int
    reasons: tuple[str, ...]


def assess(
    facts: HouseholdFacts,
    shocks: Sequence[ShockFact],
    *,
    line: int,
    rules: RiskRules,
    today: dt.date,
) -> Risk:
    reasons = []
    above = facts.score - line
    margin = min(1.0, max(0.0, 1 - above / rules.margin_span))
    if margin > 0:
        where = f"{above} above" if above > 0 else f"{-above} below" if above < 0 else "at"
        reasons.append(f"score {facts.score} is {where} the line {line}")
    fall = facts.previous_score - facts.score if facts.previous_score >= 0 else 0
    trend = min(1.0, max(0.0, fall / rules.drop_span))
    if trend > 0:
        reasons.append(f"score fell {fall} since the previous assessment")
    before, after = facts.income_before, facts.income_after
    if before > 0 and 0 <= after < before:
        percent = round(100 * (before - after) / before)
        trend = max(trend, min(1.0, percent / rules.income_drop_percent))
        year = facts.income_year
        reasons.append(f"income {year} was {percent}% below {year - 1}")
    causes = min(1.0, len(facts.causes) / rules.causes_full)
    if causes > 0:
        reasons.append(f"{len(facts.causes)} causes of poverty")
    weight = 0.0
    for shock in shocks:
        age = (today - shock.date).days
        fading = max(0.0, 1 - max(age, 0) / rules.shock_window_days)
        if fading > 0:
            weight += shock.severity / 3 * fading
            reasons.append(
                f"{SHOCK_WORDS.get(shock.kind, 'shock')} on its {shock.where} on "
                f"{shock.date.isoformat()} (severity {shock.severity})"
            )
    shocked = min(1.0, weight)
    weights = (rules.margin_weight, rules.trend_weight, rules.causes_weight, rules.shocks_weight)
    terms = (margin, trend, causes, shocked)
    total = sum(w * t for w, t in zip(weights, terms, strict=True)) / sum(weights)
    return Risk(round(100 * total), tuple(reasons))
