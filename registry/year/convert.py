"""Case rows -> YearService messages."""

from __future__ import annotations

from fupin.registry.v1 import year_service_pb2 as ypb
from registry.resources.convert import timestamp
from registry.year.cases import CaseView


def case_proto(view: CaseView) -> ypb.Case:
    case = view.case
    message = ypb.Case(
        id=case.id,
        household_id=case.household_id,
        village_id=case.village_id,
        kind=case.kind,  # type: ignore[arg-type]
        state=case.state,  # type: ignore[arg-type]
        reason=case.reason,
        notice_start=case.notice_start,
        notice_end=case.notice_end,
        notice_place=case.notice_place,
        create_time=timestamp(case.create_time),
        update_time=timestamp(case.update_time),
        unmet_conditions=[c for c in case.unmet_conditions.split("\n") if c],
        household_status=view.household_status,  # type: ignore[arg-type]
    )
    message.history.extend(
        ypb.CaseStep(
            time=timestamp(s.time),
            step=s.step,
            old_state=s.old_state,  # type: ignore[arg-type]
            new_state=s.new_state,  # type: ignore[arg-type]
            actor=s.actor,  # type: ignore[arg-type]
            key_id=s.key_id,
            note=s.note,
        )
        for s in view.steps
    )
    message.objections.extend(
        ypb.Objection(
            id=o.id or 0,
            time=timestamp(o.time),
            objector=o.objector,
            text=o.text,
            state=o.state,  # type: ignore[arg-type]
            resolution=o.resolution,
        )
        for o in view.objections
    )
    return message
