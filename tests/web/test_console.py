"""The console in a real browser against a real server: sign-in and out, each role's main
path, a field error beside its field, a run watched live and committed, phone and desktop
widths, a CSRF-less post and a locked account refused. Screenshots go to docs/img/web/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clients.auth import open_channel
from tests.web.conftest import PASSWORD, session_token, sign_in

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img" / "web"
pytestmark = pytest.mark.xdist_group(name="web")


def no_horizontal_scroll(page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def run_of(site, run_id: str):
    """The run as the matcher returns it to the office that made it: what the page must show
    (a run's id is its caller's: the office's own session asks)."""
    from fupin.matcher.v1 import matcher_service_pb2 as mpb
    from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc

    token = session_token(site, "office")
    with open_channel(f"127.0.0.1:{site.grpc_port}", api_key=token) as channel:
        stub = mpb_grpc.MatcherServiceStub(channel)
        return stub.GetMatchRun(mpb.GetMatchRunRequest(id=run_id), timeout=30)


def percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def rank_rows(page, result) -> None:
    """The fairness table: one row per rank, figures equal to the result's rank_loads."""
    rows = page.locator("#rank-loads tbody tr")
    assert rows.count() == len(result.rank_loads) > 0
    for i, load in enumerate(result.rank_loads):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert rows.nth(i).get_attribute("data-rank") == str(load.rank)
        assert cells[1:] == [
            str(load.cadres),
            str(load.loaded),
            f"{load.load:,}",
            f"{load.capacity:,}",
            percent(load.load_share),
            percent(load.capacity_share),
        ]


def test_sign_in_and_out(new_page, site):
    """A wrong password is refused on the page; the right one lands on the role's home;
    signing out ends the session (its pages redirect to sign-in)."""
    page = new_page()
    sign_in(page, site, "office", "not-the-password")
    assert page.locator("#sign-in-error").inner_text() == "Wrong username or password."
    sign_in(page, site, "office")
    page.wait_for_url("**/office/households")
    assert page.locator("h1").inner_text() == "Households"
    page.click("#sign-out")
    page.wait_for_url("**/sign-in")
    assert "You have signed out." in page.inner_text("main")
    page.goto(f"{site.url}/office/households")
    assert page.url.endswith("/sign-in")


def test_office_runs_aid_watches_it_live_and_commits(new_page, site):
    """Households filtered and paged, a file card, then an aid run: progress streamed, result
    reviewed, committed, and found in the ledger."""
    page = new_page(locale="zh-CN")
    sign_in(page, site, "office")
    page.wait_for_url("**/office/households")
    assert page.locator("h1").inner_text() == "贫困户"
    rows = page.locator("#rows tbody tr")
    assert rows.count() == 20
    page.click("#next-page")
    page.wait_for_url("**page=*")
    page.fill("input[name=filter]", "status = IMPOVERISHED")
    page.click("form.card button[type=submit]")
    page.wait_for_url("**filter=status*")
    statuses = page.locator("#rows tbody tr td:nth-child(5)").all_inner_texts()
    assert statuses and set(statuses) == {"贫困"}
    shot(page, "households-zh")
    page.locator("#rows tbody tr a").first.click()
    page.wait_for_selector("#score")
    sets = page.locator("#set-scores .row")  # the bundled scoring's four indicator sets
    assert sets.count() == 4
    assert "三保障" in page.inner_text("#set-scores") and "住房安全" in page.inner_text("main")
    shot(page, "file-card-zh")
    page.goto(f"{site.url}/office/runs")
    page.click("#start-aid button[type=submit]")
    page.wait_for_url("**/runs/web-*")
    page.wait_for_selector("#run-summary", timeout=60_000)  # reloaded by the 'done' event
    assert page.locator("#run-state").inner_text() == "待审核"
    assert page.locator("#grants tbody tr").count() > 0
    assert page.locator("svg.map circle").count() > 0
    aid = run_of(site, page.url.rsplit("/", 1)[1]).aid
    assert aid.eligible_households > 0 and 0 < aid.impoverished_share <= 1
    assert page.inner_text("[data-field=grant_gini]") == f"{aid.grant_gini:.3f}"
    assert page.inner_text("[data-field=impoverished_share]") == percent(aid.impoverished_share)
    assert page.inner_text("[data-field=eligible_households]") == str(aid.eligible_households)
    shot(page, "aid-run-zh")
    page.click("#commit button")
    page.wait_for_selector(".flash")
    assert page.locator("#run-state").inner_text() == "已提交"
    page.goto(f"{site.url}/ledger")
    assert page.locator("#ledger tbody tr").count() > 0
    assert "帮扶拨款" in page.inner_text("#ledger")


def test_live_progress_reaches_the_page(new_page, site):
    """The event stream of a stationing run delivers events the page counts, to its proposal."""
    page = new_page()
    sign_in(page, site, "office")
    page.goto(f"{site.url}/office/runs")
    page.click("#start-stationing button[type=submit]")
    page.wait_for_url("**/runs/web-*")
    page.wait_for_selector("#run-summary", timeout=60_000)
    assert page.locator("#run-state").inner_text() == "proposed"
    stationing = run_of(site, page.url.rsplit("/", 1)[1]).stationing
    rank_rows(page, stationing)
    for name in ("village_coverage", "need_coverage"):
        assert page.inner_text(f"[data-field={name}]") == percent(getattr(stationing, name))
    page.locator("#fairness").scroll_into_view_if_needed()
    shot(page, "stationing-run-en")


def test_office_contracts_households_and_commits(new_page, site):
    """A contracting run started from the page in Chinese, watched to its proposal: the
    contracts name the household and the cadre (not ids); committed, each contract becomes a
    ledger entry (every contracted household, independently counted from the table)."""
    page = new_page(locale="zh-CN")
    sign_in(page, site, "office")
    page.goto(f"{site.url}/office/runs")
    page.click("#start-contracting button[type=submit]")
    page.wait_for_url("**/runs/web-*")
    page.wait_for_selector("#run-summary", timeout=90_000)
    assert page.locator("#run-state").inner_text() == "待审核"
    rows = page.locator("#contracts tbody tr")
    households = {row.split("\t")[0] for row in rows.all_inner_texts()}
    assert rows.count() > 0 and len(households) == rows.count()  # one cadre per household
    first = rows.first.locator("td")
    assert not first.nth(0).inner_text().startswith("hh-")
    assert not first.nth(1).inner_text().startswith("cad-")
    contracting = run_of(site, page.url.rsplit("/", 1)[1]).contracting
    rank_rows(page, contracting)
    assert page.inner_text("[data-field=coverage]") == percent(contracting.coverage)
    assert "科员" in page.inner_text("#rank-loads") or "正科" in page.inner_text("#rank-loads")
    page.locator("#fairness").scroll_into_view_if_needed()
    shot(page, "contracting-run-zh")
    page.click("#commit button")
    page.wait_for_selector(".flash")
    assert page.locator("#run-state").inner_text() == "已提交"
    run_id = page.url.rsplit("/", 1)[1]
    page.goto(f"{site.url}/ledger?run={run_id}")
    kinds = page.locator("#ledger tbody tr td:nth-child(3)").all_inner_texts()
    assert kinds == ["结对帮扶"] * len(households)
    subjects = page.locator("#ledger tbody tr td:nth-child(4)").all_inner_texts()
    assert all(subject.startswith("hh-") for subject in subjects)


def test_cooperative_adds_a_listing_with_a_field_error_beside_its_field(new_page, site):
    """The server's violation of available_until shows next to that field; fixed, it saves."""
    page = new_page()
    sign_in(page, site, "cooperative")
    page.wait_for_url("**/coop/listings")
    before = page.locator("#listings tbody tr").count()
    page.click("#add-listing")
    page.fill("#f-quantity_kg", "1200")
    page.fill("#f-floor_price", "1.80")
    page.fill("#f-available_from", "2020-06-10")
    page.fill("#f-available_until", "2020-05-20")
    page.click("#listing-form button[type=submit]")
    error = page.locator("label[for=f-available_until] .field-error")
    assert error.count() == 1 and error.inner_text()
    assert page.get_attribute("#f-available_until", "aria-invalid") == "true"
    shot(page, "listing-error-en")
    zh = new_page(locale="zh-CN")  # the server's own text, in the page's language
    sign_in(zh, site, "cooperative")
    zh.wait_for_url("**/coop/listings")
    zh.goto(f"{site.url}/coop/listings/new")
    for field, value in (("quantity_kg", "1200"), ("available_from", "2020-06-10")):
        zh.fill(f"#f-{field}", value)
    zh.fill("#f-available_until", "2020-05-20")
    zh.click("#listing-form button[type=submit]")
    said = zh.locator("label[for=f-available_until] .field-error").inner_text()
    assert re.search(r"[\u4e00-\u9fff]", said) and "must" not in said, said
    shot(zh, "listing-error-zh")
    page.fill("#f-available_until", "2020-06-30")
    page.click("#listing-form button[type=submit]")
    page.wait_for_url("**/coop/listings")
    assert page.locator("#listings tbody tr").count() == before + 1
    shot(page, "listings-en")


def test_platform_quick_sources_an_order(new_page, site):
    """Orders listed; quick sourcing lists candidates and draws the lanes."""
    page = new_page(locale="zh-CN")
    sign_in(page, site, "platform")
    page.wait_for_url("**/platform/orders")
    page.locator("#orders a").first.click()
    page.fill("input[name=today]", "2020-05-20")
    page.click("form.card button[type=submit]")
    page.wait_for_url("**today=2020-05-20")
    assert page.locator("#candidates tbody tr td.num").count() > 0
    assert page.locator("svg.map line").count() > 0
    shot(page, "quick-source-zh")


def test_platform_what_if_match_draws_its_flows_and_discards(new_page, site):
    """A what-if match on the platform's own orders: watched to its proposal, the flows drawn
    (one line per producer → buyer pair, as the table's allocations sum them), every
    allocation to the platform's own buyer, then discarded: nothing reserved."""
    page = new_page()
    sign_in(page, site, "platform")
    page.wait_for_url("**/platform/orders")
    page.fill("#what-if input[name=today]", "2020-05-20")
    page.click("#what-if button[type=submit]")
    page.wait_for_url("**/runs/web-*")
    page.wait_for_selector("#run-summary", timeout=90_000)
    assert page.locator("#run-state").inner_text() == "proposed"
    rows = page.locator("#allocations tbody tr")
    cells = [row.split("\t") for row in rows.all_inner_texts()]
    ends = [
        (rows.nth(i).get_attribute("data-producer"), rows.nth(i).get_attribute("data-buyer"))
        for i in range(rows.count())
    ]
    assert cells and {buyer for _, buyer in ends} == {site.ids["buyer"]}
    assert len({row[1] for row in cells}) == 1  # its buyer's name, not its id
    assert page.locator("svg.map line").count() == len(set(ends))
    sold = sum(int(row[2].replace(",", "")) for row in cells)
    assert page.inner_text("#kpis").count(f"{sold:,}") >= 1
    shot(page, "what-if-en")
    page.click("form[action$='/discard'] button")
    page.wait_for_selector(".flash")
    assert page.locator("#run-state").inner_text() == "discarded"


def test_cooperative_reads_what_became_of_its_listings(new_page, site):
    """A produce run proposed by an admin, with two listings of the cooperative no order can
    take (a floor above every price; a grade nobody buys): the cooperative's outcomes page in
    Chinese lists exactly its own listings' allocations (buyer by name) and unsold listings
    with the true reason in Chinese and the floor at which each would sell ("—" for none),
    as counted from the run itself."""
    from fupin.matcher.v1 import matcher_service_pb2 as mpb
    from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
    from fupin.registry.v1 import registry_service_pb2 as api
    from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
    from tests import factories
    from web.i18n import translator

    coop = site.ids["coop"]
    with open_channel(f"127.0.0.1:{site.grpc_port}", api_key=site.admin_key) as channel:
        registry = api_grpc.RegistryServiceStub(channel)
        matcher = mpb_grpc.MatcherServiceStub(channel)
        extra = [
            registry.CreateListing(api.CreateListingRequest(listing=listing))
            for listing in (
                factories.listing(coop, quantity_kg=500, floor_price_fen=99_999),
                factories.listing(coop, quantity_kg=300, grade="Z"),
            )
        ]
        run = matcher.MatchProduce(
            mpb.MatchProduceRequest(
                selection=mpb.RegistrySelection(product="green_plum", today="2020-05-20"),
                parameters=mpb.SolveParameters(time_limit_s=10),
            ),
            timeout=120,
        )
        try:
            assert run.state == mpb.PROPOSED
            sold = [a for a in run.produce.allocations if a.producer_id == coop]
            unsold = [u for u in run.produce.unsold if u.producer_id == coop]
            reasons = {u.listing_id: u.reason for u in unsold}
            assert reasons[extra[0].id] == mpb.FLOOR_ABOVE_NET_PRICE
            assert reasons[extra[1].id] == mpb.NO_COMPATIBLE_ORDER
            page = new_page(locale="zh-CN")
            sign_in(page, site, "cooperative")
            page.goto(f"{site.url}/coop/outcomes?run={run.id}")
            assert page.locator("h1").inner_text() == "销售结果"
            sold_rows = page.locator("#sold tbody tr:not(:has(.muted))")
            unsold_rows = page.locator("#unsold tbody tr:not(:has(.muted))")
            assert sold_rows.count() == len(sold) and unsold_rows.count() == len(unsold)
            kg = sold_rows.locator("td:nth-child(3)").all_inner_texts()
            assert sum(int(cell.replace(",", "")) for cell in kg) == sum(a.kg for a in sold)
            buyers = sold_rows.locator("td:nth-child(4)").all_inner_texts()
            assert all(not name.startswith("buy-") for name in buyers)
            zh = translator("zh-CN")
            shown = unsold_rows.locator("td:nth-child(4)").all_inner_texts()
            assert shown == [zh(mpb.UnsoldReason.Name(u.reason)) for u in unsold]
            floors = unsold_rows.locator("td:nth-child(5)").all_inner_texts()
            assert floors == [
                f"{u.would_sell_at_floor_fen / 100:,.2f}" if u.would_sell_at_floor_fen else "—"
                for u in unsold
            ]
            assert "—" in floors  # grade Z: no floor would sell it
            shot(page, "outcomes-zh")
        finally:
            matcher.DiscardMatchRun(mpb.DiscardMatchRunRequest(id=run.id), timeout=30)
            for listing in extra:
                registry.DeleteListing(api.DeleteListingRequest(id=listing.id, etag=listing.etag))


def test_auditor_verifies_the_ledger_and_reads_the_audit_log(new_page, site):
    """Verification says intact; the audit log shows sign-ins and their outcomes."""
    page = new_page()
    sign_in(page, site, "auditor")
    page.wait_for_url("**/auditor/ledger")
    page.click("#verify button")
    assert "intact" in page.locator("#verified").inner_text()
    page.goto(f"{site.url}/auditor/audit")
    assert "signed in" in page.inner_text("#audit")
    shot(page, "audit-en")


@pytest.mark.parametrize(("width", "height"), [(360, 740), (1280, 800)])
def test_pages_fit_phone_and_desktop(new_page, site, width, height):
    """No horizontal scrolling on the main pages of each role, in both languages."""
    for locale in ("en-GB", "zh-CN"):
        page = new_page(width, height, locale)
        sign_in(page, site, "office")
        page.wait_for_url("**/office/households")
        for path in ("/office/households", "/office/watchlist", "/office/runs", "/ledger"):
            page.goto(f"{site.url}{path}")
            assert no_horizontal_scroll(page), (path, width, locale)
        if width == 360:
            shot(page, f"runs-phone-{locale[:2]}")
        page.click("#sign-out")
        sign_in(page, site, "cooperative")
        page.wait_for_url("**/coop/listings")
        for path in ("/coop/listings", "/coop/listings/new", "/coop/statement"):
            page.goto(f"{site.url}{path}")
            assert no_horizontal_scroll(page), (path, width, locale)
        if width == 360:
            shot(page, f"listing-phone-{locale[:2]}")
        page.goto(f"{site.url}/sign-in")
        assert no_horizontal_scroll(page)


def test_a_post_without_the_csrf_token_is_refused(new_page, site):
    """A signed-in browser's POST without the form's token changes nothing (403)."""
    page = new_page()
    sign_in(page, site, "office")
    page.wait_for_url("**/office/households")
    response = page.request.post(f"{site.url}/office/runs/aid", form={"time_limit": "1"})
    assert response.status == 403 and "nothing was changed" in response.text()
    response = page.request.post(f"{site.url}/sign-out", form={"csrf": "forged"})
    assert response.status == 403
    page.goto(f"{site.url}/office/households")
    assert page.url.endswith("/office/households")  # still signed in


def test_a_locked_account_is_refused(new_page, site):
    """Five wrong passwords lock the account; then even the right password is refused."""
    page = new_page(locale="zh-CN")
    for _ in range(5):
        sign_in(page, site, "locked", "wrong-password!")
    sign_in(page, site, "locked", PASSWORD)
    assert "锁定" in page.locator("#sign-in-error").inner_text()
    assert page.url.endswith("/sign-in")
    shot(page, "locked-zh")


def test_office_reads_the_watchlist_by_risk_in_chinese(new_page, site):
    """The watchlist page lists the office's watched households as ListWatchlist ranks them,
    highest risk first, each risk's reasons in the page's language."""
    from clients.cli.year.reasons import reason_text
    from clients.i18n import catalog
    from fupin.registry.v1 import registry_service_pb2 as api
    from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc

    with open_channel(f"127.0.0.1:{site.grpc_port}", api_key=site.admin_key) as channel:
        request = api.ListWatchlistRequest(filter='county_code = "350624"', page_size=200)
        entries = api_grpc.RegistryServiceStub(channel).ListWatchlist(request).entries
    assert len(entries) > 1 and entries[0].risk > entries[-1].risk
    page = new_page(locale="zh-CN")
    sign_in(page, site, "office")
    page.wait_for_url("**/office/households")
    page.goto(f"{site.url}/office/watchlist")
    assert "风险原因" in page.inner_text("thead")
    risks = page.locator("tbody td:nth-child(2)").all_inner_texts()
    assert risks == [str(e.risk) for e in entries]
    why = page.locator("tbody td:nth-child(5)").first.inner_text()
    zh = catalog("zh-CN")
    assert why == "; ".join(reason_text(r, zh) for r in entries[0].risk_reasons)
    assert why and why != "; ".join(entries[0].risk_reasons)  # translated
    shot(page, "watchlist-zh")
