"""The identification and exit procedure as data: states, steps, and who may make each step.

Pure: no database. A step names the states it starts from, the sub-roles that may make it,
and (for most) the state it leads to; registry/year/cases.py applies it in a transaction.
The sub-role is read from the key (an office key's scope says where in the hierarchy it sits:
registry/year/workflow.py actor_of), so no new role is needed and scopes keep working.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from registry.access.policy import Principal, Role
from registry.errors import FailedPrecondition, PermissionDenied

VILLAGE_CODE_DIGITS = 12
COUNTY_CODE_DIGITS = 6


class CaseKind(enum.IntEnum):
    """Mirrors fupin.registry.v1.CaseKind."""

    IDENTIFICATION = 1
    EXIT = 2


class CaseState(enum.IntEnum):
    """Mirrors fupin.registry.v1.CaseState."""

    PROPOSED = 1
    REVIEWED = 2
    ON_NOTICE = 3
    APPROVED = 4
    FILED = 5
    REJECTED = 6


class Actor(enum.IntEnum):
    """Mirrors fupin.registry.v1.Actor: the sub-role that made a step."""

    VILLAGE_COMMITTEE = 1
    TOWNSHIP = 2
    COUNTY = 3
    ADMINISTRATOR = 4


class ObjectionState(enum.IntEnum):
    OPEN = 1
    UPHELD = 2
    DISMISSED = 3


V, T, C = Actor.VILLAGE_COMMITTEE, Actor.TOWNSHIP, Actor.COUNTY
S = CaseState


@dataclass(frozen=True)
class Step:
    name: str
    actors: frozenset[Actor]
    sources: tuple[CaseState, ...]  # states the step starts from
    target: CaseState | None  # None: the step decides (review, resolve) or keeps the state


STEPS = {
    s.name: s
    for s in (
        Step("propose", frozenset({V, T, C}), (), S.PROPOSED),
        Step("review", frozenset({V}), (S.PROPOSED,), None),
        Step("notice", frozenset({V, T}), (S.REVIEWED,), S.ON_NOTICE),
        Step("object", frozenset({V, T, C}), (S.ON_NOTICE,), S.ON_NOTICE),
        Step("resolve", frozenset({T, C}), (S.ON_NOTICE,), None),
        Step("approve", frozenset({C}), (S.ON_NOTICE,), S.APPROVED),
        Step("file", frozenset({C}), (S.APPROVED,), S.FILED),
    )
}
ACTOR_NAMES = {
    V: "village committee (an office key scoped to one village)",
    T: "township (an office key scoped to 7-11 digits)",
    C: "county (an office key scoped to 6 digits or fewer)",
}


def actor_of(principal: Principal) -> Actor | None:
    """The sub-role of a key: admin, or an office by the length of its scope; None otherwise."""
    if principal.role is Role.ADMIN:
        return Actor.ADMINISTRATOR
    if principal.role is not Role.OFFICE:
        return None
    digits = len(principal.scope)
    if digits >= VILLAGE_CODE_DIGITS:
        return Actor.VILLAGE_COMMITTEE
    return Actor.TOWNSHIP if digits > COUNTY_CODE_DIGITS else Actor.COUNTY


def authorize(step: Step, principal: Principal) -> Actor:
    """The actor making the step; PermissionDenied for a sub-role that may not."""
    actor = actor_of(principal)
    if actor is Actor.ADMINISTRATOR:
        return actor
    if actor is None or actor not in step.actors:
        allowed = "; ".join(ACTOR_NAMES[a] for a in sorted(step.actors))
        raise PermissionDenied(
            f"{_who(principal, actor)} may not {step.name} a case: only {allowed}"
        )
    return actor


def require_state(step: Step, case_id: str, state: CaseState) -> None:
    """FailedPrecondition naming the case's state when the step is out of order."""
    if state not in step.sources:
        needs = " or ".join(s.name for s in step.sources)
        raise FailedPrecondition(
            f"case {case_id} is {state.name}: {step.name} needs a case that is {needs}"
        )


def _who(principal: Principal, actor: Actor | None) -> str:
    if actor is None:
        return f"role {principal.role}"
    return f"a {actor.name.lower().replace('_', ' ')} key (scope {principal.scope or 'none'})"
