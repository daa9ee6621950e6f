"""`fupin demo`: the main job on the embedded default (SQLite file, one process).

Starts a server in this process on a free loopback port (or uses running servers: `--target
HOST:PORT` for both services, `--matcher-target` when the matcher runs apart), loads the
bundled Zhao'an → Jieyang scenario through the registry API, runs produce matching through the
matcher API with a progress display, commits it, prints a summary, and draws the flows and the
income of poor households against a first-come-first-served baseline.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clients import auth, demo_charts, demo_season, scenario
from clients.cli.cells import pad
from clients.client import channel_options
from clients.demo_charts import Loaded
from clients.i18n import _, enum_name
from clients.matcher_client import MatcherClient
from clients.season_client import SeasonClient
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from server.settings import Settings

TODAY = "2020-05-20"  # the glut: Zhao'an's plums are ripe and unsold


def run(settings: Settings, out_dir: Path) -> int:
    """The demo on a server of its own, started in this process."""
    from registry.access.policy import Role
    from server.server import create_server

    running = create_server(settings, address="127.0.0.1:0")
    running.server.start()
    keys = running.keys
    assert keys is not None  # settings.only is "all": the registry runs here
    # The demo is its own admin: a key made in-process for this run, revoked at its end.
    key = keys.create(Role.ADMIN, description="fupin demo")
    try:
        target = f"127.0.0.1:{running.port}"
        where = settings.database_url
        return run_against(target, target, out_dir, where=where, api_key=key.secret)
    finally:
        keys.revoke(key.row.id)
        running.server.stop(1).wait()
        running.close()


def run_against(
    registry_target: str,
    matcher_target: str,
    out_dir: Path,
    *,
    where: str,
    api_key: str | None = None,
) -> int:
    """The demo through running servers (one, or a registry and a matcher apart), as the
    admin whose key is api_key (default: the one clients/auth.py finds)."""
    options = channel_options()
    key = auth.resolve_key(api_key)
    with (
        auth.open_channel(registry_target, api_key=key, options=options) as registry_channel,
        MatcherClient(matcher_target, api_key=key, timeout_s=60, solve_timeout_s=120) as matcher,
    ):
        registry = api_grpc.RegistryServiceStub(registry_channel)
        _say(_("fupin demo: Zhao'an green plums → Jieyang ({where})").format(where=where))
        loaded = load(registry, scenario.build())
        run = match(matcher)
        committed = matcher.commit(run.id, request_id=f"commit-{run.id}")
        _say(
            "\n"
            + _("committed run {id}: listings reserved, orders filled, ledger written").format(
                id=committed.id
            )
        )
        summary(run, loaded)
        with SeasonClient(registry_target, api_key=key, timeout_s=60) as season_client:
            _say("")
            season = demo_season.go_on(
                season_client, registry, matcher, run, on_step=lambda text: _say("  " + text)
            )
        season_summary(season)
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in [*demo_charts.draw(run, loaded, out_dir), demo_charts.money(season, out_dir)]:
            _say(_("wrote {path}").format(path=path))
    return 0


def load(registry: Any, data: scenario.Scenario) -> Loaded:
    """Create everything through the API; fixed request ids make a rerun store nothing new."""
    village_ids = [
        registry.CreateVillage(api.CreateVillageRequest(village=v, request_id=f"demo-v{i}")).id
        for i, v in enumerate(data.villages)
    ]
    households = [_with(h, village_id=village_ids[int(h.village_id)]) for h in data.households]
    household_ids = list(registry.ImportHouseholds(_chunks(households, "demo-households")).ids)
    buyer_ids = [
        registry.CreateBuyer(api.CreateBuyerRequest(buyer=b, request_id=f"demo-b{i}")).id
        for i, b in enumerate(data.buyers)
    ]
    producer_ids = [
        registry.CreateProducer(
            api.CreateProducerRequest(producer=_producer(p, household_ids), request_id=f"demo-p{i}")
        ).id
        for i, p in enumerate(data.producers)
    ]
    listings = [_with(x, producer_id=producer_ids[int(x.producer_id)]) for x in data.listings]
    listing_ids = list(
        registry.ImportListings(
            iter([api.ImportListingsRequest(listings=listings, request_id="demo-listings")])
        ).ids
    )
    orders = {}
    for i, o in enumerate(data.orders):
        order = _with(o, buyer_id=buyer_ids[int(o.buyer_id)])
        orders[
            registry.CreateOrder(api.CreateOrderRequest(order=order, request_id=f"demo-o{i}")).id
        ] = int(o.buyer_id)
    counts = _(
        "{villages} villages, {households} households, {producers} producers, "
        "{listings} listings, {buyers} buyers, {orders} orders"
    )
    _say(
        "  "
        + counts.format(
            villages=len(village_ids),
            households=len(household_ids),
            producers=len(producer_ids),
            listings=len(listing_ids),
            buyers=len(buyer_ids),
            orders=len(orders),
        )
    )
    return Loaded(
        listing_at={
            lid: _latlng(data.producers[int(x.producer_id)].location)
            for lid, x in zip(listing_ids, data.listings, strict=True)
        },
        order_at={oid: _latlng(data.buyers[b].location) for oid, b in orders.items()},
        buyer_of_order={oid: data.buyers[b].display_name for oid, b in orders.items()},
    )


def _with(message: Any, **fields: str) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    for name, value in fields.items():
        setattr(copy, name, value)
    return copy


def _producer(p: pb.Producer, household_ids: list[str]) -> Any:
    out = _with(p)
    if p.household_id:
        out.household_id = household_ids[int(p.household_id)]
    for member in out.members:
        member.household_id = household_ids[int(member.household_id)]
    return out


def _chunks(rows: list[pb.Household], request_id: str) -> Iterator[api.ImportHouseholdsRequest]:
    for start in range(0, len(rows), 500):
        yield api.ImportHouseholdsRequest(
            households=rows[start : start + 500], request_id=request_id if start == 0 else ""
        )


def _latlng(point: pb.LatLng) -> tuple[float, float]:
    return point.latitude, point.longitude


def match(matcher: MatcherClient) -> mpb.MatchRun:
    """Run the match and show its progress (the typed client's RunProgress) until it ends."""
    progress = matcher.match_produce(
        selection=mpb.RegistrySelection(product="green_plum", today=TODAY),
        parameters=mpb.SolveParameters(time_limit_s=30, reproducible=True, compare_baseline=True),
        request_id=f"demo-{time.time_ns() // 1_000_000:x}",
        watch=True,
    )
    _say("\n" + _("matching green plums to buyers (OR-Tools)…"))
    for event in progress:
        _say(_progress_line(event))
    run: mpb.MatchRun = progress.run()
    return run


def _progress_line(event: mpb.MatchRunEvent) -> str:
    state = enum_name(mpb.RunState.DESCRIPTOR, event.state)
    if not event.elapsed_s:
        return f"  {state}"
    return "  " + _("{state} objective {objective} yuan   bound {bound}   {seconds} s").format(
        state=pad(state, 9),
        objective=f"{event.objective / 100:>12,.2f}",
        bound=f"{event.best_bound / 100:>12,.2f}",
        seconds=f"{event.elapsed_s:6.2f}",
    )


def summary(run: mpb.MatchRun, loaded: Loaded) -> None:
    r = run.produce
    k, b = r.kpis, r.baseline_kpis
    line = _(
        "status {status}, objective {objective} yuan, gap {gap}, {lanes} lanes, "
        "solved in {seconds} s"
    )
    _say(
        "\n"
        + line.format(
            status=enum_name(mpb.SolveStatus.DESCRIPTOR, run.status),
            objective=f"{run.objective / 100:,.2f}",
            gap=f"{run.gap:.4%}",
            lanes=r.arcs,
            seconds=f"{run.timings.solve_s:.3f}",
        )
    )
    _say("\n" + pad("", 34) + pad("fupin", 14, right=True) + pad(_("first come"), 14, right=True))
    rows = [
        (_("plums sold (t)"), k.kg_sold / 1000, b.kg_sold / 1000),
        ("  " + _("by poor households (t)"), k.poor_kg_sold / 1000, b.poor_kg_sold / 1000),
        (_("income of poor households (yuan)"), k.poor_income_fen / 100, b.poor_income_fen / 100),
        (_("unsold (t)"), k.unsold_kg / 1000, b.unsold_kg / 1000),
        (_("value of trade (yuan)"), run.objective / 100, r.baseline_objective / 100),
    ]
    for label, ours, theirs in rows:
        _say(f"{pad(label, 34)}{ours:>14,.1f}{theirs:>14,.1f}")
    per_buyer: dict[str, int] = {}
    for a in r.allocations:
        name = loaded.buyer_of_order[a.order_id]
        per_buyer[name] = per_buyer.get(name, 0) + a.kg
    _say("\n" + _("tonnes by buyer:"))
    for name, kg in sorted(per_buyer.items(), key=lambda item: -item[1]):
        _say(f"  {pad(name, 52)}{kg / 1000:>8,.1f}")
    reasons: dict[str, int] = {}
    for u in r.unsold:
        key = enum_name(mpb.UnsoldReason.DESCRIPTOR, u.reason)
        reasons[key] = reasons.get(key, 0) + u.unsold_kg
    _say("\n" + _("unsold tonnes by reason:"))
    for name, kg in sorted(reasons.items()):
        _say(f"  {pad(name, 52)}{kg / 1000:>8,.1f}")


def season_summary(s: demo_season.Season) -> None:
    """The season's figures: what was received and paid, and what households gained."""
    _say("\n" + _("the season after the commit ({year}):").format(year=demo_season.YEAR))
    received = _("{n} shipments received: {kg} t, {rejected} t rejected for grade").format(
        n=s.shipments, kg=f"{s.received_kg / 1000:,.1f}", rejected=f"{s.rejected_kg / 1000:,.1f}"
    )
    _say("  " + received)
    rows = [
        (_("paid by the buyers (yuan)"), sum(s.paid_fen.values())),
        ("  " + _("to household growers"), s.to_growers_fen),
        ("  " + _("to cooperatives"), s.to_cooperatives_fen),
        (_("paid out by cooperatives to members (yuan)"), s.dividends_fen),
        (_("medical grant signed for (yuan)"), s.grant_fen),
    ]
    _say_amounts(rows)
    _say("\n" + _("income of filed poor households, {year} (yuan):").format(year=demo_season.YEAR))
    _say_amounts(
        [
            (_("produce sales"), s.income.get("produce", 0)),
            (_("dividends"), s.income.get("dividends", 0)),
            (_("aid received"), s.income.get("aid", 0)),
            (_("total"), sum(s.income.values())),
        ]
    )
    line = _("households whose status the income changed: {n} ({lifted} lifted out)")
    _say("\n" + line.format(n=s.changed_status, lifted=s.lifted_out))


def _say_amounts(rows: list[tuple[str, int]]) -> None:
    for label, fen in rows:
        _say(f"  {pad(label, 46)}{fen / 100:>14,.2f}")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
