"""Translation between the stationing messages of fupin.matcher.v1 (AssignCadres) and the
stationing model's objects.

Requests are checked field by field (every violation named, as `inline.cadres[3].rank`)
before a model object is built, so a bad request is INVALID_ARGUMENT, never a failed run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import resources_pb2 as rpb
from matcher.service.convert import INLINE_ID, bounded, location, rank_load_proto, unique_ids
from matcher.service.jobs import Mode, StationingJob, StationingOutcome
from matcher.service.source import CadreItem, StationingData
from matcher.solvers import stationing
from registry.errors import InvalidArgument
from registry.resources.checks import Checker
from registry.runs.data import INLINE

DEFAULT_COVERAGE_WEIGHT_M = 100_000
DEFAULT_PENALTY_M = 10**8
COVERAGE = {
    cpb.COVERAGE_MODE_UNSPECIFIED: stationing.Coverage.OFF,
    cpb.COVERAGE_OFF: stationing.Coverage.OFF,
    cpb.COVERAGE_SOFT: stationing.Coverage.SOFT,
    cpb.COVERAGE_HARD: stationing.Coverage.HARD,
}
CONTINUITY = {
    stationing.Continuity.KEPT: cpb.POSTING_KEPT,
    stationing.Continuity.MOVED: cpb.POSTING_MOVED,
    stationing.Continuity.NEW: cpb.POSTING_NEW,
}
CAUSE_NAMES_BY_VALUE: Mapping[int, str] = MappingProxyType(
    {v.number: v.name for v in rpb.PovertyCause.DESCRIPTOR.values if v.number}
)
CAUSE_NAMES = frozenset(CAUSE_NAMES_BY_VALUE.values())


def stationing_rules(r: cpb.StationingRules, c: Checker) -> dict[str, Any]:
    """Problem-wide settings, and the village defaults under "team_min" etc."""
    team_min = bounded(c, "rules.team_min", r.team_min, 0, 50)
    team_max = bounded(c, "rules.team_max", r.team_max, 0, 50)
    if not (r.team_min or r.team_max):
        team_min = team_max = 3
    elif team_max < team_min:
        c.fail("rules.team_max", "must be at least rules.team_min")
    c.enum("rules.coverage", r.coverage, cpb.CoverageMode, required=False)
    big = 10**12
    return {
        "team_min": team_min,
        "team_max": max(team_max, team_min),
        "min_secretary_rank": bounded(
            c, "rules.min_secretary_rank", r.min_secretary_rank or 1, 1, 5
        ),
        "continuity_threshold": bounded(
            c, "rules.continuity_threshold_m", r.continuity_threshold_m, 0, 10**9
        ),
        "max_per_unit": bounded(c, "rules.max_per_unit", r.max_per_unit, 0, 50) or None,
        "coverage": COVERAGE.get(r.coverage, stationing.Coverage.OFF),
        "shortage_penalty": bounded(
            c, "rules.shortage_penalty_m", r.shortage_penalty_m or DEFAULT_PENALTY_M, 0, big
        ),
        "secretary_penalty": bounded(
            c, "rules.secretary_penalty_m", r.secretary_penalty_m or DEFAULT_PENALTY_M, 0, big
        ),
        "coverage_weight": bounded(
            c, "rules.coverage_weight_m", r.coverage_weight_m or DEFAULT_COVERAGE_WEIGHT_M, 0, 10**9
        ),
    }


def _problem(
    c: Checker, cadres: list[Any], villages: list[Any], rules: dict[str, Any], field: str
) -> Any:
    c.raise_if_any()
    names = [*("continuity_threshold", "max_per_unit", "coverage", "coverage_weight")]
    names += ("shortage_penalty", "secretary_penalty")
    try:
        return stationing.StationingProblem(
            tuple(cadres), tuple(villages), **{k: rules[k] for k in names}
        )
    except ValueError as exc:  # pinned postings that cannot fit, duplicate ids
        raise InvalidArgument.one(field, str(exc)) from None


def inline_stationing(p: cpb.StationingProblem, r: cpb.StationingRules) -> Any:
    """The model's problem from an inline request; bad fields raise InvalidArgument."""
    c = Checker()
    rules = stationing_rules(r, c)
    village_ids = {v.id for v in p.villages}
    villages = [_inline_village(i, v, rules, c) for i, v in enumerate(p.villages)]
    cadres = [_inline_cadre(i, x, village_ids, c) for i, x in enumerate(p.cadres)]
    unique_ids(c, "inline.cadres", [x.id for x in p.cadres])
    unique_ids(c, "inline.villages", [v.id for v in p.villages])
    return _problem(c, cadres, villages, rules, "inline")


def _inline_village(
    i: int, v: cpb.InlineVillage, rules: dict[str, Any], c: Checker
) -> stationing.Village:
    path = f"inline.villages[{i}]."
    c.matches(path + "id", v.id, INLINE_ID, "1-40 letters, digits or _ . : -")
    lat, lng = location(c, path, v)
    team_min = bounded(c, path + "team_min", v.team_min, 0, 50)
    team_max = bounded(c, path + "team_max", v.team_max, 0, 50)
    if not (v.team_min or v.team_max):
        team_min, team_max = rules["team_min"], rules["team_max"]
    elif team_max < team_min:
        c.fail(path + "team_max", "must be at least team_min")
    rank = bounded(c, path + "min_secretary_rank", v.min_secretary_rank, 0, 5)
    return stationing.Village(
        id=v.id,
        lat=lat,
        lng=lng,
        team_min=min(team_min, team_max),  # the checker has the violation
        team_max=team_max,
        needs=frozenset(c.tags(path + "needs", v.needs)),
        min_secretary_rank=rank or rules["min_secretary_rank"],
    )


def _inline_cadre(
    i: int, x: cpb.InlineCadre, village_ids: set[str], c: Checker
) -> stationing.Cadre:
    path = f"inline.cadres[{i}]."
    c.matches(path + "id", x.id, INLINE_ID, "1-40 letters, digits or _ . : -")
    rank = bounded(c, path + "rank", x.rank, 1, 5)
    lat, lng = location(c, path, x)
    distance = c.number(path + "max_distance_km", x.max_distance_km, 1e-9, 40_000)
    current = x.current_village_id or None
    if current is not None and current not in village_ids:
        c.fail(path + "current_village_id", f"names no village of the problem: {current!r}")
        current = None
    if x.pinned and current is None:
        c.fail(path + "pinned", "needs a current_village_id of the problem")
    return stationing.Cadre(
        id=x.id,
        rank=rank,
        skills=frozenset(c.tags(path + "skills", x.skills)),
        home_unit=c.text(path + "home_unit", x.home_unit, 100, required=False),
        lat=lat,
        lng=lng,
        max_distance_km=distance if 0 <= distance <= 40_000 else 0.0,
        current_village_id=current,
        pinned=x.pinned and current is not None,
    )


def registry_stationing(data: StationingData, r: cpb.StationingRules) -> tuple[Any, dict[str, int]]:
    """The problem over registry rows, and each cadre's version (for the commit)."""
    c = Checker()
    rules = stationing_rules(r, c)
    table = {x.cause.upper(): x.skill for x in r.cause_skills} or stationing.CAUSE_SKILLS
    for i, x in enumerate(r.cause_skills):
        if x.cause.upper() not in CAUSE_NAMES:
            c.fail(f"rules.cause_skills[{i}].cause", "is not a PovertyCause name")
        c.tags(f"rules.cause_skills[{i}].skill", [x.skill])
    villages = [
        stationing.Village(
            id=v.id,
            lat=v.latitude,
            lng=v.longitude,
            team_min=rules["team_min"],
            team_max=rules["team_max"],
            needs=frozenset(v.needs)
            | stationing.village_needs(
                [
                    [CAUSE_NAMES_BY_VALUE[k] for k in causes if k in CAUSE_NAMES_BY_VALUE]
                    for causes in v.household_causes
                ],
                table,
            ),
            min_secretary_rank=rules["min_secretary_rank"],
        )
        for v in data.villages
    ]
    known = {v.id for v in data.villages}
    cadres = [
        stationing.Cadre(
            id=x.id,
            rank=x.rank,
            skills=frozenset(x.skills),
            home_unit=x.home_unit,
            lat=x.latitude,
            lng=x.longitude,
            max_distance_km=x.max_distance_km,
            current_village_id=x.current_village_id if x.current_village_id in known else None,
            pinned=x.pinned and x.current_village_id in known,
        )
        for x in data.cadres
        if not (x.pinned and x.current_village_id not in known)  # pinned elsewhere: stays
    ]
    versions = {x.id: x.version for x in data.cadres}
    return _problem(c, cadres, villages, rules, "rules.team_max"), versions


def stationing_job(request: mpb.AssignCadresRequest, problem: Any) -> StationingJob:
    c = Checker()
    c.enum("mode", request.mode, cpb.StationingMode, required=False)
    mode = Mode.STABLE if request.mode == cpb.STABLE else Mode.MIN_COST
    prefs = request.preferences
    given = request.HasField("preferences") and (len(prefs.cadres) or len(prefs.villages))
    cadre_ids = {x.id for x in problem.cadres}
    village_ids = {v.id for v in problem.villages}
    cadre_prefs = _ranking(c, "preferences.cadres", prefs.cadres, cadre_ids, village_ids)
    village_prefs = _ranking(c, "preferences.villages", prefs.villages, village_ids, cadre_ids)
    c.raise_if_any()
    if not given:
        return StationingJob(problem, mode)
    return StationingJob(problem, mode, cadre_prefs, village_prefs)


def _ranking(
    c: Checker, field: str, lists: Sequence[cpb.PreferenceList], owners: set[str], ranked: set[str]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i, p in enumerate(lists):
        if p.owner_id not in owners:
            c.fail(f"{field}[{i}].owner_id", f"names no one of the problem: {p.owner_id!r}")
        elif p.owner_id in out:
            c.fail(f"{field}[{i}].owner_id", "has a second list")
        unknown = [x for x in p.ranked if x not in ranked]
        if unknown:
            c.fail(f"{field}[{i}].ranked", f"names no one of the problem: {unknown[:5]}")
        if len(set(p.ranked)) != len(p.ranked):
            c.fail(f"{field}[{i}].ranked", "repeats an entry (ties are not allowed)")
        out[p.owner_id] = list(p.ranked)
    return out


def stationing_proto(outcome: StationingOutcome, problem: Any) -> cpb.StationingResult:
    result = outcome.result
    previous = {x.id: x.current_village_id or "" for x in problem.cadres}
    rank = {x.id: x.rank for x in problem.cadres}
    out = cpb.StationingResult(
        preferences_used=outcome.preferences_used,
        mode=cpb.STABLE if outcome.mode is Mode.STABLE else cpb.MIN_COST,
        fast_path=result.fast_path,
        cadres=len(problem.cadres),
        villages=len(problem.villages),
        released_cadre_ids=list(result.released),
        village_coverage=result.village_coverage,
        need_coverage=result.need_coverage,
    )
    out.rank_loads.extend(rank_load_proto(x) for x in result.rank_loads)
    out.postings.extend(
        cpb.CadrePosting(
            cadre_id=p.cadre_id,
            village_id=p.village_id,
            is_secretary=p.is_secretary,
            skills_matched=sorted(p.skills_matched),
            distance_km=p.distance_km,
            rank=rank[p.cadre_id],
            continuity=CONTINUITY[p.continuity],
            previous_village_id=previous[p.cadre_id],
        )
        for p in sorted(result.postings, key=lambda p: (p.village_id, not p.is_secretary))
    )
    out.short.extend(
        cpb.VillageShortage(
            village_id=s.village_id,
            members=s.members,
            team_min=s.team_min,
            has_secretary=s.has_secretary,
            reason=cpb.ShortReason.Value(s.reason.value),
        )
        for s in result.short
    )
    out.uncovered.extend(cpb.UncoveredNeed(village_id=v, need=n) for v, n in result.uncovered)
    out.blocking_pairs.extend(
        cpb.BlockingPair(cadre_id=c, village_id=v) for c, v in outcome.blocking
    )
    return out


def stationing_items(
    outcome: StationingOutcome, versions: Mapping[str, int] | None
) -> list[CadreItem]:
    """What a commit applies: every posting (kept ones too, so their versions are checked) and
    every release. An inline run keeps one marker item: it cannot be committed."""
    if versions is None:
        return [CadreItem("", INLINE)]
    result = outcome.result
    items = [CadreItem(p.cadre_id, versions[p.cadre_id], p.village_id) for p in result.postings]
    items += [CadreItem(c, versions[c]) for c in result.released]
    return items


# --- contracting -----------------------------------------------------------------------------
