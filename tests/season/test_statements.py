"""Users' views through a real server, each checked against the rows it sums (read back with
plain SQL and added up in Python): a producer's statement, a buyer's dues, an office's income
per village; scoped (another's is NOT_FOUND or absent) and audited when households are named."""

from __future__ import annotations

from collections import defaultdict

import grpc
import pytest
from sqlalchemy import text

from clients.auth import open_channel
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from registry.access.policy import Role
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails
from tests.season.conftest import commit_run


@pytest.fixture
def stub(channel) -> spb_grpc.SeasonServiceStub:
    return spb_grpc.SeasonServiceStub(channel)


def stub_for(server, role: Role, scope: str):
    key = server.keys.create(role, scope)
    channel = open_channel(f"127.0.0.1:{server.port}", api_key=key.secret)
    return spb_grpc.SeasonServiceStub(channel), channel, key.row.id


@pytest.fixture
def world(registry, server, stub):
    """A cooperative of three households (shares 500/300/200) selling to two buyers, and a
    household grower; receipts with rejections, part payments, a dividend payout."""
    village = factories.create_village(registry)
    members = [factories.create_household(registry, village.id).id for _ in range(3)]
    coop = registry.CreateProducer(
        api.CreateProducerRequest(
            producer=factories.cooperative(
                village.id, dict(zip(members, (500, 300, 200), strict=True))
            )
        )
    ).id
    grower_hh = factories.create_household(registry, village.id).id
    grower = registry.CreateProducer(
        api.CreateProducerRequest(producer=factories.producer_for(grower_hh))
    ).id
    buyers = [
        registry.CreateBuyer(api.CreateBuyerRequest(buyer=factories.buyer())).id for _ in "ab"
    ]
    listings = [
        registry.CreateListing(
            api.CreateListingRequest(listing=factories.listing(p, quantity_kg=kg))
        ).id
        for p, kg in ((coop, 2000), (coop, 500), (grower, 800))
    ]
    orders = [
        registry.CreateOrder(
            api.CreateOrderRequest(order=factories.order(b, max_quantity_kg=5000, price_fen=price))
        ).id
        for b, price in ((buyers[0], 300), (buyers[0], 250), (buyers[1], 280))
    ]
    allocations = [
        (listings[0], orders[0], 1000),
        (listings[0], orders[2], 600),
        (listings[1], orders[1], 400),
        (listings[2], orders[0], 700),
        (listings[2], orders[1], 100),
    ]
    commit_run(server.store, allocations, "run-views")
    shipped = {
        (s.listing_id, s.order_id): s.id
        for s in stub.ListShipments(spb.ListShipmentsRequest(run_id="run-views")).shipments
    }
    steps = [  # (allocation, received, rejected, reason, price paid, payment)
        (0, 950, 50, spb.REJECT_GRADE, 290, 200_000),
        (1, 600, 0, 0, None, 168_000),
        (3, 680, 20, spb.REJECT_QUALITY, None, 100_000),
    ]
    for index, received, rejected, reason, price, paid in steps:
        sid = shipped[allocations[index][:2]]
        stub.DispatchShipment(spb.DispatchShipmentRequest(id=sid))
        receipt = spb.ReceiveShipmentRequest(
            id=sid, received_kg=received, rejected_kg=rejected, reject_reason=reason
        )
        if price is not None:
            receipt.paid_price_fen = price
        stub.ReceiveShipment(receipt)
        stub.RecordPayment(
            spb.RecordPaymentRequest(shipment_id=sid, amount_fen=paid, paid_on="2020-06-20")
        )
    stub.CancelShipment(
        spb.CancelShipmentRequest(id=shipped[allocations[2][:2]], reason="plant full")
    )
    stub.PayDividends(
        spb.PayDividendsRequest(producer_id=coop, amount_fen=300_001, paid_on="2020-07-01")
    )
    return {
        "coop": coop,
        "grower": grower,
        "grower_hh": grower_hh,
        "members": members,
        "buyers": buyers,
        "village": village,
    }


def rows(server, sql: str, **params) -> list[dict]:
    with server.store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def test_a_cooperatives_statement_adds_up_its_rows(stub, server, world):
    """Every figure of the statement equals the sum of its shipment, listing and dividend rows."""
    got = stub.GetProducerStatement(spb.GetProducerStatementRequest(producer_id=world["coop"]))
    ships = rows(server, "SELECT * FROM shipment WHERE producer_id = :p", p=world["coop"])
    live = [s for s in ships if s["state"] != 4]
    assert len(live) == 2 and len(ships) == 3  # one cancelled
    listed = rows(server, "SELECT quantity_kg FROM listing WHERE producer_id = :p", p=world["coop"])
    divs = rows(server, "SELECT * FROM dividend WHERE producer_id = :p", p=world["coop"])
    assert got.listed_kg == sum(r["quantity_kg"] for r in listed) == 2500
    assert got.sold_kg == sum(s["kg"] for s in live) == 1600
    assert got.sold_fen == sum(s["kg"] * s["price_fen"] for s in live)
    assert got.received_kg == sum(s["received_kg"] for s in live) == 1550
    assert got.rejected_kg == 50
    owed = sum(s["received_kg"] * s["paid_price_fen"] for s in live)
    assert (got.owed_fen, got.paid_fen) == (owed, 368_000)
    assert got.outstanding_fen == owed - 368_000
    assert got.dividends_fen == sum(d["amount_fen"] for d in divs) == 300_001
    assert got.undistributed_fen == 368_000 - 300_001
    by_buyer = defaultdict(int)
    for s in live:
        by_buyer[s["buyer_id"]] += s["kg"]
    assert {b.buyer_id: b.sold_kg for b in got.buyers} == by_buyer
    assert got.buyers[0].sold_kg >= got.buyers[1].sold_kg and got.buyers[0].buyer_name
    assert sum(b.paid_fen for b in got.buyers) == got.paid_fen
    assert [(r.reason, r.kg) for r in got.rejections] == [(spb.REJECT_GRADE, 50)]
    paid = defaultdict(int)
    for d in divs:
        paid[d["household_id"]] += d["amount_fen"]
    assert {m.household_id: m.dividends_fen for m in got.members} == paid
    assert [m.share_permille for m in got.members] == [
        dict(zip(world["members"], (500, 300, 200), strict=True))[m.household_id]
        for m in got.members
    ]
    assert len(got.producer.members) == 3


def test_a_season_is_its_listings_shipments_and_the_dividends_paid_in_it(stub, server, world):
    """year=2020: every shipment (its listings are of 2020) and the 2020 payout; a payout of
    2021 counts in 2021 only; 2019 is empty; 0 is every season."""
    coop = world["coop"]
    stub.PayDividends(
        spb.PayDividendsRequest(producer_id=coop, amount_fen=7_000, paid_on="2021-01-10")
    )

    def statement(year: int) -> spb.ProducerStatement:
        request = spb.GetProducerStatementRequest(producer_id=coop, year=year)
        return stub.GetProducerStatement(request)

    every, of_2020, of_2021, of_2019 = (
        statement(0),
        statement(2020),
        statement(2021),
        statement(2019),
    )
    assert (of_2020.year, of_2020.sold_kg, of_2020.paid_fen) == (2020, every.sold_kg, 368_000)
    assert (of_2020.dividends_fen, of_2021.dividends_fen, every.dividends_fen) == (
        300_001,
        7_000,
        307_001,
    )
    assert of_2021.sold_kg == of_2019.sold_kg == of_2019.listed_kg == 0
    years = rows(server, "SELECT year, sum(amount_fen) AS fen FROM dividend GROUP BY year")
    assert {r["year"]: r["fen"] for r in years} == {2020: 300_001, 2021: 7_000}
    bad = spb.GetProducerStatementRequest(producer_id=coop, year=1999)
    error = rpc_fails(lambda: stub.GetProducerStatement(bad), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == ["year"]


def test_statements_are_scoped_and_audited(stub, server, world, channel):
    """The cooperative reads its own statement (its members audited), another's is NOT_FOUND;
    another county's office sees nothing; an auditor gets the grower masked."""
    mine, c1, key_id = stub_for(server, Role.COOPERATIVE, world["coop"])
    other_office, c2, _ = stub_for(server, Role.OFFICE, "110101")
    auditor, c3, _ = stub_for(server, Role.AUDITOR, factories.ZHAOAN)
    with c1, c2, c3:
        got = mine.GetProducerStatement(spb.GetProducerStatementRequest(producer_id=world["coop"]))
        assert len(got.members) == 3
        for who, producer in ((mine, world["grower"]), (other_office, world["coop"])):
            request = spb.GetProducerStatementRequest(producer_id=producer)
            rpc_fails(lambda w=who, r=request: w.GetProducerStatement(r), grpc.StatusCode.NOT_FOUND)
        request = spb.GetProducerStatementRequest(producer_id=world["grower"])
        masked = auditor.GetProducerStatement(request)
        assert masked.producer.display_name == "(masked)" and masked.sold_kg == 800
    events = apb_grpc.AccessServiceStub(channel).ListAuditEvents(
        apb.ListAuditEventsRequest(page_size=1000)
    )
    audited = [
        set(e.household_ids)
        for e in events.events
        if e.rpc.endswith("/GetProducerStatement") and e.key_id == key_id
    ]
    assert audited == [set(world["members"])]


def test_a_buyers_dues_per_shipment_add_up_across_pages(stub, server, world):
    """Owed and paid per shipment, two pages of them, and totals equal to the rows' sums."""
    buyer = world["buyers"][0]
    first = stub.GetBuyerStatement(spb.GetBuyerStatementRequest(buyer_id=buyer, page_size=2))
    second = stub.GetBuyerStatement(
        spb.GetBuyerStatementRequest(buyer_id=buyer, page_size=2, page_token=first.next_page_token)
    )
    dues = [*first.shipment_dues, *second.shipment_dues]
    assert not second.next_page_token
    listed = rows(server, "SELECT * FROM shipment WHERE buyer_id = :b", b=buyer)
    ships = {s["id"]: s for s in listed}
    assert [d.shipment_id for d in dues] == sorted(ships)
    for d in dues:
        s = ships[d.shipment_id]
        assert d.owed_fen == s["received_kg"] * s["paid_price_fen"]
        assert (d.paid_fen, d.outstanding_fen) == (s["paid_fen"], d.owed_fen - s["paid_fen"])
    live = [s for s in ships.values() if s["state"] != 4]
    assert first.shipments == len(live) == 3
    assert first.kg == sum(s["kg"] for s in live)
    assert first.owed_fen == sum(d.owed_fen for d in dues) == 950 * 290 + 680 * 300
    assert first.paid_fen == 300_000 and first.outstanding_fen == first.owed_fen - 300_000


def test_a_platform_reads_its_own_buyers_dues_only(server, world):
    """Its buyer: the dues; the other buyer: NOT_FOUND, as an unknown id."""
    mine, c1, _ = stub_for(server, Role.PLATFORM, world["buyers"][1])
    with c1:
        got = mine.GetBuyerStatement(spb.GetBuyerStatementRequest(buyer_id=world["buyers"][1]))
        assert [d.paid_fen for d in got.shipment_dues] == [168_000]
        for buyer in (world["buyers"][0], "byr-nobody"):
            request = spb.GetBuyerStatementRequest(buyer_id=buyer)
            rpc_fails(lambda r=request: mine.GetBuyerStatement(r), grpc.StatusCode.NOT_FOUND)


def test_village_income_is_the_sum_of_its_households_records(stub, server, world):
    """Sales, dividends and aid of the village's households in 2020 from household_income;
    status changes counted from their history; another county's office sees no village."""
    got = stub.ListVillageIncome(spb.ListVillageIncomeRequest(year=2020))
    (village,) = [v for v in got.villages if v.village_id == world["village"].id]
    records = rows(
        server,
        "SELECT i.* FROM household_income i JOIN household h ON h.id = i.household_id "
        "WHERE h.village_id = :v AND i.year = 2020",
        v=world["village"].id,
    )
    assert village.households == len(records) == 4
    assert village.produce_fen == sum(r["produce_fen"] for r in records) == 100_000
    assert village.dividends_fen == sum(r["dividends_fen"] for r in records) == 300_001
    assert village.total_fen == village.produce_fen + village.dividends_fen + village.aid_fen
    changes = rows(
        server,
        "SELECT DISTINCT c.household_id FROM status_change c JOIN household h "
        "ON h.id = c.household_id WHERE h.village_id = :v AND c.reason LIKE 'income 2020: %'",
        v=world["village"].id,
    )
    assert village.changed_status == len(changes)
    assert not [v for v in got.villages if v.year != 2020]
    none = stub.ListVillageIncome(spb.ListVillageIncomeRequest(year=2019))
    assert all(v.total_fen == 0 for v in none.villages)
    other, c1, _ = stub_for(server, Role.OFFICE, "110101")
    with c1:
        assert not other.ListVillageIncome(spb.ListVillageIncomeRequest(year=2020)).villages


@pytest.mark.parametrize(
    ("request_fields", "fields"),
    [
        ({}, ["year"]),
        ({"year": 1999}, ["year"]),
        ({"year": 2020, "region_code": "35x"}, ["region_code"]),
        ({"year": 2020, "page_size": -1}, ["page_size"]),
        ({"year": 2020, "page_token": "forged"}, ["page_token"]),
    ],
)
def test_village_income_names_the_bad_field(stub, request_fields, fields):
    request = spb.ListVillageIncomeRequest(**request_fields)
    error = rpc_fails(lambda: stub.ListVillageIncome(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields_of(error) == fields


def test_statement_ids_are_checked(stub):
    """A bad or missing id is INVALID_ARGUMENT naming it; an unknown one NOT_FOUND."""
    for call, request, name in (
        (stub.GetProducerStatement, spb.GetProducerStatementRequest(), "producer_id"),
        (stub.GetBuyerStatement, spb.GetBuyerStatementRequest(buyer_id="no!"), "buyer_id"),
    ):
        error = rpc_fails(lambda c=call, r=request: c(r), grpc.StatusCode.INVALID_ARGUMENT)
        assert fields_of(error) == [name]
    request = spb.GetProducerStatementRequest(producer_id="prd-nobody")
    rpc_fails(lambda: stub.GetProducerStatement(request), grpc.StatusCode.NOT_FOUND)


def test_a_households_dividends_in_the_ledger_are_audited(server, world, channel):
    """An office reading a member's ledger trail (its DIVIDEND entry) is audited with it."""
    from fupin.registry.v1 import ledger_service_pb2 as lpb
    from fupin.registry.v1 import ledger_service_pb2_grpc as lpb_grpc

    member = world["members"][0]
    key = server.keys.create(Role.OFFICE, factories.ZHAOAN)
    with open_channel(f"127.0.0.1:{server.port}", api_key=key.secret) as office:
        trail = lpb_grpc.LedgerServiceStub(office).ListLedgerEntries(
            lpb.ListLedgerEntriesRequest(household_id=member)
        )
    assert [e.kind for e in trail.entries] == [lpb.DIVIDEND]
    events = apb_grpc.AccessServiceStub(channel).ListAuditEvents(
        apb.ListAuditEventsRequest(page_size=1000)
    )
    audited = [list(e.household_ids) for e in events.events if e.key_id == key.row.id]
    assert audited == [[member]]
