"""The demo goes on through the season (`fupin demo`, after the commit): the plums are received
(the largest shipment partly rejected for grade), the plants pay, the cooperatives pay their
members, a medical grant is disbursed and signed for (签收); then the users' views say what
poor households gained and how many changed status, and a chart shows the money's flows.

Everything goes through the services (SeasonClient, the matcher's AllocateAid); every choice is
made from the data (no clock, no randomness), so every run prints the same figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clients.i18n import _
from clients.matcher_client import MatcherClient
from clients.season_client import SeasonClient
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from fupin.registry.v1 import season_service_pb2 as spb

YEAR = 2020
RECEIVED_ON, PAID_ON, DIVIDENDS_ON, SIGNED_ON = (
    "2020-06-10",
    "2020-06-20",
    "2020-06-30",
    "2020-07-10",
)
REJECTED_SHARE = 0.05  # of the largest shipment, below the grade ordered
MEDICAL = pb.AidProgram(
    display_name="Medical aid (医疗救助)",
    kind=pb.MEDICAL_AID,
    budget_fen=300_000,
    amount_fen=300_000,  # one grant of 3,000 yuan
    causes=[pb.ILLNESS],
    eligible_statuses=[pb.IMPOVERISHED, pb.AT_RISK],
    region_code="350624",
)


@dataclass
class Season:
    """The season's figures, as printed (fen and kg)."""

    shipments: int = 0
    received_kg: int = 0
    rejected_kg: int = 0
    paid_fen: dict[str, int] = field(default_factory=dict)  # buyer name -> paid
    to_growers_fen: int = 0  # paid to household growers
    to_cooperatives_fen: int = 0
    dividends_fen: int = 0
    members_paid: int = 0
    grant_fen: int = 0
    grant_household: str = ""
    income: dict[str, int] = field(default_factory=dict)  # produce, dividends, aid
    changed_status: int = 0
    lifted_out: int = 0


def go_on(
    season: SeasonClient,
    registry: Any,
    matcher: MatcherClient,
    run: mpb.MatchRun,
    on_step: Callable[[str], None] = lambda text: None,
) -> Season:
    """The season after the commit of `run`, through the services; its figures."""
    out = Season()
    on_step(_("the plums are dispatched and received…"))
    _ship(season, run, out)
    kinds = {p.id: p.kind for p in _pages(registry.ListProducers, "producers")}
    on_step(_("the buyers pay; the cooperatives pay their members…"))
    for buyer_id in sorted({s.buyer_id for s in season.shipments(run_id=run.id)}):
        dues = season.buyer_statement(buyer_id)
        out.paid_fen[dues.display_name] = dues.paid_fen
        for due in dues.shipment_dues:
            if kinds.get(due.producer_id) == pb.PRODUCER_COOPERATIVE:
                out.to_cooperatives_fen += due.paid_fen
            else:
                out.to_growers_fen += due.paid_fen
    for producer_id in sorted(p for p, kind in kinds.items() if kind == pb.PRODUCER_COOPERATIVE):
        _pay_members(season, producer_id, out)
    on_step(_("a medical grant is allocated, disbursed and signed for…"))
    _medical_grant(season, registry, matcher, out)
    for village in season.village_income(YEAR):
        for source, fen in (
            ("produce", village.produce_fen),
            ("dividends", village.dividends_fen),
            ("aid", village.aid_fen),
        ):
            out.income[source] = out.income.get(source, 0) + fen
        out.changed_status += village.changed_status
        out.lifted_out += village.lifted_out
    return out


def _ship(season: SeasonClient, run: mpb.MatchRun, out: Season) -> None:
    """Dispatch and receive every shipment (the largest with some rejected), then pay it."""
    shipments = list(season.shipments(run_id=run.id, state=spb.SHIPMENT_COMMITTED))
    # The largest shipment; equal ones by their listing's and order's place in the run.
    place = {(a.listing_id, a.order_id): i for i, a in enumerate(run.produce.allocations)}
    graded = max(shipments, key=lambda s: (s.kg, -place[(s.listing_id, s.order_id)]), default=None)
    for s in sorted(shipments, key=lambda s: place[(s.listing_id, s.order_id)]):
        season.dispatch(s.id, request_id=f"demo-dispatch-{s.id}")
        rejected = round(s.kg * REJECTED_SHARE) if s is graded else 0
        got = season.receive(
            s.id,
            s.kg - rejected,
            rejected_kg=rejected,
            reject_reason=spb.REJECT_GRADE if rejected else 0,
            request_id=f"demo-receive-{s.id}",
        )
        season.pay(
            s.id,
            got.owed_fen,
            paid_on=PAID_ON,
            reference=f"transfer {s.id}",
            request_id=f"demo-pay-{s.id}",
        )
        out.shipments += 1
        out.received_kg += got.received_kg
        out.rejected_kg += got.rejected_kg


def _pay_members(season: SeasonClient, producer_id: str, out: Season) -> None:
    """A cooperative pays out to its members all it was paid and has not paid out yet."""
    statement = season.producer_statement(producer_id)
    if statement.undistributed_fen <= 0:
        return
    paid = season.pay_dividends(
        producer_id,
        statement.undistributed_fen,
        paid_on=DIVIDENDS_ON,
        reference="2020 season",
        request_id=f"demo-dividends-{producer_id}-{statement.paid_fen}",
    )
    out.dividends_fen += sum(d.amount_fen for d in paid.dividends)
    out.members_paid += len(paid.dividends)


def _medical_grant(
    season: SeasonClient, registry: Any, matcher: MatcherClient, out: Season
) -> None:
    """A medical-aid programme of one grant: allocated, committed, disbursed to the household's
    bank card (一卡通) and signed for by it."""
    programme = registry.CreateAidProgram(
        api.CreateAidProgramRequest(aid_program=MEDICAL, request_id="demo-medical")
    )
    run_id = f"demo-aid-{programme.id[-20:]}"  # one run a programme: a rerun returns it
    request = mpb.AllocateAidRequest(
        selection=mpb.AidSelection(region_code="350624", programme_ids=[programme.id]),
        parameters=mpb.SolveParameters(time_limit_s=20, reproducible=True),
        request_id=run_id,
        run_id=run_id,
    )
    run = matcher.allocate_aid(request)
    if not run.aid.grants:
        return
    if run.state == mpb.PROPOSED:
        matcher.commit(run.id, request_id=f"commit-{run.id}")
    grant = run.aid.grants[0]
    key = spb.GrantKey(
        run_id=run.id, household_id=grant.household_id, programme_id=grant.programme_id
    )
    season.disburse(key, spb.BANK_CARD, reference="一卡通", request_id=f"demo-disburse-{run.id}")
    signed = season.sign_for(
        key, spb.SIGNED_BY_HOUSEHOLD, signed_on=SIGNED_ON, request_id=f"demo-sign-{run.id}"
    )
    out.grant_fen, out.grant_household = signed.amount_fen, grant.household_id


def _pages(method: Any, field_name: str) -> list[Any]:
    request = api.ListProducersRequest(page_size=1000)
    items: list[Any] = []
    while True:
        page = method(request)
        items.extend(getattr(page, field_name))
        if not page.next_page_token:
            return items
        request.page_token = page.next_page_token
