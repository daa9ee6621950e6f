"""Stationing constraints, each satisfied and violated, on villages a few km apart."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from matcher.solvers.common.solving import SolveParams, SolveStatus
from matcher.solvers.stationing import (
    Cadre,
    Continuity,
    Coverage,
    ShortReason,
    StationingProblem,
    Village,
    solve,
    uses_fast_path,
    village_needs,
)

PARAMS = SolveParams(time_limit_s=10, workers=1)
KM = 1 / 111.2  # degrees of latitude per km, near enough


def cadre(name: str, km_north: float, **kw: object) -> Cadre:
    """A cadre ``km_north`` km north of (26.0, 107.0)."""
    fields: dict[str, object] = {
        "rank": 1,
        "skills": frozenset(),
        "home_unit": f"unit-{name}",
        "lat": 26.0 + km_north * KM,
        "lng": 107.0,
        "max_distance_km": 50.0,
    }
    fields.update(kw)
    return Cadre(name, **fields)  # type: ignore[arg-type]


def village(name: str, km_north: float, **kw: object) -> Village:
    fields: dict[str, object] = {
        "lat": 26.0 + km_north * KM,
        "lng": 107.0,
        "team_min": 1,
        "team_max": 1,
    }
    fields.update(kw)
    return Village(name, **fields)  # type: ignore[arg-type]


def posted(result: object) -> dict[str, str]:
    return {p.cadre_id: p.village_id for p in result.postings}  # type: ignore[attr-defined]


def test_nearest_cadre_fills_the_single_seat() -> None:
    """An instance with two cadres and one seat: the nearer one goes."""
    problem = StationingProblem((cadre("near", 1), cadre("far", 9)), (village("v", 0),))
    result = solve(problem, PARAMS)
    assert result.status is SolveStatus.OPTIMAL and result.fast_path
    assert posted(result) == {"near": "v"}
    assert result.objective == pytest.approx(1000, abs=5)


def test_team_max_satisfied_even_when_more_cadres_are_free() -> None:
    """Hard: three cadres, two seats: one stays home."""
    cadres = tuple(cadre(f"c{i}", i) for i in range(3))
    result = solve(StationingProblem(cadres, (village("v", 0, team_min=2, team_max=2),)), PARAMS)
    assert len(result.postings) == 2 and not result.short


def test_team_min_violated_is_reported_short() -> None:
    """Soft: one cadre within reach of a village that needs two is short, no one else near."""
    problem = StationingProblem((cadre("a", 1),), (village("v", 0, team_min=2, team_max=2),))
    result = solve(problem, PARAMS)
    assert result.status is SolveStatus.OPTIMAL
    (short,) = result.short
    assert (short.members, short.reason) == (1, ShortReason.NO_ELIGIBLE_WITHIN_DISTANCE)


def test_short_because_candidates_serve_elsewhere() -> None:
    """Two villages, one cadre who can reach both: the other is short, its candidate taken."""
    problem = StationingProblem((cadre("a", 1),), (village("v", 0), village("w", 2)))
    (short,) = solve(problem, PARAMS).short
    assert short.reason is ShortReason.ALL_CANDIDATES_TAKEN


def test_distance_limit_satisfied() -> None:
    """Hard: a cadre 40 km away with a 50 km limit is posted."""
    result = solve(StationingProblem((cadre("a", 40),), (village("v", 0),)), PARAMS)
    assert posted(result) == {"a": "v"}


def test_distance_limit_violated() -> None:
    """Hard: a cadre 60 km away with a 50 km limit is never posted, however short the team."""
    result = solve(StationingProblem((cadre("a", 60),), (village("v", 0),)), PARAMS)
    assert not result.postings
    assert result.short[0].reason is ShortReason.NO_ELIGIBLE_WITHIN_DISTANCE


def test_secretary_rank_satisfied_by_a_farther_senior_cadre() -> None:
    """Hard: a village asking rank 3 takes the senior cadre over a nearer junior one."""
    cadres = (cadre("junior", 1, rank=1), cadre("senior", 8, rank=3))
    problem = StationingProblem(cadres, (village("v", 0, min_secretary_rank=3),))
    result = solve(problem, PARAMS)
    assert not result.fast_path
    (posting,) = result.postings
    assert posting.cadre_id == "senior" and posting.is_secretary


def test_secretary_rank_violated_reports_no_rank() -> None:
    """Hard: with only juniors in reach the team forms, but without a first secretary."""
    cadres = (cadre("a", 1, rank=1), cadre("b", 2, rank=2))
    problem = StationingProblem(
        cadres, (village("v", 0, team_min=2, team_max=2, min_secretary_rank=4),)
    )
    result = solve(problem, PARAMS)
    assert len(result.postings) == 2 and not any(p.is_secretary for p in result.postings)
    (short,) = result.short
    assert (short.has_secretary, short.reason) == (False, ShortReason.NO_RANK)


def test_hard_coverage_satisfied_by_the_skilled_cadre() -> None:
    """Hard: the village needs health, so the farther doctor goes."""
    cadres = (cadre("clerk", 1), cadre("doctor", 9, skills=frozenset({"health"})))
    v = village("v", 0, needs=frozenset({"health"}))
    result = solve(StationingProblem(cadres, (v,), coverage=Coverage.HARD), PARAMS)
    assert posted(result) == {"doctor": "v"}
    assert result.postings[0].skills_matched == frozenset({"health"})


def test_hard_coverage_violated_is_infeasible_with_the_need_named() -> None:
    """Hard: nobody in reach has the skill: INFEASIBLE, and which need says why."""
    v = village("v", 0, needs=frozenset({"water"}))
    result = solve(StationingProblem((cadre("a", 1),), (v,), coverage=Coverage.HARD), PARAMS)
    assert result.status is SolveStatus.INFEASIBLE
    assert result.uncovered == (("v", "water"),)


def test_soft_coverage_violated_costs_the_weight() -> None:
    """Soft: the need stays uncovered when covering it costs more than its weight."""
    cadres = (cadre("clerk", 1), cadre("doctor", 30, skills=frozenset({"health"})))
    v = village("v", 0, needs=frozenset({"health"}))
    problem = StationingProblem(cadres, (v,), coverage=Coverage.SOFT, coverage_weight=10_000)
    result = solve(problem, PARAMS)
    assert posted(result) == {"clerk": "v"} and result.uncovered == (("v", "health"),)
    assert result.objective == pytest.approx(1000 + 10_000, abs=5)


def test_unit_limit_satisfied_with_different_units() -> None:
    """Hard: two nearest cadres from different units both join."""
    cadres = (
        cadre("a", 1, home_unit="x"),
        cadre("b", 2, home_unit="y"),
        cadre("c", 9, home_unit="z"),
    )
    problem = StationingProblem(cadres, (village("v", 0, team_min=2, team_max=2),), max_per_unit=1)
    assert posted(solve(problem, PARAMS)) == {"a": "v", "b": "v"}


def test_unit_limit_violated_skips_the_second_cadre_of_a_unit() -> None:
    """Hard: the two nearest share a unit, so the second seat goes to the farther cadre."""
    cadres = (
        cadre("a", 1, home_unit="x"),
        cadre("b", 2, home_unit="x"),
        cadre("c", 9, home_unit="z"),
    )
    problem = StationingProblem(cadres, (village("v", 0, team_min=2, team_max=2),), max_per_unit=1)
    result = solve(problem, PARAMS)
    assert not result.fast_path and posted(result) == {"a": "v", "c": "v"}


def test_pinned_cadre_stays_beyond_its_distance() -> None:
    """Hard: a pinned cadre keeps a posting 80 km away although a nearer cadre is free."""
    cadres = (cadre("pinned", 80, current_village_id="v", pinned=True), cadre("near", 1))
    result = solve(StationingProblem(cadres, (village("v", 0),)), PARAMS)
    assert posted(result) == {"pinned": "v"}
    assert result.postings[0].continuity is Continuity.KEPT


def test_pinned_cadres_beyond_team_max_are_rejected() -> None:
    """Hard: two cadres pinned to a one-seat village is a caller error."""
    cadres = tuple(cadre(f"c{i}", 1, current_village_id="v", pinned=True) for i in range(2))
    with pytest.raises(ValueError, match="pinned"):
        StationingProblem(cadres, (village("v", 0),))


def test_continuity_keeps_a_posting_when_the_gain_is_below_the_threshold() -> None:
    """Soft: moving saves 2 km but the threshold is 5 km, so the incumbent stays."""
    cadres = (cadre("incumbent", 3, current_village_id="v"), cadre("near", 1))
    result = solve(
        StationingProblem(cadres, (village("v", 0),), continuity_threshold=5_000), PARAMS
    )
    assert posted(result) == {"incumbent": "v"}
    assert result.postings[0].continuity is Continuity.KEPT


def test_continuity_moves_a_cadre_when_the_gain_beats_the_threshold() -> None:
    """Soft: replacing saves 8 km against a 5 km threshold: the incumbent is released."""
    cadres = (cadre("incumbent", 9, current_village_id="v"), cadre("near", 1))
    result = solve(
        StationingProblem(cadres, (village("v", 0),), continuity_threshold=5_000), PARAMS
    )
    assert posted(result) == {"near": "v"} and result.released == ("incumbent",)


def test_moved_cadre_is_reported_moved() -> None:
    """A cadre whose village leaves the problem's villages is posted anew as MOVED."""
    result = solve(
        StationingProblem((cadre("a", 1, current_village_id="gone"),), (village("v", 0),)), PARAMS
    )
    assert result.postings[0].continuity is Continuity.MOVED


def test_candidates_restrict_the_pairs() -> None:
    """Only the listed candidate pairs are considered (plus current postings)."""
    cadres = (cadre("a", 1), cadre("b", 9))
    only_b = (np.array([1]), np.array([0]))
    result = solve(StationingProblem(cadres, (village("v", 0),), candidates=only_b), PARAMS)
    assert posted(result) == {"b": "v"}


def test_fast_path_chosen_only_without_side_constraints() -> None:
    """Coverage with needs, rank or a binding unit limit send the problem to CP-SAT."""
    base = StationingProblem((cadre("a", 1),), (village("v", 0, needs=frozenset({"water"})),))
    assert uses_fast_path(base)
    assert not uses_fast_path(dataclasses.replace(base, coverage=Coverage.SOFT))
    assert not uses_fast_path(
        dataclasses.replace(base, max_per_unit=0 + 1, villages=(village("v", 0, team_max=2),))
    )


def test_progress_is_reported() -> None:
    """The progress callback sees the final objective at least once."""
    seen: list[float] = []
    params = SolveParams(time_limit_s=10, workers=1, progress=lambda o, b, s: seen.append(o))
    result = solve(StationingProblem((cadre("a", 1),), (village("v", 0),)), params)
    assert seen and seen[-1] == result.objective


def test_village_needs_from_causes() -> None:
    """Causes map to skills; a skill counts once enough households call for it."""
    causes = [["ILLNESS", "lack_of_water"], ["illness"], ["POOR_TRANSPORT"], ["UNLISTED"]]
    assert village_needs(causes) == {"health", "water", "ecommerce"}
    assert village_needs(causes, min_households=2) == {"health"}
    assert village_needs(causes, table={"UNLISTED": "custom"}) == {"custom"}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"rank": 6}, "rank"),
        ({"lat": 91.0}, "lat"),
        ({"pinned": True}, "pinned"),
        ({"max_distance_km": -1.0}, "max_distance"),
    ],
)
def test_invalid_cadre_is_rejected(kw: dict[str, object], message: str) -> None:
    """Cadre fields are validated as the object is made."""
    with pytest.raises(ValueError, match=message):
        cadre("a", 0, **kw)


def test_duplicate_ids_and_bad_candidates_are_rejected() -> None:
    """Problem-level checks: unique ids, candidate indices in range."""
    with pytest.raises(ValueError, match="duplicate"):
        StationingProblem((cadre("a", 0), cadre("a", 1)), (village("v", 0),))
    with pytest.raises(ValueError, match="out of range"):
        StationingProblem(
            (cadre("a", 0),), (village("v", 0),), candidates=(np.array([0]), np.array([3]))
        )
