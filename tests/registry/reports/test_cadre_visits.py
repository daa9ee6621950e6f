"""CadreReport's visit figures on an instance small enough to check by hand: visits logged
through a real CadreWorkService, the report through a real ReportService."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, update
from sqlmodel import col

from fupin.registry.v1 import cadre_work_service_pb2 as wpb
from fupin.registry.v1 import cadre_work_service_pb2_grpc as wpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import report_service_pb2 as rpb
from fupin.registry.v1 import report_service_pb2_grpc as rpb_grpc
from registry.resources import models
from tests import factories

TODAY = dt.datetime.now(dt.UTC).date()
IMPOVERISHED, LIFTED_OUT = 1, 3


def test_visits_per_area_by_hand(server, registry, channel):
    """One village, one cadre, four households contracted to it. A: visited today and 40 days
    ago; B: 40 days ago; C: never; D: visited today but lifted out since, so not among the poor
    households the report covers. Visits 3, visited 2 (A, B), not visited 1 (C), 3 visits over
    3 contracted poor households (1.0 each), overdue 2 (B: its last visit 40 days ago; C:
    none)."""
    village = factories.create_village(registry)
    a, b, c, d = (factories.create_household(registry, village.id) for _ in range(4))
    cadre = registry.CreateCadre(api.CreateCadreRequest(cadre=factories.cadre()))
    with server.store.transaction(write=True) as session:
        session.execute(update(models.Household).values(status=IMPOVERISHED))
        session.execute(
            insert(models.HouseholdContract),
            [{"household_id": h.id, "cadre_id": cadre.id, "run_id": "run-hand",
              "time": dt.datetime.now(dt.UTC)} for h in (a, b, c, d)],
        )  # fmt: skip
    work = wpb_grpc.CadreWorkServiceStub(channel)
    for household, days_ago in ((a, 0), (a, 40), (b, 40), (d, 0)):
        day = TODAY - dt.timedelta(days=days_ago)
        work.RecordVisit(
            wpb.RecordVisitRequest(
                cadre_id=cadre.id, household_id=household.id, date=day.isoformat(), done="走访"
            )
        )
    with server.store.transaction(write=True) as session:
        session.execute(
            update(models.Household)
            .where(col(models.Household.id) == d.id)
            .values(status=LIFTED_OUT)
        )
    got = rpb_grpc.ReportServiceStub(channel).CadreReport(
        rpb.ReportRequest(region_code=village.admin_code, area=rpb.BY_VILLAGE)
    )
    assert got.as_of == TODAY.isoformat() and got.overdue_days == 30
    [row] = got.rows
    assert (row.poor_households, row.contracted, row.cadres) == (3, 3, 1)
    assert (row.visits, row.visited, row.not_visited, row.overdue) == (3, 2, 1, 2)
    assert row.visits_per_household == 1.0
