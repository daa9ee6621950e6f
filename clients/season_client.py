"""The typed Python client of fupin.registry.v1.SeasonService, as RegistryClient is the
registry's: shipments and their steps, payments, dividends, aid delivered, and the users' views.

    with SeasonClient("127.0.0.1:50051") as season:
        statement = season.producer_statement("prd-…")       # a cooperative's season
        dues = season.buyer_statement("byr-…")                # owed and paid per shipment
        for village in season.village_income(2020, region_code="350624"):
            print(village.admin_code, village.total_fen)

- The key: `api_key`, else clients/auth.py's resolve_key() ($FUPIN_API_KEY, its file).
- Every call has a deadline (`timeout_s`); failures raise clients.errors.FupinClientError
  subclasses with the server's field violations.
- Every step is sent with a request_id (a uuid4 unless given), so sending it again after a lost
  answer changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, cast

import grpc
from google.protobuf.message import Message

from clients import auth
from clients.client import MAX_PAGE_SIZE, channel_options, new_request_id
from clients.errors import from_rpc_error
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc

Metadata = Sequence[tuple[str, str]]


class SeasonClient:
    def __init__(
        self,
        target: str | None = None,
        *,
        timeout_s: float = 10.0,
        channel: grpc.Channel | None = None,
        metadata: Metadata = (),
        api_key: str | None = None,
    ) -> None:
        self.target = target = auth.resolve_target(target)
        self.timeout_s = timeout_s
        self.metadata = (*metadata, *auth.key_metadata(auth.resolve_key(api_key)))
        self._owns_channel = channel is None
        if channel is None:
            channel = auth.open_channel(
                target, credentials=auth.tls_credentials(), options=channel_options()
            )
        self._channel = channel
        self._stub = spb_grpc.SeasonServiceStub(channel)

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> SeasonClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # The users' views.

    def producer_statement(self, producer_id: str, *, year: int = 0) -> spb.ProducerStatement:
        """One season's (year) or, by default, every season's so far."""
        request = spb.GetProducerStatementRequest(producer_id=producer_id, year=year)
        return cast(spb.ProducerStatement, self._call("GetProducerStatement", request))

    def buyer_statement_page(
        self, buyer_id: str, *, page_size: int = 0, page_token: str = ""
    ) -> spb.BuyerStatement:
        """One page of a buyer's dues per shipment, with its totals over every page."""
        request = spb.GetBuyerStatementRequest(
            buyer_id=buyer_id, page_size=page_size, page_token=page_token
        )
        return cast(spb.BuyerStatement, self._call("GetBuyerStatement", request))

    def buyer_statement(self, buyer_id: str) -> spb.BuyerStatement:
        """Every page of a buyer's dues in one statement (its totals those of the first page)."""
        whole = self.buyer_statement_page(buyer_id, page_size=MAX_PAGE_SIZE)
        token = whole.next_page_token
        while token:
            page = self.buyer_statement_page(buyer_id, page_size=MAX_PAGE_SIZE, page_token=token)
            whole.shipment_dues.extend(page.shipment_dues)
            token = page.next_page_token
        whole.next_page_token = ""
        return whole

    def village_income(self, year: int, *, region_code: str = "") -> Iterator[spb.VillageIncome]:
        """The villages of the caller's region with their households' income of the year."""
        request = spb.ListVillageIncomeRequest(
            year=year, region_code=region_code, page_size=MAX_PAGE_SIZE
        )
        while True:
            page = cast(spb.ListVillageIncomeResponse, self._call("ListVillageIncome", request))
            yield from page.villages
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    # Shipments, payments, dividends, aid delivered.

    def shipments(self, *, run_id: str = "", state: int = 0) -> Iterator[spb.Shipment]:
        request = spb.ListShipmentsRequest(
            run_id=run_id,
            state=state,  # type: ignore[arg-type]
            page_size=MAX_PAGE_SIZE,
        )
        while True:
            page = cast(spb.ListShipmentsResponse, self._call("ListShipments", request))
            yield from page.shipments
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def dispatch(self, shipment_id: str, *, request_id: str = "") -> spb.Shipment:
        request = spb.DispatchShipmentRequest(id=shipment_id, request_id=_key(request_id))
        return cast(spb.Shipment, self._call("DispatchShipment", request))

    def receive(
        self,
        shipment_id: str,
        received_kg: int,
        *,
        rejected_kg: int = 0,
        reject_reason: int = 0,
        paid_price_fen: int | None = None,
        request_id: str = "",
    ) -> spb.Shipment:
        request = spb.ReceiveShipmentRequest(
            id=shipment_id,
            received_kg=received_kg,
            rejected_kg=rejected_kg,
            reject_reason=reject_reason,  # type: ignore[arg-type]
            request_id=_key(request_id),
        )
        if paid_price_fen is not None:
            request.paid_price_fen = paid_price_fen
        return cast(spb.Shipment, self._call("ReceiveShipment", request))

    def pay(
        self,
        shipment_id: str,
        amount_fen: int,
        *,
        paid_on: str,
        reference: str = "",
        request_id: str = "",
    ) -> spb.Shipment:
        request = spb.RecordPaymentRequest(
            shipment_id=shipment_id,
            amount_fen=amount_fen,
            paid_on=paid_on,
            reference=reference,
            request_id=_key(request_id),
        )
        return cast(spb.Shipment, self._call("RecordPayment", request))

    def pay_dividends(
        self,
        producer_id: str,
        amount_fen: int,
        *,
        paid_on: str = "",
        reference: str = "",
        request_id: str = "",
    ) -> spb.PayDividendsResponse:
        request = spb.PayDividendsRequest(
            producer_id=producer_id,
            amount_fen=amount_fen,
            paid_on=paid_on,
            reference=reference,
            request_id=_key(request_id),
        )
        return cast(spb.PayDividendsResponse, self._call("PayDividends", request))

    def producer_account(self, producer_id: str) -> spb.ProducerAccount:
        request = spb.GetProducerAccountRequest(producer_id=producer_id)
        return cast(spb.ProducerAccount, self._call("GetProducerAccount", request))

    def disburse(
        self, grant: spb.GrantKey, channel: int, *, reference: str = "", request_id: str = ""
    ) -> spb.Disbursement:
        request = spb.DisburseGrantRequest(
            grant=grant,
            channel=channel,  # type: ignore[arg-type]
            reference=reference,
            request_id=_key(request_id),
        )
        return cast(spb.Disbursement, self._call("DisburseGrant", request))

    def sign_for(
        self, grant: spb.GrantKey, signed_by: int, *, signed_on: str = "", request_id: str = ""
    ) -> spb.Disbursement:
        request = spb.SignForGrantRequest(
            grant=grant,
            signed_by=signed_by,  # type: ignore[arg-type]
            signed_on=signed_on,
            request_id=_key(request_id),
        )
        return cast(spb.Disbursement, self._call("SignForGrant", request))

    def _call(self, method: str, request: Message) -> Any:
        try:
            return getattr(self._stub, method)(
                request, timeout=self.timeout_s, metadata=self.metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error


def _key(request_id: str) -> str:
    return request_id or new_request_id()
