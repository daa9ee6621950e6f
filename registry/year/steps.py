"""What each step after the proposal does to a locked case (registry/year/cases.py move).

Each function checks what only the locked case can tell (open objections, the notice's end,
the exit conditions now) and returns the new state with the note kept in the case's history.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from registry.errors import FailedPrecondition, NotFound
from registry.resources import models
from registry.year import cases
from registry.year.cases import Apply, Move
from registry.year.models import CaseObjection, HouseholdCase
from registry.year.rules import YearRules
from registry.year.workflow import Actor, CaseKind, CaseState, ObjectionState


def review(*, approved: bool, votes_for: int, votes_against: int, note: str) -> Apply:
    def apply(session: Session, case: HouseholdCase, actor: Actor) -> Move:
        outcome = "approved" if approved else "not approved"
        text = f"democratic review {outcome}: {votes_for} for, {votes_against} against"
        state = CaseState.REVIEWED if approved else CaseState.REJECTED
        return Move(state, f"{text}. {note}" if note else text)

    return apply


def notice(*, start: str, end: str, place: str) -> Apply:
    def apply(session: Session, case: HouseholdCase, actor: Actor) -> Move:
        case.notice_start, case.notice_end, case.notice_place = start, end, place
        return Move(CaseState.ON_NOTICE, f"on notice {start} to {end} at {place}")

    return apply


def objection(*, objector: str, text: str) -> Apply:
    def apply(session: Session, case: HouseholdCase, actor: Actor) -> Move:
        row = CaseObjection(
            case_id=case.id,
            time=models.utcnow(),
            objector=objector,
            text=text,
            state=ObjectionState.OPEN,
        )
        session.add(row)
        session.flush()
        return Move(CaseState.ON_NOTICE, f"objection {row.id} by {objector}: {text}")

    return apply


def resolution(*, objection_id: int, upheld: bool, text: str) -> Apply:
    def apply(session: Session, case: HouseholdCase, actor: Actor) -> Move:
        row = session.get(CaseObjection, objection_id, with_for_update=True)
        if row is None or row.case_id != case.id:
            raise NotFound(
                f"objection {objection_id} of case {case.id} not found", field="objection_id"
            )
        if row.state != ObjectionState.OPEN:
            raise FailedPrecondition(
                f"objection {objection_id} is {ObjectionState(row.state).name}: "
                "only an OPEN objection is resolved"
            )
        row.state = ObjectionState.UPHELD if upheld else ObjectionState.DISMISSED
        row.resolution = text
        session.add(row)
        verdict = "upheld: case rejected" if upheld else "dismissed"
        state = CaseState.REJECTED if upheld else CaseState.ON_NOTICE
        return Move(state, f"objection {objection_id} {verdict}. {text}")

    return apply


def approval(*, rules: YearRules, today: dt.date, note: str) -> Apply:
    def apply(session: Session, case: HouseholdCase, actor: Actor) -> Move:
        if case.notice_end >= today.isoformat():
            raise FailedPrecondition(
                f"case {case.id} is ON_NOTICE until {case.notice_end}: "
                "approve needs the notice ended"
            )
        still_open = cases.open_objections(session, case.id)
        if still_open:
            ids = ", ".join(str(o.id) for o in still_open)
            raise FailedPrecondition(
                f"case {case.id} is ON_NOTICE with open objections ({ids}): resolve them first"
            )
        if case.kind == CaseKind.EXIT:
            household = session.get(models.Household, case.household_id)
            unmet = rules.unmet_exit_conditions(household)
            case.unmet_conditions = "\n".join(unmet)[:1000]
            if unmet:
                raise FailedPrecondition(
                    f"household {case.household_id} no longer meets the exit conditions: "
                    + "; ".join(unmet)
                )
        return Move(CaseState.APPROVED, note or "approved")

    return apply


def filing(*, note: str) -> Apply:
    def apply(session: Session, case: HouseholdCase, actor: Actor) -> Move:
        cases.file_household(session, case)
        return Move(CaseState.FILED, note or "filed")

    return apply
