"""SeasonService servicer: shipments, payments, dividends and aid delivery after the match
(proto/fupin/registry/v1/season_service.proto).

Thin: each RPC checks its request's fields, calls one store function of registry/season/ with
the caller (registry/access/policy.py current) and converts the row back.
"""

from __future__ import annotations

from typing import Any

import grpc

from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from registry.access import policy as access
from registry.errors import FieldViolation, InvalidArgument
from registry.resources import query
from registry.resources.convert import timestamp
from registry.resources.requests import (
    REGION_CODE,
    RESOURCE_ID,
    checked_request_id,
    fingerprint,
)
from registry.resources.store import RegistryStore
from registry.season import (
    batch_requests,
    deliveries,
    disbursements,
    dividends,
    holds,
    payments,
    shipments,
    statements,
)
from registry.season.convert import (
    buyer_statement_proto,
    producer_statement_proto,
    village_income_proto,
)
from registry.season.convert_hold import hold_proto
from registry.season.models import GrantDisbursement, Shipment


class SeasonServicer(spb_grpc.SeasonServiceServicer):
    def __init__(self, store: RegistryStore, *, overdue_days: int = 30) -> None:
        self.store = store
        self.overdue_days = overdue_days

    def GetShipment(self, request: Any, context: Any) -> spb.Shipment:
        _ids(request, ("id",), required=("id",))
        return shipment_proto(shipments.get_shipment(self.store, request.id, access.current()))

    def ListShipments(self, request: Any, context: Any) -> spb.ListShipmentsResponse:
        ids = _ids(request, ("run_id", "listing_id", "order_id"))
        if request.state not in shipments.STATE_NAMES and request.state != 0:
            raise InvalidArgument.one("state", "is not a ShipmentState")
        filter_text = "|".join([*(ids[k] for k in sorted(ids)), str(request.state)])
        page = query.parse_page(request.page_size, request.page_token, filter_text)
        rows, token = shipments.list_shipments(
            self.store, page=page, state=request.state, reader=access.current(), **ids
        )
        return spb.ListShipmentsResponse(
            shipments=[shipment_proto(r) for r in rows], next_page_token=token
        )

    def DispatchShipment(self, request: Any, context: Any) -> spb.Shipment:
        _ids(request, ("id",), required=("id",))
        row = shipments.dispatch(self.store, request.id, **_step(request))
        return shipment_proto(row)

    def ReceiveShipment(self, request: Any, context: Any) -> spb.Shipment:
        _ids(request, ("id",), required=("id",))
        receipt = shipments.Receipt(
            received_kg=request.received_kg,
            rejected_kg=request.rejected_kg,
            reject_reason=request.reject_reason,
            paid_price_fen=(request.paid_price_fen if request.HasField("paid_price_fen") else None),
        )
        row = shipments.receive(self.store, request.id, receipt, **_step(request))
        return shipment_proto(row)

    def CancelShipment(self, request: Any, context: Any) -> spb.Shipment:
        _ids(request, ("id",), required=("id",))
        row = shipments.cancel(self.store, request.id, request.reason, **_step(request))
        return shipment_proto(row)

    def BatchDispatchShipments(self, request: Any, context: Any) -> Any:
        items = batch_requests.dispatches(request.requests)
        rows = shipments.batch(self.store, "DispatchShipment", items, access.current())
        return spb.BatchDispatchShipmentsResponse(shipments=[shipment_proto(r) for r in rows])

    def BatchReceiveShipments(self, request: Any, context: Any) -> Any:
        items = batch_requests.receipts(request.requests)
        rows = shipments.batch(self.store, "ReceiveShipment", items, access.current())
        return spb.BatchReceiveShipmentsResponse(shipments=[shipment_proto(r) for r in rows])

    def BatchRecordPayments(self, request: Any, context: Any) -> Any:
        items, incomes = batch_requests.payments(request.requests, self.store)
        rows = shipments.batch(self.store, "RecordPayment", items, access.current(), incomes.add)
        return spb.BatchRecordPaymentsResponse(shipments=[shipment_proto(r) for r in rows])

    def GetHold(self, request: Any, context: Any) -> spb.Hold:
        _ids(request, ("id",), required=("id",))
        return hold_proto(holds.get_hold(self.store, request.id, access.current()))

    def ListHolds(self, request: Any, context: Any) -> spb.ListHoldsResponse:
        if request.state not in holds.STATE_NAMES and request.state != 0:
            raise InvalidArgument.one("state", "is not a HoldState")
        found = holds.list_holds(self.store, reader=access.current(), state=request.state)
        return spb.ListHoldsResponse(holds=[hold_proto(h) for h in found])

    def ConfirmHold(self, request: Any, context: Any) -> spb.Hold:
        _ids(request, ("id",), required=("id",))
        return hold_proto(holds.confirm(self.store, request.id, **_step(request)))

    def ReleaseHold(self, request: Any, context: Any) -> spb.Hold:
        _ids(request, ("id",), required=("id",))
        return hold_proto(holds.release(self.store, request.id, **_step(request)))

    def RecordPayment(self, request: Any, context: Any) -> spb.Shipment:
        _ids(request, ("shipment_id",), required=("shipment_id",))
        row = payments.record_payment(
            self.store,
            request.shipment_id,
            amount_fen=request.amount_fen,
            paid_on=request.paid_on,
            reference=request.reference,
            **_step(request),
        )
        return shipment_proto(row)

    def PayDividends(self, request: Any, context: Any) -> spb.PayDividendsResponse:
        _ids(request, ("producer_id",), required=("producer_id",))
        payout = batch_requests.payout(request)
        [(batch, payouts)] = dividends.pay(self.store, [payout], access.current(), batch=False)
        return batch_requests.payout_proto(batch, payouts)

    def BatchPayDividends(self, request: Any, context: Any) -> Any:
        items = batch_requests.payouts(request.requests)
        paid = dividends.pay(self.store, items, access.current(), batch=True)
        return spb.BatchPayDividendsResponse(
            responses=[batch_requests.payout_proto(b, p) for b, p in paid]
        )

    def RecordDeliveries(self, request: Any, context: Any) -> spb.Deliveries:
        _ids(request, ("listing_id",), required=("listing_id",))
        bad = [
            FieldViolation(f"deliveries[{i}].household_id", "is not a valid id")
            for i, d in enumerate(request.deliveries)
            if not RESOURCE_ID.fullmatch(d.household_id)
        ]
        if bad:
            raise InvalidArgument(bad)
        pairs = [(d.household_id, d.kg) for d in request.deliveries]
        stored = deliveries.record_deliveries(
            self.store, request.listing_id, pairs, **_step(request)
        )
        return spb.Deliveries(
            listing_id=request.listing_id,
            deliveries=[spb.MemberDelivery(household_id=hh, kg=kg) for hh, kg in stored],
        )

    def GetProducerAccount(self, request: Any, context: Any) -> spb.ProducerAccount:
        _ids(request, ("producer_id",), required=("producer_id",))
        a = payments.producer_account(self.store, request.producer_id, access.current())
        return spb.ProducerAccount(
            producer_id=a.producer_id,
            shipped_kg=a.shipped_kg,
            received_kg=a.received_kg,
            rejected_kg=a.rejected_kg,
            owed_fen=a.owed_fen,
            paid_fen=a.paid_fen,
            outstanding_fen=a.owed_fen - a.paid_fen,
            dividends_fen=a.dividends_fen,
            undistributed_fen=a.paid_fen - a.dividends_fen,
        )

    def DisburseGrant(self, request: Any, context: Any) -> spb.Disbursement:
        row = disbursements.disburse(
            self.store,
            _grant(request),
            channel=request.channel,
            reference=request.reference,
            **_step(request),
        )
        return disbursement_proto(row)

    def SignForGrant(self, request: Any, context: Any) -> spb.Disbursement:
        key = _grant(request)
        signed = {"signed_by": request.signed_by, "signed_on": request.signed_on}
        row = disbursements.sign_for(self.store, key, **signed, **_step(request))
        return disbursement_proto(row)

    def ClawBackGrant(self, request: Any, context: Any) -> spb.Disbursement:
        key = _grant(request)
        row = disbursements.claw_back(self.store, key, reason=request.reason, **_step(request))
        return disbursement_proto(row)

    def GetAidDelivery(self, request: Any, context: Any) -> spb.AidDelivery:
        if not REGION_CODE.fullmatch(request.region_code):
            raise InvalidArgument.one("region_code", "must be an administrative code prefix")
        if request.overdue_days < 0:
            raise InvalidArgument.one("overdue_days", "must not be negative")
        days = request.overdue_days or self.overdue_days
        report = disbursements.delivery(
            self.store, region_code=request.region_code, overdue_days=days, reader=access.current()
        )
        return spb.AidDelivery(
            programmes=_totals(report.programmes),
            villages=_totals(report.villages),
            counties=_totals(report.counties),
            overdue=[
                spb.OverdueGrant(
                    grant=_key_proto(o.key),
                    amount_fen=o.amount_fen,
                    commit_time=timestamp(o.commit_time),
                    days=o.days,
                )
                for o in report.overdue
            ],
            overdue_days=days,
        )

    def GetProducerStatement(self, request: Any, context: Any) -> spb.ProducerStatement:
        _ids(request, ("producer_id",), required=("producer_id",))
        if request.year and not 2000 <= request.year <= 2100:
            raise InvalidArgument.one("year", "must be 0 (every season) or from 2000 to 2100")
        got = statements.producer_statement(
            self.store, request.producer_id, access.current(), year=request.year
        )
        return producer_statement_proto(got, request.year)

    def GetBuyerStatement(self, request: Any, context: Any) -> spb.BuyerStatement:
        _ids(request, ("buyer_id",), required=("buyer_id",))
        page = query.parse_page(request.page_size, request.page_token, request.buyer_id)
        got = statements.buyer_statement(self.store, request.buyer_id, page, access.current())
        return buyer_statement_proto(got)

    def ListVillageIncome(self, request: Any, context: Any) -> spb.ListVillageIncomeResponse:
        bad = []
        if not REGION_CODE.fullmatch(request.region_code):
            bad.append(FieldViolation("region_code", "must be an administrative code prefix"))
        if not 2000 <= request.year <= 2100:
            bad.append(FieldViolation("year", "is required: a year from 2000 to 2100"))
        if bad:
            raise InvalidArgument(bad)
        page = query.parse_page(
            request.page_size, request.page_token, f"{request.region_code}|{request.year}"
        )
        rows, token = statements.village_income(
            self.store,
            region_code=request.region_code,
            year=request.year,
            page=page,
            reader=access.current(),
        )
        return spb.ListVillageIncomeResponse(
            villages=[village_income_proto(v, request.year) for v in rows], next_page_token=token
        )


def _grant(request: Any) -> disbursements.GrantKey:
    names = ("run_id", "household_id", "programme_id")
    bad = [
        FieldViolation(f"grant.{name}", "is not a valid id (1-40 letters, digits, - or _)")
        for name in names
        if not RESOURCE_ID.fullmatch(getattr(request.grant, name))
    ]
    if bad:
        raise InvalidArgument(bad)
    return disbursements.GrantKey(*(getattr(request.grant, name) for name in names))


def _key_proto(key: disbursements.GrantKey) -> spb.GrantKey:
    return spb.GrantKey(
        run_id=key.run_id, household_id=key.household_id, programme_id=key.programme_id
    )


def disbursement_proto(row: GrantDisbursement) -> spb.Disbursement:
    out = spb.Disbursement(
        grant=_key_proto(disbursements.GrantKey(row.run_id, row.household_id, row.programme_id)),
        amount_fen=row.amount_fen,
        state=row.state,  # type: ignore[arg-type]
        channel=row.channel,  # type: ignore[arg-type]
        reference=row.reference,
        signed_by=row.signed_by,  # type: ignore[arg-type]
        clawback_reason=row.clawback_reason,
    )
    _times(out, row, ("disburse_time", "receive_time", "clawback_time"))
    return out


def _times(out: Any, row: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(row, name)
        if value is not None:
            getattr(out, name).CopyFrom(timestamp(value))


def _totals(groups: dict[str, disbursements.Total]) -> list[spb.DeliveryTotal]:
    return [
        spb.DeliveryTotal(
            key=key,
            grants=t.grants,
            committed_fen=t.committed_fen,
            disbursed_fen=t.disbursed_fen,
            received_fen=t.received_fen,
            clawed_back_fen=t.clawed_back_fen,
        )
        for key, t in sorted(groups.items())
    ]


def _step(request: Any) -> dict[str, Any]:
    """The caller, the request id and the request's fingerprint, for a step's replay."""
    return {
        "reader": access.current(),
        "request_id": checked_request_id(request.request_id),
        "fingerprint": fingerprint(request),
    }


def shipment_proto(row: Shipment) -> spb.Shipment:
    out = spb.Shipment(
        id=row.id,
        run_id=row.run_id,
        listing_id=row.listing_id,
        order_id=row.order_id,
        producer_id=row.producer_id,
        buyer_id=row.buyer_id,
        kg=row.kg,
        state=row.state,  # type: ignore[arg-type]
        price_fen=row.price_fen,
        received_kg=row.received_kg,
        rejected_kg=row.rejected_kg,
        reject_reason=row.reject_reason,  # type: ignore[arg-type]
        paid_price_fen=row.paid_price_fen,
        cancel_reason=row.cancel_reason,
        owed_fen=row.received_kg * row.paid_price_fen,
        paid_fen=row.paid_fen,
        create_time=timestamp(row.create_time),
    )
    _times(out, row, ("dispatch_time", "receive_time", "cancel_time"))
    return out


def _ids(request: Any, names: tuple[str, ...], *, required: tuple[str, ...] = ()) -> dict[str, str]:
    bad = []
    for name in names:
        value = getattr(request, name)
        if not value and name in required:
            bad.append(FieldViolation(name, "is required"))
        elif value and not RESOURCE_ID.fullmatch(value):
            bad.append(FieldViolation(name, "is not a valid id (1-40 letters, digits, - or _)"))
    if bad:
        raise InvalidArgument(bad)
    return {name: getattr(request, name) for name in names}


def add_to_server(store: RegistryStore, server: grpc.Server, *, overdue_days: int = 30) -> str:
    servicer = SeasonServicer(store, overdue_days=overdue_days)
    spb_grpc.add_SeasonServiceServicer_to_server(servicer, server)
    return str(spb.DESCRIPTOR.services_by_name["SeasonService"].full_name)
