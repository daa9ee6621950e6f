"""Cadres → households (结对帮扶): each poor household contracted to one cadre, within quotas.

A generalized assignment problem:

- Hard: every household whose status is in ``statuses`` (impoverished, at risk, returned to
  poverty by default) gets exactly one cadre; a cadre's households add up to at most its own
  quota, or else the quota of its rank (``quota_by_rank``), in effort units; a household's
  effort is 1 + its number of causes of poverty unless the office's ``scores`` say otherwise.
- Soft: cost, 0 for a cadre stationed in the household's own village, else 1 + the distance in
  metres (the village's own cadres first, then the nearest), unless the office's ``scores``
  say otherwise (then only the listed pairs are candidates).

The default quotas {1: 5, 2: 8, 3: 10, 4: 12, 5: 15} effort units let a 科员 (rank 1) carry
about two households of two causes and a 正处 (rank 5) five: the usual 1–5 households per
cadre, higher ranks carrying more. Pass ``quota_by_rank`` to change them.

Each household considers only its ``k_nearest`` cheapest cadres that can take it, plus every
cadre stationed in its village (``pairs``): about 400,000 pairs for 2,000 cadres × 20,000
households. The LP bound comes from a min-cost flow (``flow``); its rounding is polished by
local moves (``moves``: shifts, swaps, ejections), then a Lagrangian bound (``bound``) runs
unless the polished cover is already within the caller's gap of the LP bound. The model
(``model``) is then solved by ``common.sparse_search.solve_sparse`` from the polished cover:
RINS, local moves again and window search (``search``) for the time left, then CP-SAT on the
whole model if time remains (GLOP and its rounding there where the flow does not apply). The
better of the two bounds is reported, with the gap.

Infeasibility is reported per household. One that no candidate can take is NO_CANDIDATE.
When the quotas cannot hold everyone, a first phase maximises the households covered (CP-SAT,
same pipeline); those it leaves out are OVER_QUOTA, the status is INFEASIBLE when that is
proven and UNKNOWN otherwise, and the contracts cover everyone else.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from matcher.solvers.common.solving import SolveParams, SolveStatus, Timings, relative_gap
from matcher.solvers.common.sparse import FloatArray, IntArray, Relaxation
from matcher.solvers.common.sparse_search import Improve, Outcome, Rounding, solve_sparse
from matcher.solvers.contracting import bound as contracting_bound
from matcher.solvers.contracting import flow as contracting_flow
from matcher.solvers.contracting import moves as contracting_moves
from matcher.solvers.contracting import search as contracting_search
from matcher.solvers.contracting.greedy import greedy, repair
from matcher.solvers.contracting.model import build_model
from matcher.solvers.contracting.pairs import Pairs, build_pairs
from matcher.solvers.contracting.problem import ContractingProblem, ContractingResult
from matcher.solvers.contracting.result import build_result, left_out

# Of the time left after the LP and its rounding, the window search's share: all of it. At
# 400,000 pairs CP-SAT on the whole model improved nothing in 14 s while windows kept gaining
# to the end; on small models the windows settle in well under the time and stop, and CP-SAT
# then proves the result with what is left.
IMPROVE_SHARE = 1.0
# Of the time left once a full cover is known, at most how long the Lagrangian bound may run
# before the search (it stops when its steps converge). At 2,000 × 20,000 it converged at
# +0.62% over the LP bound in 7 s alone; the LP bound cannot certify 1% there (docs/cadres.md).
LAGRANGIAN_SHARE = 0.25
# Of the time left once the LP is rounded, at most how long local moves may polish it before
# the bound and the search: at 2,000 × 20,000 they took it from 1.19% over the LP bound to
# 0.41% in a round (about a second), so the Lagrangian bound, which gains nothing there, is
# then skipped.
MOVES_SHARE = 0.25
# Of the search's time (after RINS), the share of a second pass of moves before the windows:
# their late rounds apply a few moves each, and the windows search other neighbourhoods.
# Asked for gap 0 at 2,000 × 20,000: 0.203% at 56.2 s (load 13) with 0.3, against 0.217% and
# 0.248% with all of it (load 17, 10–14); one run each.
SECOND_MOVES_SHARE = 0.3
# Of the time limit, the share kept back from the search beyond the shared wrap-up, for the
# windows' CP-SAT runs, which overrun their limits on a loaded machine (62.4 s of 60 at load
# average 40 before).
WRAP_UP_SHARE = 0.04

__all__ = ["solve"]


def solve(problem: ContractingProblem, params: SolveParams | None = None) -> ContractingResult:
    """Contract every poor household to a cadre within quotas, at least cost (module doc)."""
    params = params or SolveParams()
    started = time.perf_counter()
    timings = Timings()
    with timings.measure("load"):
        pairs = build_pairs(problem)
    with timings.measure("build"):
        start = greedy(pairs)
        if len(left_out(pairs, start)):
            start = repair(pairs, start)
    with timings.measure("solve"):
        cover = None
        if len(left_out(pairs, start)):
            cover = _cover(pairs, start, params, started)
            start = cover.values if cover.values is not None else start
        if len(left_out(pairs, start)):
            return build_result(problem, pairs, start, _cover_status(cover), 0, timings)
    with timings.measure("build"):
        model = build_model(pairs, cover=False)
    with timings.measure("solve"):
        lp = contracting_flow.relaxation(pairs)
        rounding, best = _rounding(pairs), start
        if lp is not None:  # rounded and polished here, so the bound may not be needed
            best = _polish(pairs, lp, _better(pairs, start, rounding(lp.x)), params, started)
            rounding = _no_rounding
        lagrangian = _lagrangian(pairs, lp, start, best, params, started)
        outcome = solve_sparse(
            model,
            _values(pairs, best),
            rounding,
            _searching(params),
            started,
            _improve(pairs, params),
            lp=lp,
            bound=lagrangian,
            improve_share=IMPROVE_SHARE,
        )
        values = outcome.values if outcome.values is not None else _values(pairs, best)
        chosen = np.flatnonzero(values[: len(pairs.cadre)])
        objective = int(pairs.cost[chosen].sum())
        status = SolveStatus.OPTIMAL if outcome.bound >= objective else outcome.status
        return build_result(problem, pairs, chosen, status, outcome.bound, timings)


def _lagrangian(
    pairs: Pairs,
    lp: Relaxation | None,
    start: IntArray,
    best: IntArray,
    params: SolveParams,
    started: float,
) -> int | None:
    """The Lagrangian bound (``bound``), before the search so that the search can
    stop once it is within the caller's gap of it, in at most LAGRANGIAN_SHARE of the time
    left. None without a flow relaxation, for a reproducible solve (its iterations could
    depend on the clock) or when ``best`` is within the caller's gap of the LP bound.

    Its steps aim at the greedy ``start``'s cost, not ``best``'s: aimed at a cost closer to
    the bound they are shorter and the bound rose less in its time (40 × 400 without the
    rank balance term: it then fell short of certifying 0.5% under load)."""
    if lp is None or params.reproducible:
        return None
    found = int(pairs.cost[best].sum())
    if relative_gap(found, lp.bound) <= params.relative_gap:
        return None
    upper = int(pairs.cost[start].sum())
    seconds = (params.time_limit_s - (time.perf_counter() - started)) * LAGRANGIAN_SHARE
    report = None
    if params.progress is not None:
        progress = params.progress

        def report(bound: int) -> None:
            progress(found, max(bound, lp.bound), time.perf_counter() - started)

    return contracting_bound.lagrangian_bound(pairs, lp.x, upper, seconds, report)


def _cover(pairs: Pairs, start: IntArray, params: SolveParams, started: float) -> Outcome:
    """The cover phase: as many households covered as the quotas allow, within half the time
    left (it stops as soon as everyone is covered). Its ``values`` are the chosen pairs."""
    model = build_model(pairs, cover=True)
    half = SolveParams(
        time_limit_s=max(params.time_limit_s - (time.perf_counter() - started), 0.1) / 2,
        seed=params.seed,
        workers=params.workers,
        reproducible=params.reproducible,
    )
    n_pairs = len(pairs.cadre)

    def rounding(x: FloatArray) -> IntArray:
        return _with_slack(pairs, greedy(pairs, _by_value(pairs, x[:n_pairs])))

    outcome = solve_sparse(model, _with_slack(pairs, start), rounding, half, time.perf_counter())
    values = None if outcome.values is None else np.flatnonzero(outcome.values[:n_pairs])
    return Outcome(outcome.status, values, outcome.bound)


def _cover_status(cover: Outcome | None) -> SolveStatus:
    """INFEASIBLE once the cover phase proves someone must stay uncovered."""
    return SolveStatus.INFEASIBLE if cover is not None and cover.bound > 0 else SolveStatus.UNKNOWN


def _rounding(pairs: Pairs) -> Rounding:
    """The LP's assignments, surest first, then greedy for what they leave; None unless that
    covers everyone."""

    def rounding(x: FloatArray) -> IntArray | None:
        chosen = greedy(pairs, _by_value(pairs, x))
        if len(left_out(pairs, chosen)):
            chosen = repair(pairs, chosen)
        return None if len(left_out(pairs, chosen)) else _values(pairs, chosen)

    return rounding


def _no_rounding(x: FloatArray) -> None:
    """The LP was rounded before the search already (``_polish``)."""


def _polish(
    pairs: Pairs, lp: Relaxation, start: IntArray, params: SolveParams, started: float
) -> IntArray:
    """``start`` after local moves (``moves``) towards the caller's gap from the LP bound,
    for at most MOVES_SHARE of the time left."""
    seconds = (params.time_limit_s - (time.perf_counter() - started)) * MOVES_SHARE
    return contracting_moves.improve(pairs, start, seconds, _target(lp.bound, params))


def _better(pairs: Pairs, start: IntArray, other: IntArray | None) -> IntArray:
    """The cheaper of two full covers (``other`` given as values over the pairs, or None)."""
    if other is None:
        return start
    chosen = np.flatnonzero(other)
    return chosen if pairs.cost[chosen].sum() < pairs.cost[start].sum() else start


def _searching(params: SolveParams) -> SolveParams:
    """``params`` with WRAP_UP_SHARE of the time limit kept back from the search."""
    return replace(params, time_limit_s=params.time_limit_s * (1 - WRAP_UP_SHARE))


def _target(bound: int, params: SolveParams) -> int:
    """The largest objective within the caller's relative gap of ``bound``."""
    return bound + math.floor(params.relative_gap * abs(bound))


def _improve(pairs: Pairs, params: SolveParams) -> Improve:
    """Local moves (``moves``) for SECOND_MOVES_SHARE of ``seconds``, then window
    re-optimisation (``search``) for the time left."""

    def improve(values: IntArray, seconds: float, target: int) -> IntArray:
        deadline = time.perf_counter() + seconds
        moves_s = seconds * SECOND_MOVES_SHARE
        chosen = contracting_moves.improve(pairs, np.flatnonzero(values), moves_s, target)
        if pairs.cost[chosen].sum() > target:
            seconds = deadline - time.perf_counter()
            chosen = contracting_search.improve(pairs, chosen, seconds, target, params)
        return _values(pairs, chosen)

    return improve


def _by_value(pairs: Pairs, x: FloatArray) -> IntArray:
    """Pairs the LP takes at least half of, surest first."""
    order = np.lexsort((pairs.cost, -x))
    taken: IntArray = order[x[order] > 0.5]
    return taken


def _values(pairs: Pairs, chosen: IntArray) -> IntArray:
    x = np.zeros(len(pairs.cadre), dtype=np.int64)
    x[chosen] = 1
    return x


def _with_slack(pairs: Pairs, chosen: IntArray) -> IntArray:
    covered = np.isin(pairs.needy, pairs.household[chosen])
    return np.concatenate([_values(pairs, chosen), (~covered).astype(np.int64)])
