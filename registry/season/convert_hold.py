"""Season records -> messages that more than one service answers with: a checkout hold is made
by the matcher's QuickSource and read, confirmed and released through SeasonService. Imports
only the protos and the plain records (registry/runs/data.py), so the matcher's service side
may use it."""

from __future__ import annotations

from fupin.registry.v1 import season_service_pb2 as spb
from registry.runs.data import HoldRecord


def hold_proto(hold: HoldRecord) -> spb.Hold:
    out = spb.Hold(
        id=hold.id,
        buyer_id=hold.buyer_id,
        state=hold.state,  # type: ignore[arg-type]
        kg=hold.kg,
        listings=[spb.HeldListing(listing_id=i.listing_id, kg=i.kg) for i in hold.items],
        order_id=hold.order_id,
        run_id=hold.run_id,
    )
    out.expire_time.FromDatetime(hold.expire_time)
    out.create_time.FromDatetime(hold.create_time)
    return out
