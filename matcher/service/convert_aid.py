"""Translation between fupin.matcher.v1 aid messages (and registry records) and the aid
model's plain objects (matcher.solvers.aid.solve). Bad input becomes InvalidArgument naming the
proto field."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import resources_pb2 as pb
from matcher.service.source import AidHouseholdRecord, AidInputs
from matcher.solvers import aid
from matcher.solvers.aid.problem import DEFAULT_STATUSES
from registry.errors import FieldViolation, InvalidArgument

T = TypeVar("T")
# Model field -> proto field, where their names differ.
HOUSEHOLD_FIELDS = {"county_code": "village_code"}
PROGRAMME_FIELDS = {
    "max_amount_fen": "amount_fen",
    "statuses": "eligible_statuses",
    "status": "eligible_statuses",
    "region_prefix": "region_code",
}
QUOTA_FIELDS = {"region_prefix": "region_code"}
REASONS = {reason: mpb.LeftOutReason.Value(reason.value) for reason in aid.LeftOutReason}
OBJECTIVES = {
    mpb.AID_OBJECTIVE_UNSPECIFIED: aid.AidObjective.NEED,
    mpb.AID_NEED: aid.AidObjective.NEED,
    mpb.AID_REACH_FIRST: aid.AidObjective.REACH_FIRST,
}


class _Collect:
    """Gathers every field violation of a request before raising them together."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def build(
        self, path: str, names: dict[str, str], make: Callable[..., T], *args: Any
    ) -> T | None:
        """``make(*args)``, or None with the model's ValueError ("field: why") as a violation."""
        try:
            return make(*args)
        except ValueError as exc:
            name, _, why = str(exc).partition(": ")
            self.fail(f"{path}.{names.get(name, name)}", why or str(exc))
            return None

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)


def _status_name(value: int) -> str:
    if value == pb.HOUSEHOLD_STATUS_UNSPECIFIED:
        raise ValueError("status: is required")
    try:
        return pb.HouseholdStatus.Name(value)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"status: unknown household status {value}") from None


def _causes(field: str, values: Iterable[int]) -> frozenset[str]:
    names = set()
    for value in values:
        try:
            name = pb.PovertyCause.Name(value)  # type: ignore[arg-type]
        except ValueError:
            name = ""
        if not value or not name:
            raise ValueError(f"{field}: unknown cause of poverty {value}")
        names.add(name.lower())
    return frozenset(names)


def _household(ident: str, code: str, status: int, score: int, causes: Any) -> aid.AidHousehold:
    return aid.AidHousehold(
        id=ident,
        village_code=code,
        county_code=code[:6],
        status=aid.HouseholdStatus(_status_name(status)),
        score=score,
        causes=_causes("causes", causes),
    )


def _programme(
    ident: str,
    budget: int,
    amount: int,
    minimum: int,
    step: int,
    causes: Any,
    statuses: Any,
    region: str,
) -> aid.AidProgramme:
    kept = frozenset(aid.HouseholdStatus(_status_name(s)) for s in statuses)
    ranged = {"amount_fen": amount}
    if minimum:
        ranged = {"min_amount_fen": minimum, "max_amount_fen": amount, "step_fen": step}
    return aid.AidProgramme(
        id=ident,
        budget_fen=budget,
        causes=_causes("causes", causes),
        statuses=kept or DEFAULT_STATUSES,
        region_prefix=region,
        **ranged,
    )


def inline_problem(request: mpb.AllocateAidRequest) -> aid.AidProblem:
    p, check = request.inline, _Collect()
    households = [
        check.build(
            f"inline.households[{i}]",
            HOUSEHOLD_FIELDS,
            _household,
            *(h.id, h.village_code, h.status, h.score, h.causes),
        )
        for i, h in enumerate(p.households)
    ]
    programmes = [
        check.build(
            f"inline.programmes[{i}]",
            PROGRAMME_FIELDS,
            _programme,
            *(
                x.id,
                x.budget_fen,
                x.amount_fen,
                x.min_amount_fen,
                x.step_fen,
                x.causes,
                x.eligible_statuses,
                x.region_code,
            ),
        )
        for i, x in enumerate(p.programmes)
    ]
    return _problem(check, households, programmes, request.rules, "inline.programmes[{}].id")


def registry_problem(inputs: AidInputs, rules: mpb.AidRules) -> aid.AidProblem:
    """The problem over registry records; each programme gets what its budget has left."""
    check = _Collect()
    households = [_registry_household(check, h) for h in inputs.households]
    programmes = [
        check.build(
            f"selection.programme_ids[{i}]",
            {},
            _programme,
            *(
                x.id,
                x.budget_fen - x.spent_fen,
                x.amount_fen,
                x.min_amount_fen,
                x.step_fen,
                x.causes,
                x.eligible_statuses,
                x.region_code,
            ),
        )
        for i, x in enumerate(inputs.programmes)
    ]
    path = "selection.programme_ids[{}]"
    return _problem(check, households, programmes, rules, path, held=frozenset(inputs.held))


def _registry_household(check: _Collect, h: AidHouseholdRecord) -> aid.AidHousehold | None:
    """Registry rows were validated on the way in; one that still does not fit the model (an
    unscored household) is left out rather than failing the whole run."""
    try:
        return _household(h.id, h.village_code, h.status, h.score, h.causes)
    except ValueError:
        return None


def _problem(
    check: _Collect,
    households: Sequence[aid.AidHousehold | None],
    programmes: Sequence[aid.AidProgramme | None],
    rules: mpb.AidRules,
    programme_path: str,
    held: frozenset[tuple[str, str]] = frozenset(),
) -> aid.AidProblem:
    need = _need(check, rules)
    quotas = [
        check.build(
            f"rules.quotas[{i}]",
            QUOTA_FIELDS,
            aid.Quota,
            *(q.programme_id, q.region_code, q.min_share_permille),
        )
        for i, q in enumerate(rules.quotas)
    ]
    if rules.household_cap_fen < 0:
        check.fail("rules.household_cap_fen", "must not be negative")
    if rules.objective not in OBJECTIVES:
        check.fail("rules.objective", "unknown objective")
    check.raise_if_any()
    problem = check.build(
        "",
        {},
        lambda: aid.AidProblem(
            households=tuple(h for h in households if h is not None),
            programmes=tuple(p for p in programmes if p is not None),
            exclusive_groups=tuple(frozenset(g.programme_ids) for g in rules.exclusive_groups),
            household_cap_fen=rules.household_cap_fen or None,
            need=need or aid.NeedConfig(),
            objective=OBJECTIVES.get(rules.objective, aid.AidObjective.NEED),
            quotas=tuple(q for q in quotas if q is not None),
            held=held,
        ),
    )
    if problem is None:
        check.violations = [_problem_field(v, programme_path) for v in check.violations]
    check.raise_if_any()
    assert problem is not None
    return problem


def _problem_field(v: FieldViolation, programme_path: str) -> FieldViolation:
    """A violation of the problem as a whole, named by its proto path."""
    name = v.field.removeprefix(".")
    if name.startswith("households["):
        name = "inline." + name
    elif name.startswith("programmes["):
        name = programme_path.format(name.split("[", 1)[1].split("]", 1)[0])
    elif name.startswith("exclusive_groups["):
        name = f"rules.{name.split(':', 1)[0]}.programme_ids"
    else:
        name = f"rules.{name}"
    return FieldViolation(name, v.description)


def _need(check: _Collect, rules: mpb.AidRules) -> aid.NeedConfig | None:
    if not rules.HasField("need"):
        return None
    w = rules.need
    return check.build("rules.need", {}, lambda: aid.NeedConfig(w.base_weight, w.per_cause_weight))


def aid_result(result: aid.AidResult, *, inline: bool, max_left_out: int) -> mpb.AidResult:
    """The result message; left-out pairs beyond ``max_left_out`` are only counted."""
    out = mpb.AidResult(
        households_helped=result.households_helped,
        inline=inline,
        left_out_omitted=max(0, len(result.left_out) - max_left_out),
        grant_gini=result.grant_gini,
        impoverished_share=result.impoverished_share,
        eligible_households=result.eligible_households,
    )
    out.grants.extend(
        mpb.AidGrant(
            household_id=g.household_id,
            programme_id=g.programme_id,
            amount_fen=g.amount_fen,
            need=g.need,
            value=g.value,
            causes_matched=sorted(pb.PovertyCause.Value(c.upper()) for c in g.causes_matched),
        )
        for g in result.grants
    )
    out.left_out.extend(
        mpb.AidLeftOut(
            household_id=x.household_id, programme_id=x.programme_id, reason=REASONS[x.reason]
        )
        for x in result.left_out[:max_left_out]
    )
    out.programmes.extend(
        mpb.ProgrammeUsage(
            programme_id=u.programme_id,
            spent_fen=u.spent_fen,
            remaining_fen=u.remaining_fen,
            grants=u.grants,
        )
        for u in result.programmes
    )
    return out
