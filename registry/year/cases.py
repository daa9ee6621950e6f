"""Cases in the database: each step in one transaction, the case row locked while it moves.

Checks run in a fixed order so that the answer says the first thing wrong: the case or
household unknown or outside the key's region (NOT_FOUND), the key's sub-role may not make
the step (PERMISSION_DENIED), the case is in the wrong state (FAILED_PRECONDITION naming it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from registry.access.policy import Principal, Role
from registry.errors import FailedPrecondition, NotFound
from registry.resources import models
from registry.resources.query import Page, next_token
from registry.resources.scoring import Status
from registry.resources.store import RegistryStore, new_id
from registry.year import workflow
from registry.year.models import CaseObjection, CaseStep, HouseholdCase
from registry.year.rules import YearRules
from registry.year.workflow import STEPS, Actor, CaseKind, CaseState, ObjectionState


@dataclass(frozen=True)
class CaseView:
    case: HouseholdCase
    steps: list[CaseStep]
    objections: list[CaseObjection]
    household_status: int


@dataclass(frozen=True)
class Move:
    """What a step does to a locked case: its new state and the note kept in its history."""

    state: CaseState
    note: str


Apply = Callable[[Session, HouseholdCase, Actor], Move]


def in_region(principal: Principal, admin_code: str) -> bool:
    if principal.role is Role.ADMIN or not principal.scope:
        return principal.role in (Role.ADMIN, Role.AUDITOR, Role.OFFICE)
    return principal.role in (Role.OFFICE, Role.AUDITOR) and admin_code.startswith(principal.scope)


def propose(
    store: RegistryStore,
    rules: YearRules,
    *,
    household_id: str,
    kind: CaseKind,
    reason: str,
    note: str,
    principal: Principal,
) -> CaseView:
    try:
        with store.transaction(write=True) as session:
            household = session.get(models.Household, household_id, with_for_update=True)
            if household is None or not in_region(principal, _village_code(session, household)):
                raise NotFound(f"household {household_id!r} not found", field="household_id")
            actor = workflow.authorize(STEPS["propose"], principal)
            _check_can_open(session, household_id, kind)
            unmet = rules.unmet_exit_conditions(household) if kind is CaseKind.EXIT else []
            if unmet:
                raise FailedPrecondition(
                    f"household {household_id} does not meet the exit conditions: "
                    + "; ".join(unmet)
                )
            now = models.utcnow()
            case = HouseholdCase(
                id=new_id("case"),
                household_id=household_id,
                village_id=household.village_id,
                kind=kind,
                state=CaseState.PROPOSED,
                reason=reason,
                create_time=now,
                update_time=now,
            )
            session.add(case)
            session.flush()
            _record(session, case, "propose", 0, actor, principal, note or reason)
            return _view(session, case)
    except IntegrityError as exc:  # a concurrent proposal for the same household won
        raise FailedPrecondition(f"household {household_id} has a case open") from exc


def move(
    store: RegistryStore, *, case_id: str, step: str, principal: Principal, apply: Apply
) -> CaseView:
    """Lock the case, check region, sub-role and state, apply the step, keep it in history."""
    with store.transaction(write=True) as session:
        case = session.get(HouseholdCase, case_id, with_for_update=True)
        if case is None or not in_region(principal, _code_of_village(session, case.village_id)):
            raise NotFound(f"case {case_id!r} not found", field="case_id")
        actor = workflow.authorize(STEPS[step], principal)
        old = CaseState(case.state)
        workflow.require_state(STEPS[step], case_id, old)
        moved = apply(session, case, actor)
        case.state = moved.state
        case.update_time = models.utcnow()
        case.version += 1
        session.add(case)
        _record(session, case, step, old, actor, principal, moved.note)
        return _view(session, case)


def get(store: RegistryStore, case_id: str, principal: Principal) -> CaseView:
    with store.transaction() as session:
        case = session.get(HouseholdCase, case_id)
        if case is None or not in_region(principal, _code_of_village(session, case.village_id)):
            raise NotFound(f"case {case_id!r} not found", field="case_id")
        return _view(session, case)


def list_cases(
    store: RegistryStore,
    *,
    page: Page,
    principal: Principal,
    village_id: str = "",
    household_id: str = "",
    state: int = 0,
    kind: int = 0,
) -> tuple[list[CaseView], str]:
    """One page of cases, newest first (ids are time-ordered), within the key's region."""
    table = HouseholdCase
    stmt = select(table).order_by(col(table.id).desc()).limit(page.size + 1)
    for column, value in (
        (table.village_id, village_id),
        (table.household_id, household_id),
        (table.state, state),
        (table.kind, kind),
    ):
        if value:
            stmt = stmt.where(col(column) == value)
    if page.after:
        stmt = stmt.where(col(table.id) < page.after)
    if principal.role is not Role.ADMIN and principal.scope:
        villages = select(col(models.Village.id)).where(
            col(models.Village.admin_code).startswith(principal.scope, autoescape=True)
        )
        stmt = stmt.where(col(table.village_id).in_(villages))
    with store.transaction() as session:
        rows = list(session.scalars(stmt))
        token = next_token(page, rows[page.size - 1].id) if len(rows) > page.size else ""
        return [_view(session, row) for row in rows[: page.size]], token


def open_objections(session: Session, case_id: str) -> list[CaseObjection]:
    stmt = select(CaseObjection).where(
        col(CaseObjection.case_id) == case_id, col(CaseObjection.state) == ObjectionState.OPEN
    )
    return list(session.scalars(stmt))


def file_household(session: Session, case: HouseholdCase) -> None:
    """Identification files the household as poor (a returned one stays returned); exit
    lifts it out. The status change is kept in the household's history."""
    household = session.get(models.Household, case.household_id, with_for_update=True)
    assert household is not None  # the foreign key keeps it
    if case.kind == CaseKind.EXIT:
        new_status, reason = Status.LIFTED_OUT, f"exit filed (case {case.id}): {case.reason}"
    else:
        keep = household.status == Status.RETURNED_TO_POVERTY
        new_status = Status.RETURNED_TO_POVERTY if keep else Status.IMPOVERISHED
        reason = f"identified (case {case.id})"
    now = models.utcnow()
    session.add(
        models.StatusChange(
            household_id=household.id,
            time=now,
            old_status=household.status,
            new_status=new_status,
            score=household.score,
            reason=reason[:200],
        )
    )
    household.status = new_status
    household.update_time = now
    household.version += 1
    session.add(household)


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _check_can_open(session: Session, household_id: str, kind: CaseKind) -> None:
    cases = list(
        session.scalars(
            select(HouseholdCase)
            .where(col(HouseholdCase.household_id) == household_id)
            .order_by(col(HouseholdCase.id).desc())
        )
    )
    for case in cases:
        if case.state < CaseState.FILED:
            raise FailedPrecondition(
                f"household {household_id} has case {case.id} open ({CaseState(case.state).name})"
            )
    filed = [c for c in cases if c.state == CaseState.FILED]
    if filed and filed[0].kind == kind:
        done = "filed" if kind is CaseKind.IDENTIFICATION else "exited"
        raise FailedPrecondition(f"household {household_id} is already {done} (case {filed[0].id})")


def _record(
    session: Session,
    case: HouseholdCase,
    step: str,
    old: int,
    actor: Actor,
    principal: Principal,
    note: str,
) -> None:
    session.add(
        CaseStep(
            case_id=case.id,
            time=case.update_time,
            step=step,
            old_state=old,
            new_state=case.state,
            actor=actor,
            key_id=principal.key_id[:40],
            note=note[:500],
        )
    )
    session.flush()


def _view(session: Session, case: HouseholdCase) -> CaseView:
    steps = session.scalars(
        select(CaseStep).where(col(CaseStep.case_id) == case.id).order_by(col(CaseStep.id))
    )
    objections = session.scalars(
        select(CaseObjection)
        .where(col(CaseObjection.case_id) == case.id)
        .order_by(col(CaseObjection.id))
    )
    status = session.scalar(
        select(col(models.Household.status)).where(col(models.Household.id) == case.household_id)
    )
    return CaseView(case, list(steps), list(objections), int(status or 0))


def _village_code(session: Session, household: models.Household) -> str:
    return _code_of_village(session, household.village_id)


def _code_of_village(session: Session, village_id: str) -> str:
    code = session.scalar(
        select(col(models.Village.admin_code)).where(col(models.Village.id) == village_id)
    )
    return str(code or "")
