"""The cooperative's season statement in a real browser: a season driven through the services
(a produce run committed by the admin, one shipment received with a rejection and paid, a
dividend paid to the members), then the page's figures, tables and chart checked against
GetProducerStatement as the cooperative itself reads it and against the steps taken."""

from __future__ import annotations

import re

import pytest

from clients.auth import open_channel
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import season_service_pb2 as spb
from fupin.registry.v1 import season_service_pb2_grpc as spb_grpc
from tests.web.conftest import session_token, sign_in
from tests.web.test_console import no_horizontal_scroll, shot

pytestmark = pytest.mark.xdist_group(name="web")


def drive_season(site) -> dict[str, int]:
    """Commit a produce run; receive one of the cooperative's shipments with a rejection, pay
    for it, pay half of it on to the members. Returns what was done, in kg and fen."""
    coop = site.ids["coop"]
    with open_channel(f"127.0.0.1:{site.grpc_port}", api_key=site.admin_key) as channel:
        matcher = mpb_grpc.MatcherServiceStub(channel)
        season = spb_grpc.SeasonServiceStub(channel)
        run = matcher.MatchProduce(
            mpb.MatchProduceRequest(
                selection=mpb.RegistrySelection(product="green_plum", today="2020-05-20"),
                parameters=mpb.SolveParameters(time_limit_s=10),
            ),
            timeout=120,
        )
        assert run.state == mpb.PROPOSED
        sold = sum(a.kg for a in run.produce.allocations if a.producer_id == coop)
        assert sold > 0, "the cooperative sells nothing in the scenario's run"
        matcher.CommitMatchRun(
            mpb.CommitMatchRunRequest(id=run.id, etag=run.etag, request_id=f"c-{run.id}"),
            timeout=60,
        )
        shipments = season.ListShipments(
            spb.ListShipmentsRequest(run_id=run.id, page_size=1000)
        ).shipments
        mine = [s for s in shipments if s.producer_id == coop]
        assert sum(s.kg for s in mine) == sold
        first = mine[0]
        rejected = max(first.kg // 10, 1)
        season.DispatchShipment(spb.DispatchShipmentRequest(id=first.id))
        received = season.ReceiveShipment(
            spb.ReceiveShipmentRequest(
                id=first.id,
                received_kg=first.kg - rejected,
                rejected_kg=rejected,
                reject_reason=spb.REJECT_GRADE,
            )
        )
        paid = received.owed_fen // 2 + 1
        season.RecordPayment(
            spb.RecordPaymentRequest(shipment_id=first.id, amount_fen=paid, paid_on="2020-06-20")
        )
        dividends = paid // 2
        season.PayDividends(
            spb.PayDividendsRequest(producer_id=coop, amount_fen=dividends, paid_on="2020-07-01")
        )
    return {
        "sold_kg": sold,
        "received_kg": first.kg - rejected,
        "rejected_kg": rejected,
        "owed_fen": received.owed_fen,
        "paid_fen": paid,
        "dividends_fen": dividends,
        "buyers": len({s.buyer_id for s in mine}),
    }


def statement_as_cooperative(site) -> spb.ProducerStatement:
    """GetProducerStatement with the cooperative user's own session (masked as for it)."""
    target = f"127.0.0.1:{site.grpc_port}"
    token = session_token(site, "cooperative")
    with open_channel(target, api_key=token) as channel:
        return spb_grpc.SeasonServiceStub(channel).GetProducerStatement(
            spb.GetProducerStatementRequest(producer_id=site.ids["coop"])
        )


def number(text: str) -> float:
    return float(text.replace(",", "").replace("¥", "").replace("%", "").strip())


def test_cooperative_reads_its_season_statement(new_page, site):
    done = drive_season(site)
    want = statement_as_cooperative(site)
    for name in ("sold_kg", "received_kg", "rejected_kg", "owed_fen", "paid_fen"):
        assert getattr(want, name) == done[name], name  # the only season on the site
    assert want.dividends_fen == done["dividends_fen"]
    assert want.outstanding_fen == done["owed_fen"] - done["paid_fen"]

    page = new_page()
    sign_in(page, site, "cooperative")
    page.wait_for_url("**/coop/listings")
    page.click("a[href='/coop/statement']")
    page.wait_for_url("**/coop/statement")
    assert page.locator("h1").inner_text() == "Season statement"
    for field in want.DESCRIPTOR.fields:
        if field.name.endswith(("_kg", "_fen")):
            shown = number(page.inner_text(f"[data-field={field.name}]"))
            scale = 100 if field.name.endswith("_fen") else 1
            assert shown * scale == pytest.approx(getattr(want, field.name)), field.name
    rows = page.locator("#buyers tbody tr")
    assert rows.count() == len(want.buyers) == done["buyers"]
    for i, buyer in enumerate(want.buyers):  # in the statement's order, by name
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert cells[0] == buyer.buyer_name and not cells[0].startswith("buy-")
        assert number(cells[2]) == buyer.sold_kg
        assert number(cells[3]) == pytest.approx(buyer.sold_fen / buyer.sold_kg / 100, abs=0.005)
        assert [number(c) for c in cells[4:6]] == [buyer.received_kg, buyer.rejected_kg]
        assert number(cells[7]) * 100 == pytest.approx(buyer.paid_fen)
    reasons = page.locator("#rejections tbody tr").all_inner_texts()
    assert reasons == [f"below the grade ordered\t{done['rejected_kg']:,}"]
    members = page.locator("#members tbody tr")
    assert members.count() == len(want.members) > 0
    ids = members.locator("td:nth-child(1)").all_inner_texts()
    assert ids == [m.household_id for m in want.members]
    paid_out = members.locator("td:nth-child(3)").all_inner_texts()
    assert sum(round(number(c) * 100) for c in paid_out) == done["dividends_fen"]
    for key in ("listed_kg", "sold_kg", "received_kg", "rejected_kg", "paid_fen"):
        bar = page.locator(f"svg.chart g[data-key={key}]")
        assert number(bar.get_attribute("data-value")) == getattr(want, key)
    widths = {
        key: float(page.locator(f"svg.chart g[data-key={key}] rect").get_attribute("width"))
        for key in ("listed_kg", "sold_kg", "rejected_kg")
    }
    assert widths["listed_kg"] >= widths["sold_kg"] > widths["rejected_kg"] > 0
    page.locator("svg.chart").first.scroll_into_view_if_needed()
    shot(page, "statement-en")

    phone = new_page(360, 740, "zh-CN")
    sign_in(phone, site, "cooperative")
    phone.wait_for_url("**/coop/listings")
    phone.goto(f"{site.url}/coop/statement?year=2020")
    assert phone.locator("h1").inner_text() == "产季对账单"
    assert phone.locator("#rejections tbody tr td").first.inner_text() == "等级不符"
    assert no_horizontal_scroll(phone)
    shot(phone, "statement-phone-zh")
    phone.goto(f"{site.url}/coop/statement?year=1999")  # refused by the server, in Chinese
    refused = phone.inner_text("main")
    said = refused.split("服务器拒绝了请求", 1)[1]
    assert re.search(r"[\u4e00-\u9fff]", said) and "must be" not in said, said
