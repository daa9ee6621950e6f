"""CadreWorkService servicer: visit logs, the assessment and recalls of cadres.

Thin: each RPC checks its request's fields (INVALID_ARGUMENT naming each, nothing stored),
then calls one function of visits.py, assessment.py or recall.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc

from fupin.registry.v1 import cadre_work_service_pb2 as wpb
from fupin.registry.v1 import cadre_work_service_pb2_grpc as wpb_grpc
from registry.access import policy as access
from registry.cadrework import assessment, recall, visits
from registry.cadrework.models import CadreRecall, CadreVisit
from registry.errors import PermissionDenied
from registry.resources import query
from registry.resources.checks import Checker, iso_date
from registry.resources.convert import timestamp
from registry.resources.requests import REGION_CODE, RESOURCE_ID

MAX_TEXT = 1000
MAX_REASON = 500
MAX_REQUEST_ID = 100
UNIT_DIGITS = (6, 9, 12)


class CadreWorkServicer(wpb_grpc.CadreWorkServiceServicer):
    def __init__(self, store: Any) -> None:
        self.store = store

    def RecordVisit(self, request: Any, context: Any) -> wpb.CadreVisit:
        c = Checker()
        _ids(c, request, "cadre_id", "household_id")
        c.date("date", request.date)
        when = _parsed(request.date)
        if when is not None and not dt.date(2000, 1, 1) <= when <= _today():
            c.fail("date", "must be between 2000-01-01 and today (UTC)")
        done = c.text("done", request.done, MAX_TEXT)
        follow_up = c.text("follow_up", request.follow_up, MAX_TEXT, required=False)
        c.text("request_id", request.request_id, MAX_REQUEST_ID, required=False)
        c.raise_if_any()
        visit = visits.Visit(
            cadre_id=request.cadre_id,
            household_id=request.household_id,
            date=request.date,
            done=done,
            follow_up=follow_up,
            request_id=request.request_id,
        )
        return visit_proto(visits.record(self.store, visit, access.current()))

    def ListVisits(self, request: Any, context: Any) -> wpb.ListVisitsResponse:
        c = Checker()
        _ids(c, request, "cadre_id", "household_id", optional=True)
        if not (request.cadre_id or request.household_id):
            c.fail("cadre_id", "give a cadre_id or a household_id")
        c.raise_if_any()
        page = query.parse_page(
            request.page_size, request.page_token, f"{request.cadre_id}|{request.household_id}"
        )
        rows, token = visits.list_visits(
            self.store,
            page=page,
            principal=access.current(),
            cadre_id=request.cadre_id,
            household_id=request.household_id,
        )
        return wpb.ListVisitsResponse(visits=[visit_proto(r) for r in rows], next_page_token=token)

    def AssessCadres(self, request: Any, context: Any) -> wpb.AssessCadresResponse:
        principal = access.current()
        region = request.region_code or principal.scope
        c = Checker()
        if region:
            c.matches("region_code", region, REGION_CODE, "an administrative code prefix")
        start = _parsed(c.date("period_start", request.period_start))
        end = _parsed(c.date("period_end", request.period_end))
        if start and end and end < start:
            c.fail("period_end", "must not be before period_start")
        c.integer("overdue_days", request.overdue_days, 0, 366)
        if request.unit_digits not in (0, *UNIT_DIGITS):
            c.fail("unit_digits", "must be 6 (county), 9 (township) or 12 (village)")
        if request.year:
            c.integer("year", request.year, 2001, 2100)
        c.raise_if_any()
        if start is None or end is None:  # a violation above, already raised
            raise AssertionError("dates checked")
        if principal.role is not access.Role.ADMIN and not region.startswith(principal.scope):
            raise PermissionDenied(f"region {region} is outside your key's scope")
        period = assessment.Period(
            start=start,
            end=end,
            year=request.year or end.year,
            overdue_days=request.overdue_days or 30,
            unit_digits=request.unit_digits or 9,
        )
        rows = assessment.assess(self.store, region_code=region, period=period, principal=principal)
        return wpb.AssessCadresResponse(
            cadres=[wpb.CadreAssessment(**row.__dict__) for row in rows],
            period_start=start.isoformat(),
            period_end=end.isoformat(),
            year=period.year,
            overdue_days=period.overdue_days,
            unit_digits=period.unit_digits,
        )

    def RecallCadre(self, request: Any, context: Any) -> wpb.CadreRecall:
        c = Checker()
        _ids(c, request, "cadre_id")
        reason = c.text("reason", request.reason, MAX_REASON)
        c.text("request_id", request.request_id, MAX_REQUEST_ID, required=False)
        c.raise_if_any()
        row = recall.recall(
            self.store,
            cadre_id=request.cadre_id,
            reason=reason,
            principal=access.current(),
            request_id=request.request_id,
        )
        return recall_proto(row)

    def ListRecalls(self, request: Any, context: Any) -> wpb.ListRecallsResponse:
        c = Checker()
        _ids(c, request, "cadre_id", optional=True)
        c.raise_if_any()
        page = query.parse_page(request.page_size, request.page_token, request.cadre_id)
        rows, token = recall.list_recalls(
            self.store, page=page, principal=access.current(), cadre_id=request.cadre_id
        )
        return wpb.ListRecallsResponse(
            recalls=[recall_proto(r) for r in rows], next_page_token=token
        )


def visit_proto(row: CadreVisit) -> wpb.CadreVisit:
    return wpb.CadreVisit(
        id=row.id,
        cadre_id=row.cadre_id,
        household_id=row.household_id,
        date=row.date,
        done=row.done,
        follow_up=row.follow_up,
        create_time=timestamp(row.create_time),
        key_id=row.key_id,
    )


def recall_proto(row: CadreRecall) -> wpb.CadreRecall:
    return wpb.CadreRecall(
        id=row.id,
        cadre_id=row.cadre_id,
        reason=row.reason,
        time=timestamp(row.time),
        released_village_id=row.released_village_id,
        released_household_ids=[h for h in row.released_household_ids.split("\n") if h],
        key_id=row.key_id,
    )


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _ids(c: Checker, request: Any, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(request, name)
        if value or not optional:
            c.matches(name, value, RESOURCE_ID, "a valid id (1-40 letters, digits, - or _)")


def _parsed(text: str) -> dt.date | None:
    try:
        return iso_date(text)
    except ValueError:
        return None


def add_to_server(store: Any, server: grpc.Server) -> str:
    wpb_grpc.add_CadreWorkServiceServicer_to_server(CadreWorkServicer(store), server)
    return str(wpb.DESCRIPTOR.services_by_name["CadreWorkService"].full_name)
