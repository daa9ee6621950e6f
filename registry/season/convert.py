"""The users' views (registry/season/statements.py) as SeasonService messages."""

from __future__ import annotations

from fupin.registry.v1 import season_service_pb2 as spb
from registry.resources.convert import producer_proto
from registry.season.models import Shipment
from registry.season.statements import BuyerStatement, ProducerStatement, VillageIncome


def producer_statement_proto(got: ProducerStatement, year: int = 0) -> spb.ProducerStatement:
    t = got.totals
    shares = {m.household_id: m.share_permille for m in got.members}
    households = sorted(set(shares) | set(got.dividends))
    return spb.ProducerStatement(
        producer=producer_proto(got.producer, got.members),
        year=year,
        listed_kg=got.listed_kg,
        sold_kg=t.sold_kg,
        sold_fen=t.sold_fen,
        received_kg=t.received_kg,
        rejected_kg=t.rejected_kg,
        owed_fen=t.owed_fen,
        paid_fen=t.paid_fen,
        outstanding_fen=t.owed_fen - t.paid_fen,
        dividends_fen=sum(got.dividends.values()),
        undistributed_fen=t.paid_fen - sum(got.dividends.values()),
        buyers=[
            spb.BuyerSales(
                buyer_id=buyer_id,
                buyer_name=name,
                shipments=s.shipments,
                sold_kg=s.sold_kg,
                sold_fen=s.sold_fen,
                received_kg=s.received_kg,
                rejected_kg=s.rejected_kg,
                owed_fen=s.owed_fen,
                paid_fen=s.paid_fen,
                outstanding_fen=s.owed_fen - s.paid_fen,
            )
            for buyer_id, name, s in got.buyers
        ],
        rejections=[
            spb.RejectedKg(reason=reason, kg=kg)  # type: ignore[arg-type]
            for reason, kg in got.rejected.items()
        ],
        members=[
            spb.MemberPayout(
                household_id=hh,
                share_permille=shares.get(hh, 0),
                dividends_fen=got.dividends.get(hh, 0),
            )
            for hh in households
        ],
    )


def buyer_statement_proto(got: BuyerStatement) -> spb.BuyerStatement:
    t = got.totals
    return spb.BuyerStatement(
        buyer_id=got.buyer.id,
        display_name=got.buyer.display_name,
        shipments=t.shipments,
        kg=t.sold_kg,
        received_kg=t.received_kg,
        rejected_kg=t.rejected_kg,
        owed_fen=t.owed_fen,
        paid_fen=t.paid_fen,
        outstanding_fen=t.owed_fen - t.paid_fen,
        shipment_dues=[_due(row) for row in got.page],
        next_page_token=got.next_page_token,
    )


def _due(row: Shipment) -> spb.ShipmentDue:
    owed = row.received_kg * row.paid_price_fen
    return spb.ShipmentDue(
        shipment_id=row.id,
        run_id=row.run_id,
        order_id=row.order_id,
        producer_id=row.producer_id,
        state=row.state,  # type: ignore[arg-type]
        kg=row.kg,
        received_kg=row.received_kg,
        rejected_kg=row.rejected_kg,
        paid_price_fen=row.paid_price_fen,
        owed_fen=owed,
        paid_fen=row.paid_fen,
        outstanding_fen=owed - row.paid_fen,
    )


def village_income_proto(v: VillageIncome, year: int) -> spb.VillageIncome:
    return spb.VillageIncome(
        village_id=v.village.id,
        admin_code=v.village.admin_code,
        display_name=v.village.display_name,
        year=year,
        households=v.households,
        produce_fen=v.produce_fen,
        dividends_fen=v.dividends_fen,
        aid_fen=v.aid_fen,
        total_fen=v.produce_fen + v.dividends_fen + v.aid_fen,
        changed_status=v.changed_status,
        lifted_out=v.lifted_out,
    )
