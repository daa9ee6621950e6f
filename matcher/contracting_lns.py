"""Improve a contracting by re-solving windows of nearby cadres (large neighbourhood search).

A window is a cadre and its ``WINDOW`` nearest cadres. Every household contracted to a cadre
of the window is freed and re-assigned among the window's cadres, whose quotas are then all
theirs: the current contracts are a solution of that sub-problem, so CP-SAT can only keep or
improve them. Windows are small (a few thousand pairs), so each solves to optimality in well
a second or so; at 2,000 cadres × 20,000 households the full model is too big for CP-SAT to
improve in a minute, while windows repack the quotas village by village.
"""

from __future__ import annotations

import time

import numpy as np

from matcher.contracting_pairs import Pairs
from matcher.solving import SolveParams
from matcher.stationing_search import run_cp_sat
from matcher.stationing_sparse import IntArray, SparseModel

WINDOW = 25  # cadres per window, the seed included
WINDOW_SECONDS = 1.0  # at most, per window


def improve(
    pairs: Pairs, chosen: IntArray, seconds: float, target: int, params: SolveParams
) -> IntArray:
    """``chosen`` (a full cover) improved window by window for about ``seconds``, or until
    its cost is at most ``target``."""
    deadline = time.perf_counter() + seconds
    sites = pairs.sites
    n_cadres = len(sites.quota)
    if n_cadres == 0 or len(chosen) == 0:
        return chosen
    quiet = SolveParams(time_limit_s=WINDOW_SECONDS, seed=params.seed, workers=params.workers)
    rng = np.random.default_rng(params.seed)
    improved = True
    while improved:  # sweeps, until one changes nothing
        before = int(pairs.cost[chosen].sum())
        chosen = _sweep(pairs, chosen, deadline, target, quiet, rng)
        improved = int(pairs.cost[chosen].sum()) < before
    return chosen


def _sweep(
    pairs: Pairs,
    chosen: IntArray,
    deadline: float,
    target: int,
    params: SolveParams,
    rng: np.random.Generator,
) -> IntArray:
    """Windows around cadres, in random order, skipping those an earlier window covered."""
    covered = np.zeros(len(pairs.sites.quota), dtype=np.bool_)
    for seed in rng.permutation(len(covered)).tolist():
        left = deadline - time.perf_counter()
        if left < 0.1 or int(pairs.cost[chosen].sum()) <= target:
            break
        if covered[seed]:
            continue
        window = _nearest_cadres(pairs, seed)
        covered[window] = True
        chosen = _resolve(pairs, chosen, window, params, min(left, WINDOW_SECONDS))
    return chosen


def _nearest_cadres(pairs: Pairs, seed: int) -> IntArray:
    """The seed cadre and its nearest others (equirectangular distance is enough here)."""
    sites = pairs.sites
    dlat = sites.cadre_lat - sites.cadre_lat[seed]
    dlng = (sites.cadre_lng - sites.cadre_lng[seed]) * np.cos(sites.cadre_lat[seed])
    near = np.argsort(dlat * dlat + dlng * dlng, kind="stable")[:WINDOW]
    return near.astype(np.int64)


def _resolve(
    pairs: Pairs, chosen: IntArray, window: IntArray, params: SolveParams, seconds: float
) -> IntArray:
    """Re-assign the households of ``window`` among its cadres; keep the better contracts."""
    in_window = np.zeros(len(pairs.sites.quota), dtype=np.bool_)
    in_window[window] = True
    freed = chosen[in_window[pairs.cadre[chosen]]]
    households = pairs.household[freed]
    sub = np.flatnonzero(in_window[pairs.cadre] & np.isin(pairs.household, households))
    if len(freed) < 2 or len(sub) == len(freed):
        return chosen  # nothing to move
    model = _window_model(pairs, sub, np.unique(households))
    hint = np.isin(sub, freed).astype(np.int64)
    found = run_cp_sat(model, hint, params, time.perf_counter(), seconds=seconds, presolve=True)
    if found.values is None or model.value(found.values) >= model.value(hint):
        return chosen
    kept = chosen[~in_window[pairs.cadre[chosen]]]
    return np.sort(np.concatenate([kept, sub[found.values == 1]])).astype(np.int64)


def _window_model(pairs: Pairs, sub: IntArray, households: IntArray) -> SparseModel:
    """Hard: each freed household to one window cadre, within quota. Soft: the cost."""
    model = SparseModel()
    n = len(sub)
    x = np.arange(n, dtype=np.int64)
    model.add_variables(np.zeros(n, np.int64), np.ones(n, np.int64))
    model.add_exactly_one(np.searchsorted(households, pairs.household[sub]), x)
    quota = pairs.sites.quota
    model.add_rows((pairs.cadre[sub], x, pairs.effort[sub]), np.zeros_like(quota), quota)
    model.minimise(x, pairs.cost[sub])
    return model
