"""YearService servicer: identification and exit cases, and the village's public notice.

Thin: each RPC checks its request's fields (INVALID_ARGUMENT naming the field, nothing
stored), then calls one function of registry/year/cases.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import queue
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc

from fupin.registry.v1 import year_service_pb2 as ypb
from fupin.registry.v1 import year_service_pb2_grpc as ypb_grpc
from registry.access import audit
from registry.access import policy as access
from registry.errors import FieldViolation, InvalidArgument, PermissionDenied, ResourceExhausted
from registry.resources import models, query
from registry.resources.convert import timestamp
from registry.resources.kinds import HOUSEHOLD
from registry.resources.requests import REGION_CODE, RESOURCE_ID
from registry.resources.store import RegistryStore
from registry.year import cases, notice, resurvey_store, shocks, steps
from registry.year.convert import case_proto
from registry.year.models import Shock
from registry.year.rules import RiskRules, YearRules
from registry.year.workflow import CaseKind

CSV_TYPE, HTML_TYPE = "text/csv; charset=utf-8", "text/html; charset=utf-8"
MAX_SURVEY_ROWS = 1_000_000
SHOWN_MISSING = 20


NOTICE_RPC = "/fupin.registry.v1.YearService/ExportNotice"


class YearServicer(ypb_grpc.YearServiceServicer):
    def __init__(
        self,
        store: RegistryStore,
        rules: YearRules,
        risk_rules: RiskRules,
        audit_writer: audit.AuditWriter | None = None,
    ) -> None:
        self.store = store
        self.rules = rules
        self.risk_rules = risk_rules
        self.alerts = shocks.AlertHub()
        self.audit = audit_writer  # the notice names households (masked): audited

    def ProposeCase(self, request: Any, context: Any) -> ypb.Case:
        bad = _ids(request, "household_id")
        if request.kind not in (ypb.IDENTIFICATION, ypb.EXIT):
            bad.append(FieldViolation("kind", "must be IDENTIFICATION or EXIT"))
        if request.kind == ypb.EXIT and not request.reason.strip():
            bad.append(FieldViolation("reason", "is required for an exit"))
        bad += _lengths(request, reason=200, note=500)
        _raise(bad)
        return case_proto(
            cases.propose(
                self.store,
                self.rules,
                household_id=request.household_id,
                kind=CaseKind(request.kind),
                reason=request.reason.strip(),
                note=request.note.strip(),
                principal=access.current(),
            )
        )

    def ReviewCase(self, request: Any, context: Any) -> ypb.Case:
        bad = _ids(request, "case_id") + _lengths(request, note=300)
        if request.votes_for < 0 or request.votes_against < 0:
            bad.append(FieldViolation("votes_for", "votes must not be negative"))
        _raise(bad)
        apply = steps.review(
            approved=request.approved,
            votes_for=request.votes_for,
            votes_against=request.votes_against,
            note=request.note.strip(),
        )
        return self._move(request.case_id, "review", apply)

    def StartNotice(self, request: Any, context: Any) -> ypb.Case:
        bad = _ids(request, "case_id") + _lengths(request, notice_place=200)
        start = _date(request.notice_start, "notice_start", bad)
        end = _date(request.notice_end, "notice_end", bad)
        if not request.notice_place.strip():
            bad.append(FieldViolation("notice_place", "is required (where the notice is posted)"))
        if start and end and (end - start).days + 1 < self.rules.notice_days:
            bad.append(
                FieldViolation(
                    "notice_end", f"a notice lasts at least {self.rules.notice_days} days"
                )
            )
        _raise(bad)
        apply = steps.notice(
            start=request.notice_start, end=request.notice_end, place=request.notice_place.strip()
        )
        return self._move(request.case_id, "notice", apply)

    def RecordObjection(self, request: Any, context: Any) -> ypb.Case:
        bad = _ids(request, "case_id") + _lengths(request, objector=100, text=500)
        bad += _required(request, "objector", "text")
        _raise(bad)
        apply = steps.objection(objector=request.objector.strip(), text=request.text.strip())
        return self._move(request.case_id, "object", apply)

    def ResolveObjection(self, request: Any, context: Any) -> ypb.Case:
        bad = _ids(request, "case_id") + _lengths(request, resolution=400)
        bad += _required(request, "resolution")
        if request.objection_id <= 0:
            bad.append(FieldViolation("objection_id", "is required (a positive number)"))
        _raise(bad)
        apply = steps.resolution(
            objection_id=request.objection_id,
            upheld=request.upheld,
            text=request.resolution.strip(),
        )
        return self._move(request.case_id, "resolve", apply)

    def ApproveCase(self, request: Any, context: Any) -> ypb.Case:
        _raise(_ids(request, "case_id") + _lengths(request, note=500))
        apply = steps.approval(rules=self.rules, today=cases.today(), note=request.note.strip())
        return self._move(request.case_id, "approve", apply)

    def FileCase(self, request: Any, context: Any) -> ypb.Case:
        _raise(_ids(request, "case_id") + _lengths(request, note=500))
        return self._move(request.case_id, "file", steps.filing(note=request.note.strip()))

    def GetCase(self, request: Any, context: Any) -> ypb.Case:
        _raise(_ids(request, "case_id"))
        return case_proto(cases.get(self.store, request.case_id, access.current()))

    def ListCases(self, request: Any, context: Any) -> ypb.ListCasesResponse:
        bad = [
            FieldViolation(name, "is not a valid id (1-40 letters, digits, - or _)")
            for name in ("village_id", "household_id")
            if getattr(request, name) and not RESOURCE_ID.fullmatch(getattr(request, name))
        ]
        if request.state not in ypb.CaseState.values():
            bad.append(FieldViolation("state", "is not a case state"))
        if request.kind not in ypb.CaseKind.values():
            bad.append(FieldViolation("kind", "is not a case kind"))
        _raise(bad)
        key = f"{request.village_id}|{request.household_id}|{request.state}|{request.kind}"
        page = query.parse_page(request.page_size, request.page_token, key)
        views, token = cases.list_cases(
            self.store,
            page=page,
            principal=access.current(),
            village_id=request.village_id,
            household_id=request.household_id,
            state=request.state,
            kind=request.kind,
        )
        return ypb.ListCasesResponse(cases=[case_proto(v) for v in views], next_page_token=token)

    def ExportNotice(self, request: Any, context: Any) -> ypb.ExportNoticeResponse:
        bad = _ids(request, "village_id")
        if request.format not in ypb.NoticeFormat.values():
            bad.append(FieldViolation("format", "is not a notice format"))
        _raise(bad)
        built = notice.build(self.store, request.village_id, access.current())
        audit.record_export(self.audit, NOTICE_RPC, context, built.household_ids)
        html = request.format == ypb.NOTICE_HTML
        return ypb.ExportNoticeResponse(
            content=notice.to_html(built) if html else notice.to_csv(built),
            content_type=HTML_TYPE if html else CSV_TYPE,
            households=len(built.rows),
        )

    def ResurveyHouseholds(self, request_iterator: Any, context: Any) -> ypb.ResurveyResponse:
        first, rows = _survey_rows(request_iterator)
        principal = access.current()
        if principal.role is not access.Role.ADMIN and not first.region_code.startswith(
            principal.scope
        ):
            raise PermissionDenied(f"region {first.region_code} is outside your key's scope")
        outcome = resurvey_store.run(
            self.store,
            rows=rows,
            year=first.year,
            region=first.region_code,
            dry_run=first.dry_run,
            principal=principal,
        )
        found = outcome.diff
        return ypb.ResurveyResponse(
            year=first.year,
            dry_run=first.dry_run,
            households=outcome.households,
            updated=len(found.updated),
            unchanged=found.unchanged,
            added=len(found.added),
            missing=len(found.missing),
            status_changes=outcome.status_changes,
            first_changes=[
                ypb.FieldChange(
                    card_number=c.card_number,
                    household_id=c.household_id,
                    field=c.field,
                    old_value=c.old,
                    new_value=c.new,
                )
                for c in found.first_changes
            ],
            missing_card_numbers=[m.card_number for m in found.missing[:SHOWN_MISSING]],
            resurvey_id=outcome.resurvey_id,
        )

    def RecordShock(self, request: Any, context: Any) -> ypb.Shock:
        m = request.shock
        targets = [bool(m.household_id), bool(m.village_id), bool(m.county_code)]
        bad = []
        if sum(targets) != 1:
            bad.append(
                FieldViolation(
                    "shock", "needs exactly one of household_id, village_id, county_code"
                )
            )
        for name in ("household_id", "village_id"):
            if getattr(m, name) and not RESOURCE_ID.fullmatch(getattr(m, name)):
                bad.append(FieldViolation(f"shock.{name}", "is not a valid id"))
        if m.county_code and not re.fullmatch(r"\d{6}", m.county_code):
            bad.append(FieldViolation("shock.county_code", "must be 6 digits"))
        if m.kind not in range(1, 6):
            bad.append(FieldViolation("shock.kind", "is required: a shock kind"))
        if not 1 <= m.severity <= 3:
            bad.append(FieldViolation("shock.severity", "must be 1 (mild) to 3 (severe)"))
        when = _date(m.date, "shock.date", bad)
        if len(m.note) > 500:
            bad.append(FieldViolation("shock.note", "must be at most 500 characters"))
        _raise(bad)
        assert when is not None
        row = Shock(
            id="", kind=m.kind, household_id=m.household_id or None,
            village_id=m.village_id or None, county_code=m.county_code, date=m.date,
            severity=m.severity, note=m.note.strip(), key_id="", create_time=models.utcnow(),
        )  # fmt: skip
        stored, raised = shocks.record(
            self.store, row, access.current(), self.risk_rules, cases.today()
        )
        self.alerts.publish(raised)
        alerts = sum(r.ranked.risk.risk >= self.risk_rules.alert_at for r in raised)
        return ypb.Shock(
            id=stored.id, kind=stored.kind,  # type: ignore[arg-type]
            household_id=stored.household_id or "",
            village_id=stored.village_id or "", county_code=stored.county_code,
            date=stored.date, severity=stored.severity, note=stored.note, alerts=alerts,
        )  # fmt: skip

    def ListRisks(self, request: Any, context: Any) -> ypb.ListRisksResponse:
        principal = access.current()
        region = request.region_code or principal.scope
        bad = []
        if not REGION_CODE.fullmatch(region):
            bad.append(FieldViolation("region_code", "must be an administrative code prefix"))
        if not 0 <= request.limit <= 1000:
            bad.append(FieldViolation("limit", "must be 0 (50) to 1000"))
        _raise(bad)
        if principal.role is not access.Role.ADMIN and not region.startswith(principal.scope):
            raise PermissionDenied(f"region {region} is outside your key's scope")
        rows = shocks.ranked(self.store, region, self.risk_rules, cases.today())
        kept = [r for r in rows if r.risk.risk >= request.min_risk][: request.limit or 50]
        return ypb.ListRisksResponse(entries=[_risk_entry(r) for r in kept])

    async def WatchAlerts(self, request: Any, context: Any) -> AsyncIterator[ypb.Alert]:
        """A coroutine: it waits for alerts on the server's event loop, holding no thread,
        until the caller leaves (its task is then cancelled)."""
        if not 0 <= request.min_risk <= 100:
            raise InvalidArgument.one("min_risk", "must be 0 (the configured level) to 100")
        principal = access.current()
        level = request.min_risk or self.risk_rules.alert_at
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def wake() -> None:  # on the thread that recorded the shock
            with contextlib.suppress(RuntimeError):  # a closed loop: the server has stopped
                loop.call_soon_threadsafe(arrived.set)

        token, inbox = self.alerts.subscribe(principal.scope, level, wake)
        await context.send_initial_metadata(())  # a client waiting for headers is subscribed
        try:
            while True:
                arrived.clear()
                try:
                    raised = inbox.get_nowait()
                except queue.Empty:
                    await arrived.wait()
                    continue
                yield ypb.Alert(
                    time=timestamp(models.utcnow()),
                    shock_id=raised.shock_id,
                    entry=_risk_entry(raised.ranked),
                    previous_risk=raised.previous,
                )
        finally:
            self.alerts.unsubscribe(token)

    def _move(self, case_id: str, step: str, apply: cases.Apply) -> ypb.Case:
        view = cases.move(
            self.store, case_id=case_id, step=step, principal=access.current(), apply=apply
        )
        return case_proto(view)


def _risk_entry(r: shocks.Ranked) -> ypb.RiskEntry:
    return ypb.RiskEntry(
        household_id=r.facts.id,
        village_id=r.facts.village_id,
        status=r.facts.status,  # type: ignore[arg-type]
        score=r.facts.score,
        risk=r.risk.risk,
        reasons=list(r.risk.reasons),
    )


def _survey_rows(chunks: Any) -> tuple[ypb.ResurveyRequest, list[dict[str, Any]]]:
    """The first chunk (year, region, dry run) and every row's checked values; all the
    violations at the end (at most 100), naming households[ROW].FIELD."""
    first: ypb.ResurveyRequest | None = None
    rows: list[dict[str, Any]] = []
    bad: list[FieldViolation] = []
    for chunk in chunks:
        if first is None:
            first = chunk
        for message in chunk.households:
            if len(rows) >= MAX_SURVEY_ROWS:
                raise ResourceExhausted(f"a re-survey holds at most {MAX_SURVEY_ROWS} rows")
            values, checker = HOUSEHOLD.to_values(message, f"households[{len(rows)}].")
            bad.extend(checker.violations[: 100 - len(bad)])
            rows.append(values)
    if first is None:
        first = ypb.ResurveyRequest()
    if not 2000 <= first.year <= 2100:
        bad.insert(0, FieldViolation("year", "is required: 2000-2100"))
    if not first.region_code or not REGION_CODE.fullmatch(first.region_code):
        bad.insert(0, FieldViolation("region_code", "is required: an administrative code prefix"))
    _raise(bad)
    return first, rows


def _ids(request: Any, *names: str) -> list[FieldViolation]:
    return [
        FieldViolation(name, "is required: a valid id (1-40 letters, digits, - or _)")
        for name in names
        if not RESOURCE_ID.fullmatch(getattr(request, name))
    ]


def _lengths(request: Any, **limits: int) -> list[FieldViolation]:
    return [
        FieldViolation(name, f"must be at most {limit} characters")
        for name, limit in limits.items()
        if len(getattr(request, name)) > limit
    ]


def _required(request: Any, *names: str) -> list[FieldViolation]:
    return [FieldViolation(n, "is required") for n in names if not getattr(request, n).strip()]


def _date(text: str, name: str, bad: list[FieldViolation]) -> dt.date | None:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    bad.append(FieldViolation(name, "must be a date YYYY-MM-DD"))
    return None


def _raise(bad: list[FieldViolation]) -> None:
    if bad:
        raise InvalidArgument(bad)


def add_to_server(
    store: RegistryStore,
    server: grpc.Server,
    rules: YearRules,
    risk_rules: RiskRules,
    audit_writer: audit.AuditWriter | None = None,
) -> str:
    servicer = YearServicer(store, rules, risk_rules, audit_writer)
    ypb_grpc.add_YearServiceServicer_to_server(servicer, server)
    return str(ypb.DESCRIPTOR.services_by_name["YearService"].full_name)
