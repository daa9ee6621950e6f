"""ReportService servicer: the request's region and years checked against the caller, one
function of registry/reports/ per RPC, its rows as messages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc

from fupin.registry.v1 import report_service_pb2 as rpb
from fupin.registry.v1 import report_service_pb2_grpc as rpb_grpc
from registry.access import policy as access
from registry.errors import FieldViolation, InvalidArgument, PermissionDenied
from registry.reports import aid, cadres, income, status
from registry.reports.period import DEFAULT_YEARS, MAX_YEARS, Area, Period
from registry.resources.requests import REGION_CODE
from registry.resources.store import RegistryStore

FEWEST_SHOWN = 3  # an auditor sees no income summed over fewer households (masked)
MASKED = -1


class ReportServicer(rpb_grpc.ReportServiceServicer):
    def __init__(self, store: RegistryStore) -> None:
        self.store = store

    def StatusReport(self, request: Any, context: Any) -> rpb.StatusReportResponse:
        counts = status.status_counts(self.store, period_of(request, access.current()))
        return rpb.StatusReportResponse(
            rows=[
                rpb.StatusReportRow(
                    year=c.year,
                    area=_area(c.area),
                    impoverished=c.by_status.get(1, 0),
                    at_risk=c.by_status.get(2, 0),
                    lifted_out=c.by_status.get(3, 0),
                    returned_to_poverty=c.by_status.get(4, 0),
                    households=sum(c.by_status.values()),
                )
                for c in counts
            ]
        )

    def ExitReport(self, request: Any, context: Any) -> rpb.ExitReportResponse:
        rows = status.exits(self.store, period_of(request, access.current()))
        return rpb.ExitReportResponse(
            rows=[
                rpb.ExitReportRow(
                    year=e.year,
                    area=_area(e.area),
                    exits=e.exits,
                    returns=e.returns,
                    ever_lifted_out=e.ever_lifted_out,
                    return_rate=e.return_rate,
                )
                for e in rows
            ]
        )

    def IncomeReport(self, request: Any, context: Any) -> rpb.IncomeReportResponse:
        principal = access.current()
        rows = [_income_row(r) for r in income.incomes(self.store, period_of(request, principal))]
        if principal.role is access.Role.AUDITOR:
            for row in rows:
                if 0 < row.with_record < FEWEST_SHOWN:
                    _mask_income(row)
        return rpb.IncomeReportResponse(rows=rows)

    def AidReport(self, request: Any, context: Any) -> rpb.AidReportResponse:
        totals = aid.aid_totals(self.store, period_of(request, access.current()))
        return rpb.AidReportResponse(
            programmes=[_programme_row(p) for p in totals.programmes],
            causes=[_cause_row(c) for c in totals.causes],
            total_fen=totals.total_fen,
        )

    def CadreReport(self, request: Any, context: Any) -> rpb.CadreReportResponse:
        period = period_of(request, access.current())
        today = dt.datetime.now(dt.UTC).date()
        rows = cadres.coverage(self.store, period, today=today)
        return rpb.CadreReportResponse(
            rows=[_cadre_row(c) for c in rows],
            as_of=cadres.as_of(period, today).isoformat(),
            overdue_days=cadres.OVERDUE_DAYS,
        )


def period_of(request: Any, principal: access.Principal) -> Period:
    """The request's region (default: the key's scope) and years, checked (INVALID_ARGUMENT
    naming the field), and the region against the key (PERMISSION_DENIED outside it)."""
    bad = []
    region = request.region_code or _scope(principal)
    if not REGION_CODE.fullmatch(request.region_code):
        bad.append(FieldViolation("region_code", "must be an administrative code prefix"))
    last = request.to_year or dt.datetime.now(dt.UTC).year
    first = request.from_year or last - DEFAULT_YEARS + 1
    years = [
        FieldViolation(name, "must be 2000-2100 (0: the default)")
        for name, year in (("from_year", first), ("to_year", last))
        if not 2000 <= year <= 2100
    ]
    bad += years
    if not years and first > last:
        bad.append(FieldViolation("from_year", "must not be after to_year"))
    elif not years and last - first + 1 > MAX_YEARS:
        bad.append(FieldViolation("from_year", f"a report spans at most {MAX_YEARS} years"))
    if request.area not in rpb.ReportArea.values():
        bad.append(FieldViolation("area", "is not a report area"))
    if bad:
        raise InvalidArgument(bad)
    scope = _scope(principal)
    if not region.startswith(scope):
        raise PermissionDenied(f"region {region} is outside your key's scope")
    return Period(region, first, last, by_village=request.area == rpb.BY_VILLAGE)


def _scope(principal: access.Principal) -> str:
    """The administrative code prefix the key reads ("" every region)."""
    if principal.role is access.Role.ADMIN:
        return ""
    return principal.scope


def _area(area: Area) -> rpb.ReportAreaKey:
    return rpb.ReportAreaKey(area_code=area.code, area_name=area.name)


def _programme_row(p: aid.ByProgramme) -> rpb.AidProgrammeReportRow:
    return rpb.AidProgrammeReportRow(
        year=p.year, programme_id=p.programme_id, programme_name=p.name,
        kind=p.kind,  # type: ignore[arg-type]
        amount_fen=p.amount_fen, grants=p.grants, households=p.households,
    )  # fmt: skip


def _cause_row(c: aid.ByCause) -> rpb.AidCauseReportRow:
    return rpb.AidCauseReportRow(
        year=c.year, cause=c.cause,  # type: ignore[arg-type]
        amount_fen=c.amount_fen, grants=c.grants, households=len(c.households),
    )  # fmt: skip


def _cadre_row(c: cadres.Coverage) -> rpb.CadreReportRow:
    return rpb.CadreReportRow(
        area=_area(c.area), poor_households=c.poor_households, contracted=c.contracted,
        coverage=c.coverage, cadres=c.cadres, stationed=c.stationed, visits=c.visits,
        visited=c.visited, visits_per_household=c.visits_per_household,
        not_visited=c.not_visited, overdue=c.overdue,
    )  # fmt: skip


def _income_row(r: income.Income) -> rpb.IncomeReportRow:
    row = rpb.IncomeReportRow(
        year=r.year, area=_area(r.area), poor_households=r.poor_households,
        with_record=r.with_record, members=r.members, produce_fen=r.produce_fen,
        dividends_fen=r.dividends_fen, aid_fen=r.aid_fen, total_fen=r.total_fen,
        per_household_fen=r.per_household_fen, per_capita_fen=r.per_capita_fen,
    )  # fmt: skip
    if r.per_capita_growth is not None:
        row.per_capita_growth = r.per_capita_growth
    return row


def _mask_income(row: rpb.IncomeReportRow) -> None:
    """An area of one or two poor households: its sums would be their incomes."""
    for name in ("produce_fen", "dividends_fen", "aid_fen", "total_fen"):
        setattr(row, name, MASKED)
    row.per_household_fen = row.per_capita_fen = MASKED
    row.ClearField("per_capita_growth")


def add_to_server(store: RegistryStore, server: grpc.Server) -> str:
    rpb_grpc.add_ReportServiceServicer_to_server(ReportServicer(store), server)
    return str(rpb.DESCRIPTOR.services_by_name["ReportService"].full_name)
