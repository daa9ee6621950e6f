"""Each role does its own job through the CLI, with its own key, against a real server."""

from __future__ import annotations

import json
import os
import time

import pytest

from clients import csvio
from clients.client import (
    BUYERS,
    CADRES,
    HOUSEHOLDS,
    LISTINGS,
    ORDERS,
    PRODUCERS,
    VILLAGES,
    RegistryClient,
)
from tests import factories

PUNING_VILLAGE = "445281001001"


@pytest.fixture
def admin(server):
    """The registry through the admin key, for the data a role finds already there."""
    with RegistryClient(f"127.0.0.1:{server.port}", timeout_s=10) as client:
        yield client


@pytest.fixture
def as_key(fupin, monkeypatch):
    """Run the CLI with a given key: as_key(KEY, *argv) -> (exit code, stdout, stderr)."""

    def run(key: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("FUPIN_API_KEY", key)
        try:
            return fupin(*argv)
        finally:
            monkeypatch.setenv("FUPIN_API_KEY", admin_key)

    admin_key = os.environ["FUPIN_API_KEY"]
    return run


def cadre_ids(admin) -> list[str]:
    return [c.id for c in admin.list(CADRES)]


def new_key(fupin, role: str, scope: str) -> str:
    code, out, err = fupin("keys", "create", "--role", role, "--scope", scope)
    assert code == 0, err
    return out.strip()


def onboard_cooperative(as_key, admin, office: str) -> tuple[dict, object, object]:
    """The office onboards a cooperative of one member in a new village of its county:
    ({"id", "key_id", "secret"}, the village, the member household)."""
    village = admin.create(VILLAGES, factories.village())
    member = admin.create(HOUSEHOLDS, factories.household(village.id))
    code, out, err = as_key(
        office, "onboard", "cooperative", "display_name=霞葛青梅合作社", f"village_id={village.id}",
        "location.latitude=23.72", "location.longitude=117.17", "--member", f"{member.id}:1000",
        "--output", "json",
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out), village, member


def test_office_manages_the_cadres_of_its_region(fupin, as_key, admin, tmp_path):
    """An office creates, imports, updates and deletes its region's cadres; one from elsewhere
    is refused and nothing is stored; a refusal names the role and what it may do."""
    office = new_key(fupin, "office", factories.ZHAOAN)
    code, out, err = as_key(
        office, "create", "cadres", "display_name=张伟", "rank=SECTION_CHIEF",
        "skills=agronomy,ecommerce", "home_unit=诏安县农业农村局", "location.latitude=23.71",
        "location.longitude=117.18", "max_distance_km=80", "available=true",
        "home_region_code=350624", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    cadre = out.strip()
    rows = [factories.cadre(home_region_code="350624"), factories.cadre(home_region_code="350624")]
    path = tmp_path / "cadres.csv"
    with path.open("w", newline="") as out_file:
        csvio.write("cadres", rows, out_file)
    code, _, err = as_key(office, "import", "cadres", str(path))
    assert code == 0, err
    assert as_key(office, "update", "cadres", cadre, "rank=DIVISION_CHIEF")[0] == 0
    assert admin.get(CADRES, cadre).rank == factories.pb.DIVISION_CHIEF
    assert as_key(office, "delete", "cadres", cadre)[0] == 0
    rows.append(factories.cadre(home_region_code=factories.PUNING))
    with path.open("w", newline="") as out_file:
        csvio.write("cadres", rows, out_file)
    code, _, err = as_key(office, "import", "cadres", str(path))
    assert code == 1 and "PERMISSION_DENIED" in err and "'445281'" in err
    assert len(list(admin.list(CADRES))) == 2
    code, _, err = as_key(office, "create", "orders", "buyer_id=buy-x", "product=green_plum")
    assert code == 1
    assert "role office may not call CreateOrder: an office manages the villages" in err
    code, _, err = as_key(office, "--lang", "zh-CN", "create", "orders", "buyer_id=buy-x")
    assert code == 1  # the server's refusal, in Chinese: the role and what it may do instead
    assert "角色“扶贫办”不能调用 CreateOrder：扶贫办管理本地区的村、农户" in err
    code, out, _ = as_key(office, "--lang", "zh-CN", "list", "cadres")
    assert code == 0 and out.startswith("编号")
    posted = admin.create(VILLAGES, factories.village(display_name="岭下村"))
    admin.update(CADRES, factories.pb.Cadre(id=cadre_ids(admin)[0], current_village_id=posted.id),
                 ["current_village_id"])  # fmt: skip
    code, out, _ = as_key(office, "list", "cadres")
    assert "VILLAGE NAME" in out.splitlines()[0] and "岭下村" in out  # the name beside the id


def test_office_onboards_a_cooperative_of_its_region_only(fupin, as_key, admin):
    """One command makes the cooperative and its key; the key then works for its listings.
    A platform, or a producer of another region, is refused."""
    office = new_key(fupin, "office", factories.ZHAOAN)
    made, _village, _member = onboard_cooperative(as_key, admin, office)
    assert admin.get(PRODUCERS, made["id"]).kind == factories.pb.PRODUCER_COOPERATIVE
    listing = ("product=green_plum", "grade=A", "quantity_kg=3000", "floor_price_fen=150")
    dates = ("available_from=2020-05-01", "available_until=2020-05-31", "shelf_life_days=10")
    code, _, err = as_key(
        made["secret"], "create", "listings", f"producer_id={made['id']}", *listing, *dates
    )
    assert code == 0, err
    code, _, err = as_key(office, "onboard", "platform", "display_name=X", "county_code=445281")
    assert code == 1 and "role office may not call CreateBuyer" in err
    far = admin.create(VILLAGES, factories.village(admin_code=PUNING_VILLAGE))
    grower = admin.create(HOUSEHOLDS, factories.household(far.id))
    elsewhere = admin.create(PRODUCERS, factories.producer_for(grower.id, village_id=far.id))
    code, _, err = as_key(
        office, "keys", "create", "--role", "cooperative", "--scope", elsewhere.id
    )
    assert code == 1 and "lies outside this office's region 350624" in err


def test_platform_matches_its_own_orders_and_commits_its_own_runs(fupin, as_key, admin):
    """An admin onboards the platform; it creates its order, matches produce on its own orders
    only, commits its run; another caller's run it may read but not commit."""
    code, out, err = fupin(
        "onboard", "platform", "display_name=揭西青梅网店", "county_code=445222",
        "location.latitude=23.43", "location.longitude=115.84", "--output", "json",
    )  # fmt: skip
    assert code == 0, err
    platform = json.loads(out)
    village = admin.create(VILLAGES, factories.village())
    grower = admin.create(HOUSEHOLDS, factories.household(village.id))
    producer = admin.create(PRODUCERS, factories.producer_for(grower.id, village_id=village.id))
    listing = admin.create(LISTINGS, factories.listing(producer.id, quantity_kg=5000))
    rival = admin.create(BUYERS, factories.buyer(display_name="Rival plant"))
    rival_order = admin.create(ORDERS, factories.order(rival.id, price_fen=400))
    code, out, err = as_key(
        platform["secret"], "create", "orders", f"buyer_id={platform['id']}",
        "product=green_plum", "accepted_grades=A,B", "max_quantity_kg=2000", "price_fen=260",
        "deliver_by=2020-06-10", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    own_order = out.strip()
    for _ in range(40):  # quick sourcing reads a copy of open supply refreshed every second
        code, out, err = as_key(
            platform["secret"], "quick-source", own_order, "--today", "2020-05-20", "-o", "json"
        )
        if listing.id in out:  # (the copy may still hold the listings of an earlier test)
            break
        time.sleep(0.25)
    assert code == 0, err
    candidates = {row["listing_id"]: row for row in map(json.loads, out.splitlines())}
    assert candidates[listing.id]["suggested_kg"] == 2000
    code, out, _ = as_key(
        platform["secret"], "--lang", "zh-CN", "quick-source", own_order, "--today", "2020-05-20"
    )
    assert code == 0 and out.startswith("挂牌") and listing.id in out
    code, out, err = as_key(
        platform["secret"], "match", "produce", "--product", "green_plum",
        "--today", "2020-05-20", "--commit", "--time-limit", "5",
    )  # fmt: skip
    assert code == 0, err
    assert "COMMITTED" in out
    line = next(line for line in out.splitlines() if line.startswith(listing.id))
    assert f"{platform['id']} 揭西青梅网店" in line  # its buyer's name beside the id
    assert "2,000" in line and "2.60" in line  # kg, and yuan per kg
    assert admin.get(ORDERS, own_order).filled_kg == 2000  # the rival's better price unseen
    assert admin.get(ORDERS, rival_order.id).filled_kg == 0
    code, out, err = fupin(
        "match", "produce", "--product", "green_plum", "--today", "2020-05-20",
        "--time-limit", "5",
    )  # fmt: skip
    assert code == 0, err
    admins_run = out.split()[1].rstrip(":")
    # An admin's run shows every buyer's orders and prices: to a platform it is unknown.
    code, _, err = as_key(platform["secret"], "runs", "commit", admins_run)
    assert code == 1 and f"run '{admins_run}' not found" in err, err
    code, _, unknown = as_key(platform["secret"], "runs", "commit", "run-" + "z" * 36)
    assert code == 1 and err.replace(admins_run, "<id>") == unknown.replace(
        "run-" + "z" * 36, "<id>"
    )
    code, out, _ = as_key(platform["secret"], "--lang", "zh-CN", "list", "orders")
    assert code == 0 and out.startswith("编号") and own_order in out and rival_order.id not in out
    code, _, err = as_key(platform["secret"], "list", "households")
    assert code == 1 and "role platform may not call ListHouseholds: a platform manages" in err


def test_cooperative_keeps_its_listings_and_reads_their_outcomes(fupin, as_key, admin):
    """An office onboards the cooperative; it lists and updates its produce, and after a run
    reads what became of each listing: the buyer by name, price and pickup days, or the reason
    and the floor; nothing of another producer's listings."""
    office = new_key(fupin, "office", factories.ZHAOAN)
    coop, village, member = onboard_cooperative(as_key, admin, office)
    dates = ("available_from=2020-05-10", "available_until=2020-05-31", "shelf_life_days=10")

    def listing(grade: str, floor: int) -> str:
        code, out, err = as_key(
            coop["secret"], "create", "listings", f"producer_id={coop['id']}",
            "product=green_plum", f"grade={grade}", "quantity_kg=1000",
            f"floor_price_fen={floor}", *dates, "-q",
        )  # fmt: skip
        assert code == 0, err
        return out.strip()

    sold, ungraded, dear = listing("A", 150), listing("C", 150), listing("B", 900)
    assert as_key(coop["secret"], "update", "listings", sold, "quantity_kg=1500")[0] == 0
    other = admin.create(PRODUCERS, factories.producer_for(member.id, village_id=village.id))
    others = admin.create(LISTINGS, factories.listing(other.id, quantity_kg=500))
    code, _, err = as_key(coop["secret"], "update", "listings", others.id, "quantity_kg=1")
    assert code == 1 and "NOT_FOUND" in err
    buyer = admin.create(BUYERS, factories.buyer(display_name="普宁青梅厂"))
    admin.create(ORDERS, factories.order(buyer.id, max_quantity_kg=5000, price_fen=260))
    code, out, err = fupin("match", "produce", "--product", "green_plum", "--today", "2020-05-20",
                           "--commit", "--time-limit", "5")  # fmt: skip
    assert code == 0, err
    run = out.split()[1].rstrip(":")
    code, out, err = as_key(coop["secret"], "outcomes", "-o", "json")
    assert code == 0, err
    rows = {row["listing_id"]: row for row in map(json.loads, out.splitlines())}
    assert set(rows) == {sold, ungraded, dear}  # the other producer's listing is not shown
    assert rows[sold]["buyer"] == "普宁青梅厂" and rows[sold]["kg"] == 1500
    assert rows[sold]["price_fen"] == 260 and rows[sold]["pickup"].startswith("2020-05-20 – ")
    assert rows[ungraded]["reason"] == "NO_COMPATIBLE_ORDER"
    assert rows[ungraded]["would_sell_at_floor_fen"] is None  # no floor would sell it: "—"
    assert rows[dear]["reason"] == "FLOOR_ABOVE_NET_PRICE"
    assert 0 < rows[dear]["would_sell_at_floor_fen"] < 260  # the price net of transport
    code, out, err = as_key(coop["secret"], "--lang", "zh-CN", "outcomes")
    assert code == 0, err
    assert "普宁青梅厂" in out and "—" in out and out.startswith("挂牌")
    code, _, err = as_key(coop["secret"], "list", "households")
    assert code == 1 and "role cooperative may not call ListHouseholds: a cooperative" in err
    code, _, err = as_key(coop["secret"], "--lang", "zh-CN", "list", "households")
    assert code == 1 and "角色“合作社”不能调用 ListHouseholds：合作社创建、修改和删除" in err
    code, out, err = as_key(coop["secret"], "runs", "get", run)
    assert code == 0 and "普宁青梅厂" in out  # its part of the run, buyer named
    # The office sees the run that sold its producers' produce; another county's does not.
    assert run in as_key(office, "runs", "list")[1]
    code, _, err = as_key(office, "runs", "discard", run)
    assert code == 1 and "role office reads the produce runs that sell its producers'" in err
    puning = new_key(fupin, "office", factories.PUNING)
    assert run not in as_key(puning, "runs", "list")[1]
    assert as_key(puning, "runs", "get", run)[0] == 1
