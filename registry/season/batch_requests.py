"""The batch RPCs' requests (BatchDispatchShipments, BatchReceiveShipments,
BatchRecordPayments, BatchPayDividends) as the steps of registry/season/steps.py and the
payouts of registry/season/dividends.py: each item checked as its single call checks it, its
errors naming it (`requests[i].field`), its request id stored and fingerprinted as the single
call's, so a retry may replay an item through either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fupin.registry.v1 import season_service_pb2 as spb
from registry.errors import FupinError, InvalidArgument
from registry.resources.requests import RESOURCE_ID, checked_request_id, fingerprint
from registry.resources.store import RegistryStore
from registry.season import dividends, shipments, steps
from registry.season.income import Incomes
from registry.season.payments import PaymentRequest, Payout, paying


def dispatches(requests: Any) -> list[steps.Item]:
    return _items(requests, "id", lambda r: shipments.dispatching)


def receipts(requests: Any) -> list[steps.Item]:
    def change(r: Any) -> shipments.Change:
        paid = r.paid_price_fen if r.HasField("paid_price_fen") else None
        receipt = shipments.Receipt(r.received_kg, r.rejected_kg, r.reject_reason, paid)
        return shipments.receiving(receipt)

    return _items(requests, "id", change)


def payments(requests: Any, store: RegistryStore) -> tuple[list[steps.Item], Incomes]:
    """The payments' steps and what adds their incomes once the batch's changes are made."""
    incomes = Incomes(store)

    def change(r: Any) -> shipments.Change:
        return paying(PaymentRequest(r.amount_fen, r.paid_on, r.reference), incomes)

    return _items(requests, "shipment_id", change), incomes


def payouts(requests: Any) -> list[dividends.PayoutRequest]:
    """The payouts of a BatchPayDividends, each checked as PayDividends checks it."""
    _bounded(requests)
    out: list[dividends.PayoutRequest] = []
    seen: dict[str, int] = {}
    for index, request in enumerate(requests):
        try:
            _check_id(request.producer_id, "producer_id")
            item = payout(request)
        except FupinError as exc:
            raise steps.named(exc, f"requests[{index}]") from exc
        _once(item.request_id, index, seen)
        out.append(item)
    return out


def payout(request: Any) -> dividends.PayoutRequest:
    """A PayDividendsRequest, checked; its request id in its stored form."""
    return dividends.checked(
        dividends.PayoutRequest(
            producer_id=request.producer_id,
            amount_fen=request.amount_fen,
            reference=request.reference,
            paid_on=request.paid_on,
            rule=request.rule,
            request_id=checked_request_id(request.request_id),
            fingerprint=fingerprint(request),
        )
    )


def payout_proto(batch_id: str, payouts: list[Payout]) -> spb.PayDividendsResponse:
    return spb.PayDividendsResponse(
        batch_id=batch_id,
        dividends=[
            spb.Dividend(
                id=p.dividend_id,
                household_id=p.household_id,
                share_permille=p.share_permille,
                amount_fen=p.amount_fen,
                delivered_kg=p.delivered_kg,
            )
            for p in payouts
        ],
    )


def _check_id(value: str, field: str) -> None:
    if not value:
        raise InvalidArgument.one(field, "is required")
    if not RESOURCE_ID.fullmatch(value):
        raise InvalidArgument.one(field, "is not a valid id (1-40 letters, digits, - or _)")


def _bounded(requests: Any) -> None:
    if not 1 <= len(requests) <= steps.MAX_BATCH:
        raise InvalidArgument.one("requests", f"must hold 1-{steps.MAX_BATCH} requests")


def _once(request_id: str, index: int, seen: dict[str, int]) -> None:
    """Refuse a request_id given twice in one batch."""
    if request_id in seen:
        rule = f"repeats the request_id of requests[{seen[request_id]}]"
        raise InvalidArgument.one(f"requests[{index}].request_id", rule)
    if request_id:
        seen[request_id] = index


def _items(
    requests: Any, id_field: str, change: Callable[[Any], shipments.Change]
) -> list[steps.Item]:
    """Every request as a step; the first refused refuses the batch, naming its item."""
    _bounded(requests)
    items: list[steps.Item] = []
    seen: dict[str, int] = {}
    for index, request in enumerate(requests):
        path = f"requests[{index}]"
        try:
            shipment_id = getattr(request, id_field)
            _check_id(shipment_id, id_field)
            request_id = checked_request_id(request.request_id)
            built = change(request)
        except FupinError as exc:
            raise steps.named(exc, path) from exc
        _once(request_id, index, seen)
        items.append(steps.Item(shipment_id, built, request_id, fingerprint(request), id_field))
    return items
