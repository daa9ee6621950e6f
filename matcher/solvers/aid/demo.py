"""Seeded, realistic aid instances for benchmarks, demos and large tests.

Households in six poor counties of Guizhou, Yunnan and Gansu; about half impoverished with
scores skewed low; one to three causes each with national-survey-like frequencies (illness
first, then lack of capital, of technology, of labour). Programmes model the usual instruments:
medical aid, education grants, microcredit, housing renovation, skills training... The first
ten are province-wide; further ones are county programmes. Budgets cover 30–50% of the demand
of the households eligible for them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from matcher.solvers.aid.pairs import eligible
from matcher.solvers.aid.problem import (
    CAUSES,
    DEFAULT_STATUSES,
    AidHousehold,
    AidObjective,
    AidProblem,
    AidProgramme,
    HouseholdStatus,
    Quota,
)

COUNTIES = ("522427", "520422", "522623", "522327", "532927", "621126")
_STATUS_SHARE = {
    HouseholdStatus.IMPOVERISHED: 0.50,
    HouseholdStatus.AT_RISK: 0.20,
    HouseholdStatus.LIFTED_OUT: 0.25,
    HouseholdStatus.RETURNED_TO_POVERTY: 0.05,
}
# Share of filed households citing each cause (illness leads, as in the national survey).
_CAUSE_SHARE = (0.42, 0.10, 0.09, 0.05, 0.05, 0.03, 0.22, 0.17, 0.35, 0.04, 0.05)
_YUAN = 100
# (name, causes, fixed amount or (min, max, step) in yuan)
_TEMPLATES: tuple[tuple[str, tuple[str, ...], int | tuple[int, int, int]], ...] = (
    ("medical-aid", ("illness", "disability"), 3_000),
    ("education-grant", ("education",), (1_000, 5_000, 500)),
    ("microcredit", ("lack_of_capital", "lack_of_technology"), (10_000, 50_000, 5_000)),
    ("housing-renovation", ("natural_disaster", "lack_of_land"), 20_000),
    ("skills-training", ("lack_of_technology", "lack_of_labour", "lack_of_motivation"), 2_000),
    ("safe-water", ("lack_of_water",), 1_500),
    ("relocation", ("poor_transport", "lack_of_land", "natural_disaster"), (10_000, 30_000, 5_000)),
    ("industry-support", ("lack_of_capital", "lack_of_land"), (2_000, 10_000, 1_000)),
    ("disability-subsidy", ("disability", "lack_of_labour"), 1_200),
    ("welfare-jobs", ("lack_of_motivation", "lack_of_capital", "illness"), 6_000),
)
_EXCLUSIVE = (("microcredit", "industry-support"), ("housing-renovation", "relocation"))


def demo_problem(
    households: int,
    programmes: int,
    *,
    seed: int = 0,
    objective: AidObjective = AidObjective.NEED,
) -> AidProblem:
    """A random but reproducible instance of the given size."""
    rng = np.random.default_rng(seed)
    people = _households(households, rng)
    plans = _programmes(programmes)
    plans = _with_budgets(plans, people, rng)
    kinds = [p.id.split("@")[0] for p in plans]
    groups = tuple(
        frozenset(p.id for p, kind in zip(plans, kinds, strict=True) if kind in pair)
        for pair in _EXCLUSIVE
    )
    return AidProblem(
        households=people,
        programmes=plans,
        exclusive_groups=tuple(g for g in groups if len(g) >= 2),
        household_cap_fen=60_000 * _YUAN,
        objective=objective,
        quotas=(
            Quota(plans[0].id, COUNTIES[0], 300),
            Quota(plans[min(2, len(plans) - 1)].id, COUNTIES[1], 200),
        ),
    )


def _households(count: int, rng: np.random.Generator) -> tuple[AidHousehold, ...]:
    statuses = list(_STATUS_SHARE)
    status = rng.choice(len(statuses), size=count, p=list(_STATUS_SHARE.values()))
    # Scores by status: impoverished skewed towards 0, the others in their bands.
    low = np.array([0, 60, 80, 30])[status]
    width = np.array([60, 20, 20, 35])[status]
    shape = np.where(status == 0, 4.0, 2.0)
    score = np.clip(low + width * rng.beta(2.0, shape), 0, 100).astype(int)
    # 1-3 distinct causes by frequency: Gumbel top-k is weighted sampling without replacement.
    keys = np.log(_CAUSE_SHARE) + rng.gumbel(size=(count, len(CAUSES)))
    ranked = np.argsort(-keys, axis=1)
    how_many = rng.choice([1, 2, 3], size=count, p=[0.5, 0.35, 0.15])
    county = rng.integers(len(COUNTIES), size=count)
    town = rng.integers(1, 21, size=count)
    village = rng.integers(1, 31, size=count)
    return tuple(
        AidHousehold(
            id=f"h{i:06d}",
            village_code=f"{COUNTIES[county[i]]}{town[i]:03d}{village[i]:03d}",
            county_code=COUNTIES[county[i]],
            status=statuses[status[i]],
            score=int(score[i]),
            causes=frozenset(CAUSES[c] for c in ranked[i, : how_many[i]]),
        )
        for i in range(count)
    )


def _programmes(count: int) -> tuple[AidProgramme, ...]:
    """Province-wide programmes first, then county editions of the same templates."""
    plans = []
    for n in range(count):
        name, causes, amount = _TEMPLATES[n % len(_TEMPLATES)]
        edition = n // len(_TEMPLATES)
        county = COUNTIES[(edition - 1) % len(COUNTIES)] if edition else ""
        # County editions also serve lifted-out households, to keep them from sliding back.
        statuses = frozenset(HouseholdStatus) if edition else DEFAULT_STATUSES
        fixed, low, high, step = _amounts(amount)
        plans.append(
            AidProgramme(
                f"{name}@{county or 'province'}",
                0,
                fixed,
                low,
                high,
                step,
                frozenset(causes),
                statuses,
                county,
            )
        )
    return tuple(plans)


def _amounts(amount: int | tuple[int, int, int]) -> tuple[int | None, ...]:
    """(fixed, min, max, step) in fen from a template's yuan."""
    if isinstance(amount, int):
        return amount * _YUAN, None, None, None
    low, high, step = amount
    return None, low * _YUAN, high * _YUAN, step * _YUAN


def _with_budgets(
    plans: tuple[AidProgramme, ...], people: tuple[AidHousehold, ...], rng: np.random.Generator
) -> tuple[AidProgramme, ...]:
    """Budgets of 30–50% of what all eligible households would take at the mid amount."""
    problem = AidProblem(households=people, programmes=plans)
    takers = eligible(problem).sum(axis=0)
    cover = rng.uniform(0.3, 0.5, size=len(plans))
    return tuple(
        replace(p, budget_fen=int(n * (p.min_fen + p.max_fen) / 2 * c) // 10_000 * 10_000)
        for p, n, c in zip(plans, takers, cover, strict=True)
    )
