"""The batch RPCs' requests (BatchDispatchShipments, BatchReceiveShipments,
BatchRecordPayments) as the steps of registry/season/steps.py: each item checked as its
single call checks it, its errors naming it (`requests[i].field`), its request id stored and
fingerprinted as the single call's, so a retry may replay an item through either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from registry.errors import FieldViolation, FupinError, InvalidArgument
from registry.resources.requests import RESOURCE_ID, checked_request_id, fingerprint
from registry.resources.store import RegistryStore
from registry.season import shipments, steps
from registry.season.income import Incomes
from registry.season.payments import PaymentRequest, paying

ID_RULE = "is not a valid id (1-40 letters, digits, - or _)"


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


def _items(
    requests: Any, id_field: str, change: Callable[[Any], shipments.Change]
) -> list[steps.Item]:
    """Every request as a step; the first refused refuses the batch, naming its item."""
    if not 1 <= len(requests) <= steps.MAX_BATCH:
        raise InvalidArgument.one("requests", f"must hold 1-{steps.MAX_BATCH} requests")
    items: list[steps.Item] = []
    seen: dict[str, int] = {}
    for index, request in enumerate(requests):
        path = f"requests[{index}]"
        try:
            shipment_id = getattr(request, id_field)
            if not RESOURCE_ID.fullmatch(shipment_id):
                rule = ID_RULE if shipment_id else "is required"
                raise InvalidArgument([FieldViolation(id_field, rule)])
            request_id = checked_request_id(request.request_id)
            built = change(request)
        except FupinError as exc:
            raise steps.named(exc, path) from exc
        if request_id in seen:
            rule = f"repeats the request_id of requests[{seen[request_id]}]"
            raise InvalidArgument.one(f"{path}.request_id", rule)
        if request_id:
            seen[request_id] = index
        items.append(steps.Item(shipment_id, built, request_id, fingerprint(request), id_field))
    return items
