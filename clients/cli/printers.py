"""Each run kind shown by its own printer, with names beside ids.

    produce      the allocations: listing, producer, order, buyer, kg, price, pickup days
    aid          the grants: household (its head's name, masked as the key's role requires),
                 programme, amount in yuan, need (a score, never yuan); budgets; left-out reasons
    stationing   the postings per village: cadre name -> village name, role, skills, distance
    contracting  the contracts per village: household -> cadre, effort, where

`fupin runs get`, `match produce`, `aid allocate` and `cadres assign|contract` all print through
`print_run`. `--output json` prints the run message; `--output csv` the printer's main table
(one line per allocation, grant, posting or contract) under field-like headings. Names come from
the registry in one BatchGetResources call per kind (clients/names.py); a key that may not read
a kind sees its ids alone.
"""

from __future__ import annotations

import csv
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType

from clients.cli.output import emit_one, print_table, show
from clients.client import (
    AID_PROGRAMS,
    BUYERS,
    CADRES,
    HOUSEHOLDS,
    PRODUCERS,
    VILLAGES,
    RegistryClient,
)
from clients.i18n import N_, _, enum_name
from clients.names import Names
from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import resources_pb2 as rpb

NONE = "—"  # no useful value: a gap without a bound, a name the key may not read
# A gap beyond this (100,000 %) says the bound is no bound (the solver's ~0 bound divided into
# the objective), not how far the solution is from the best.
ABSURD_GAP = 1000.0
CONTINUITY = MappingProxyType(
    {cpb.POSTING_KEPT: N_("kept"), cpb.POSTING_MOVED: N_("moved"), cpb.POSTING_NEW: N_("new")}
)


@dataclass
class Table:
    """A printer's main table: headings for people, keys for CSV, and the rows."""

    headings: list[str]
    keys: str  # the CSV header, space-separated
    rows: list[list[str]] = field(default_factory=list)


@contextmanager
def names_from(target: str, timeout_s: float) -> Iterator[Names]:
    """Names read from the registry at `target` (closed afterwards)."""
    with RegistryClient(target, timeout_s=timeout_s) as registry:
        yield Names(registry)


def gap_text(run: mpb.MatchRun) -> str:
    """The gap in per cent, or "—" when there is no useful bound (none, 0, or absurd)."""
    if run.status == mpb.OPTIMAL:
        return f"{0:.2%}"
    gap = run.gap
    bound = run.best_bound
    if not bound or not math.isfinite(bound) or not math.isfinite(gap):
        return NONE
    if not 0 <= gap <= ABSURD_GAP:
        return NONE
    return f"{gap:.2%}"


def objective_text(run: mpb.MatchRun) -> str:
    """The objective in its kind's unit: yuan (produce), a need value (aid), a cost (cadres)."""
    if run.kind == mpb.PRODUCE:
        return _("objective {yuan} yuan").format(yuan=_yuan(run.objective))
    if run.kind == mpb.AID:
        return _("need value {value:,}").format(value=run.objective)  # a score, never yuan
    return _("cost {cost:,}").format(cost=run.objective)  # metres and penalties, not yuan


def print_run(run: mpb.MatchRun, names: Names, output: str) -> None:
    """The run as its kind's printer shows it (JSON: the message itself)."""
    if output == "json":
        emit_one(run, output)
        return
    printer = PRINTERS.get(run.kind, _print_generic)
    table = printer(run, names, output == "csv")
    if output == "csv" and table is not None:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(table.keys.split())
        writer.writerows(table.rows)


def _headline(run: mpb.MatchRun, what: str) -> None:
    state = enum_name(mpb.RunState.DESCRIPTOR, run.state)
    status = enum_name(mpb.SolveStatus.DESCRIPTOR, run.status)
    show(
        _("run {id}: {state}, {status}, {objective}, gap {gap}; {what}").format(
            id=run.id,
            state=state,
            status=status,
            objective=objective_text(run),
            gap=gap_text(run),
            what=what,
        )
    )
    if run.error:
        show(_("error: {error}").format(error=run.error))


def _both(resource_id: str, name: str) -> str:
    """An id with its name beside it, or the id alone (no registry selection, or no name)."""
    return f"{resource_id} {name}" if name and resource_id else resource_id or NONE


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def _print_produce(run: mpb.MatchRun, names: Names, quiet: bool) -> Table:
    result, k = run.produce, run.produce.kpis
    names.load(PRODUCERS, (a.producer_id for a in result.allocations))
    names.load(BUYERS, (a.buyer_id for a in result.allocations))
    table = Table(
        [_("LISTING"), _("PRODUCER"), _("ORDER"), _("BUYER"), _("KG"), _("YUAN/KG"), _("PICKUP")],
        "listing_id producer_id producer_name order_id buyer_id buyer_name kg price_fen"
        " pickup_from pickup_until",
    )
    rows = []
    for a in result.allocations:
        producer = _both(a.producer_id, names.name(PRODUCERS, a.producer_id))
        buyer = _both(a.buyer_id, names.name(BUYERS, a.buyer_id))
        pickup = f"{a.pickup_from} – {a.pickup_until}" if a.pickup_from else NONE
        rows.append(
            [a.listing_id, producer, a.order_id, buyer, f"{a.kg:,}", _yuan(a.price_fen), pickup]
        )
        table.rows.append(
            [
                a.listing_id,
                a.producer_id,
                names.name(PRODUCERS, a.producer_id),
                a.order_id,
                a.buyer_id,
                names.name(BUYERS, a.buyer_id),
                str(a.kg),
                str(a.price_fen),
                a.pickup_from,
                a.pickup_until,
            ]
        )
    if quiet:
        return table
    _headline(run, _("{n} allocations").format(n=len(result.allocations)))
    show(
        _(
            "sold {kg:,} kg ({poor:,} kg by impoverished and at-risk households, "
            "income {income} yuan); unsold {unsold:,} kg"
        ).format(
            kg=k.kg_sold, poor=k.poor_kg_sold, income=_yuan(k.poor_income_fen), unsold=k.unsold_kg
        )
    )
    if rows:
        print_table(table.headings, rows)
    _reasons(
        _("unsold"),
        Counter(enum_name(mpb.UnsoldReason.DESCRIPTOR, u.reason) for u in result.unsold),
    )
    return table


def _print_aid(run: mpb.MatchRun, names: Names, quiet: bool) -> Table:
    result = run.aid
    names.load(HOUSEHOLDS, (g.household_id for g in result.grants))
    names.load(AID_PROGRAMS, (g.programme_id for g in result.grants))
    table = Table(
        [_("HOUSEHOLD"), _("HEAD"), _("PROGRAMME"), _("NAME"), _("YUAN"), _("NEED"), _("CAUSES")],
        "household_id head_name programme_id programme_name amount_fen need causes_matched",
    )
    for g in result.grants:
        causes = ";".join(enum_name(rpb.PovertyCause.DESCRIPTOR, c) for c in g.causes_matched)
        table.rows.append(
            [
                g.household_id,
                names.name(HOUSEHOLDS, g.household_id),
                g.programme_id,
                names.name(AID_PROGRAMS, g.programme_id),
                str(g.amount_fen),
                str(g.need),
                causes,
            ]
        )
    if quiet:
        return table
    granted = sum(g.amount_fen for g in result.grants)
    what = _("{n} grants, {yuan} yuan to {households} households").format(
        n=len(result.grants), yuan=_yuan(granted), households=result.households_helped
    )
    _headline(run, what)
    if table.rows:
        shown = [[*r[:4], _yuan(int(r[4])), f"{int(r[5]):,}", r[6]] for r in table.rows]
        print_table(table.headings, [[c or NONE for c in r] for r in shown])
    usage = [
        [
            u.programme_id,
            names.name(AID_PROGRAMS, u.programme_id) or NONE,
            str(u.grants),
            _yuan(u.spent_fen),
            _yuan(u.remaining_fen),
        ]
        for u in result.programmes
    ]
    if usage:
        show("")
        print_table(
            [_("PROGRAMME"), _("NAME"), _("GRANTS"), _("GRANTED YUAN"), _("LEFT YUAN")], usage
        )
    reasons = Counter(enum_name(mpb.LeftOutReason.DESCRIPTOR, x.reason) for x in result.left_out)
    for reason, count in sorted(reasons.items()):
        show(
            _("left out: {n} eligible household-programme pairs, {reason}").format(
                n=count, reason=reason
            )
        )
    if result.left_out_omitted:
        show(_("(+{n} more left out, not listed)").format(n=result.left_out_omitted))
    return table


def _print_stationing(run: mpb.MatchRun, names: Names, quiet: bool) -> Table:
    result = run.stationing
    names.load(CADRES, (p.cadre_id for p in result.postings))
    names.load(
        VILLAGES, [*(p.village_id for p in result.postings), *(s.village_id for s in result.short)]
    )
    table = Table(
        [_("CADRE"), _("NAME"), _("ROLE"), _("RANK"), _("SKILLS MATCHED"), _("KM"), _("POSTING")],
        "cadre_id cadre_name village_id village_name is_secretary rank skills_matched"
        " distance_km continuity",
    )
    for p in result.postings:
        table.rows.append(
            [
                p.cadre_id,
                names.name(CADRES, p.cadre_id),
                p.village_id,
                names.name(VILLAGES, p.village_id),
                str(p.is_secretary).lower(),
                str(p.rank),
                ";".join(p.skills_matched),
                f"{p.distance_km:.1f}",
                cpb.PostingContinuity.Name(p.continuity),
            ]
        )
    if quiet:
        return table
    what = _("{n} postings in {villages} villages")
    _headline(run, what.format(n=len(result.postings), villages=result.villages))
    teams: dict[str, list[cpb.CadrePosting]] = defaultdict(list)
    for p in result.postings:
        teams[p.village_id].append(p)
    short = {s.village_id: s for s in result.short}
    uncovered: dict[str, list[str]] = defaultdict(list)
    for u in result.uncovered:
        uncovered[u.village_id].append(u.need)
    for village_id in sorted(set(teams) | set(short)):
        show("")
        name = names.name(VILLAGES, village_id)
        heading = _("village {id} {name}").format(id=village_id, name=name)
        if village_id in short:
            reason = enum_name(cpb.ShortReason.DESCRIPTOR, short[village_id].reason)
            heading += "  " + _("short: {reason}").format(reason=_(SHORT.get(reason, reason)))
        if uncovered.get(village_id):
            heading += "  " + _("uncovered: {needs}").format(needs=", ".join(uncovered[village_id]))
        show(heading.rstrip())
        team = sorted(teams.get(village_id, []), key=lambda p: not p.is_secretary)
        rows = [
            [
                p.cadre_id,
                names.name(CADRES, p.cadre_id) or NONE,
                _("first secretary") if p.is_secretary else _("member"),
                str(p.rank),
                ",".join(p.skills_matched) or NONE,
                f"{p.distance_km:.1f}",
                _(CONTINUITY.get(p.continuity, "?")),
            ]
            for p in team
        ]
        if rows:
            print_table(table.headings, rows)
    if result.released_cadre_ids:
        show("\n" + _("released: {ids}").format(ids=", ".join(result.released_cadre_ids)))
    if result.preferences_used:
        pairs = [f"{b.cadre_id}-{b.village_id}" for b in result.blocking_pairs]
        show(
            _("blocking pairs: {n}").format(n=len(pairs))
            + (f" ({', '.join(pairs[:20])})" if pairs else "")
        )
    return table


# The shortage reasons as an office says them (by the proto name English shows).
SHORT: Mapping[str, str] = MappingProxyType(
    {
        "NO_ELIGIBLE_WITHIN_DISTANCE": N_("no eligible cadre within distance"),
        "NO_RANK": N_("no one of the needed rank"),
        "ALL_CANDIDATES_TAKEN": N_("all candidates taken"),
    }
)


def _print_contracting(run: mpb.MatchRun, names: Names, quiet: bool) -> Table:
    result = run.contracting
    ids = [*(k.household_id for k in result.contracts), *(u.household_id for u in result.uncovered)]
    households = names.records(HOUSEHOLDS, ids)
    village_of = {i: h.village_id for i, h in households.items()}
    names.load(CADRES, (k.cadre_id for k in result.contracts))
    names.load(VILLAGES, village_of.values())
    table = Table(
        [_("HOUSEHOLD"), _("HEAD"), _("CADRE"), _("NAME"), _("EFFORT"), _("WHERE")],
        "household_id head_name cadre_id cadre_name effort same_village distance_km",
    )
    by_village: dict[str, list[list[str]]] = defaultdict(list)
    for k in result.contracts:
        head = names.name(HOUSEHOLDS, k.household_id)
        cadre = names.name(CADRES, k.cadre_id)
        table.rows.append(
            [
                k.household_id,
                head,
                k.cadre_id,
                cadre,
                str(k.effort),
                str(k.same_village).lower(),
                f"{k.distance_km:.1f}",
            ]
        )
        where = _("own village") if k.same_village else f"{k.distance_km:.1f} km"
        by_village[village_of.get(k.household_id, "")].append(
            [k.household_id, head or NONE, k.cadre_id, cadre or NONE, str(k.effort), where]
        )
    for u in result.uncovered:
        reason = enum_name(cpb.UncoveredHouseholdReason.DESCRIPTOR, u.reason)
        head = names.name(HOUSEHOLDS, u.household_id) or NONE
        by_village[village_of.get(u.household_id, "")].append(
            [u.household_id, head, NONE, NONE, NONE, reason]
        )
    if quiet:
        return table
    what = _("{n} of {total} households contracted")
    _headline(run, what.format(n=len(result.contracts), total=result.households))
    for village_id in sorted(by_village):
        show("")
        name = names.name(VILLAGES, village_id)
        show(_("village {id} {name}").format(id=village_id or NONE, name=name).rstrip())
        print_table(table.headings, sorted(by_village[village_id]))
    busy = [load for load in result.loads if load.households]
    within = all(load.effort <= load.quota for load in result.loads)
    show(
        "\n"
        + _("{n} cadres carry households; loads within quota: {within}").format(
            n=len(busy), within=_("yes") if within else _("no")
        )
    )
    return table


def _print_generic(run: mpb.MatchRun, names: Names, quiet: bool) -> None:
    if not quiet:
        _headline(run, enum_name(mpb.RunKind.DESCRIPTOR, run.kind))


def _reasons(what: str, counts: Mapping[str, int]) -> None:
    for reason, count in sorted(counts.items()):
        show(f"{what}: {count} × {reason}")


Printer = Callable[[mpb.MatchRun, Names, bool], Table | None]
PRINTERS: Mapping[int, Printer] = MappingProxyType(
    {
        mpb.PRODUCE: _print_produce,
        mpb.AID: _print_aid,
        mpb.CADRE_STATIONING: _print_stationing,
        mpb.CADRE_CONTRACTING: _print_contracting,
    }
)
