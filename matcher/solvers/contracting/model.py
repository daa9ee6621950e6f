"""The contracting CP-SAT model over candidate pairs: one function per constraint, in priority
order (the hard ones, then the objective of the phase)."""

from __future__ import annotations

import numpy as np

from matcher.solvers.common.sparse import SparseModel
from matcher.solvers.contracting.pairs import Pairs


def build_model(pairs: Pairs, *, cover: bool) -> SparseModel:
    """x[p] per pair; with ``cover``, also u[i] per needy household (left uncovered) and the
    objective Σu instead of the cost."""
    model = SparseModel()
    n_pairs, n_needy = len(pairs.cadre), len(pairs.needy)
    model.add_variables(np.zeros(n_pairs, np.int64), np.ones(n_pairs, np.int64))
    if cover:
        model.add_variables(np.zeros(n_needy, np.int64), np.ones(n_needy, np.int64))
    add_one_cadre_per_household(model, pairs, cover)
    add_quota(model, pairs)
    if cover:
        minimise_uncovered(model, pairs)
    else:
        minimise_cost(model, pairs)
    return model


def add_one_cadre_per_household(model: SparseModel, pairs: Pairs, cover: bool) -> None:
    """Hard: each poor household gets exactly one cadre (in the cover phase: or u = 1)."""
    row = pairs.row
    literal = np.arange(len(pairs.cadre), dtype=np.int64)
    if cover:
        n_needy = len(pairs.needy)
        row = np.concatenate([row, np.arange(n_needy, dtype=np.int64)])
        literal = np.concatenate([literal, len(pairs.cadre) + np.arange(n_needy, dtype=np.int64)])
    model.add_exactly_one(row, literal)


def add_quota(model: SparseModel, pairs: Pairs) -> None:
    """Hard: a cadre's households add up to at most the quota of the cadre's rank (a row only
    where the candidates could exceed it)."""
    quota = pairs.sites.quota
    load = np.bincount(pairs.cadre, weights=pairs.effort, minlength=len(quota))
    tight = np.flatnonzero(load[pairs.cadre] > quota[pairs.cadre])
    terms = (pairs.cadre[tight], tight, pairs.effort[tight])
    model.add_rows(terms, np.zeros_like(quota), quota)


def minimise_cost(model: SparseModel, pairs: Pairs) -> None:
    """Soft: the cost of every contract."""
    model.minimise(np.arange(len(pairs.cadre), dtype=np.int64), pairs.cost)


def minimise_uncovered(model: SparseModel, pairs: Pairs) -> None:
    """Soft (cover phase only): the number of households left without a cadre."""
    n_needy = len(pairs.needy)
    model.minimise(
        len(pairs.cadre) + np.arange(n_needy, dtype=np.int64), np.ones(n_needy, np.int64)
    )
