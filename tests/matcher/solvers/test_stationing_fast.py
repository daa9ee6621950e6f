"""The fast path against linear_sum_assignment on the slot-expanded cost matrix."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from matcher.solvers.common.solving import SolveParams, SolveStatus
from matcher.solvers.stationing import (
    Cadre,
    StationingProblem,
    Village,
    solve,
    uses_fast_path,
)

SHORTAGE, SECRETARY = 1_000_000, 300_000
FORBIDDEN = 10**12


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres, written independently of the module."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(a, 1.0)))


@st.composite
def problems(draw: st.DrawFn) -> StationingProblem:
    """Up to 6 cadres and 3 villages within ~30 km, some with current postings."""
    coord = st.floats(-0.15, 0.15, allow_nan=False)
    n_villages = draw(st.integers(1, 3))
    villages = []
    for j in range(n_villages):
        low = draw(st.integers(0, 2))
        villages.append(
            Village(
                f"v{j}", 26 + draw(coord), 107 + draw(coord), low, low + draw(st.integers(0, 1))
            )
        )
    cadres = []
    for i in range(draw(st.integers(0, 6))):
        current = draw(st.sampled_from([None, *(v.id for v in villages)]))
        cadres.append(
            Cadre(
                f"c{i}",
                1,
                frozenset(),
                "u",
                26 + draw(coord),
                107 + draw(coord),
                draw(st.floats(5, 40)),
                current,
            )
        )
    threshold = draw(st.sampled_from([0, 3_000, 20_000]))
    return StationingProblem(
        tuple(cadres),
        tuple(villages),
        continuity_threshold=threshold,
        shortage_penalty=SHORTAGE,
        secretary_penalty=SECRETARY,
    )


def assignment_optimum(problem: StationingProblem) -> int:
    """Min cost over slots: rows are cadres then one dummy per slot; each village has a first
    seat (empty: shortage + secretary), the rest of team_min (shortage), optional seats (0)."""
    slots = [(j, k) for j, v in enumerate(problem.villages) for k in range(v.team_max)]
    cost = np.full((len(problem.cadres) + len(slots), len(slots)), float(FORBIDDEN))
    offset = 0  # leaving a posting one could keep costs the threshold
    for i, c in enumerate(problem.cadres):
        for j, v in enumerate(problem.villages):
            d = haversine_m(c.lat, c.lng, v.lat, v.lng)
            if d > c.max_distance_km * 1000:
                continue
            kept = c.current_village_id == v.id
            offset += problem.continuity_threshold * kept
            for s, (slot_village, _) in enumerate(slots):
                if slot_village == j:
                    cost[i, s] = round(d) - problem.continuity_threshold * kept
    for s, (j, k) in enumerate(slots):
        team_min = problem.villages[j].team_min
        empty = SHORTAGE + SECRETARY if k == 0 else SHORTAGE
        cost[len(problem.cadres) :, s] = empty if k < team_min else 0
    rows, cols = linear_sum_assignment(cost)
    total = cost[rows, cols].sum()
    assert total < FORBIDDEN
    return round(total) + offset


@settings(max_examples=120, deadline=None)
@given(problems())
def test_fast_path_matches_linear_sum_assignment(problem: StationingProblem) -> None:
    """Min-cost flow and the Hungarian method on seats agree on the optimum."""
    assert uses_fast_path(problem)
    result = solve(problem, SolveParams(time_limit_s=10, workers=1))
    assert result.status is SolveStatus.OPTIMAL and result.fast_path
    assert result.objective == assignment_optimum(problem)
    assert result.bound == result.objective and result.gap == 0


def test_large_candidate_lists_build_without_python_loops() -> None:
    """20,000 cadres × 30 candidates (600,000 arcs) solve in seconds."""
    rng = np.random.default_rng(1)
    villages = tuple(Village(f"v{j}", 26 + rng.random(), 107 + rng.random()) for j in range(400))
    cadres = tuple(
        Cadre(f"c{i}", 1, frozenset(), "u", 26 + rng.random(), 107 + rng.random(), 200.0)
        for i in range(20_000)
    )
    candidates = (np.repeat(np.arange(20_000), 30), rng.integers(0, 400, 600_000))
    result = solve(StationingProblem(cadres, villages, candidates=candidates))
    assert result.status is SolveStatus.OPTIMAL and len(result.postings) == 1200
