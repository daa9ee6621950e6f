"""Fairness figures every result carries: the Gini coefficient of what each one got, and the
load carried by each rank against its share of the capacity (责任按职级: higher ranks carry
more)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def gini(values: npt.ArrayLike) -> float:
    """Gini coefficient of non-negative values (0 = equal, → 1 = concentrated); 0 if empty."""
    array = np.asarray(values, dtype=np.float64)
    total = float(array.sum())
    if array.size == 0 or total <= 0:
        return 0.0
    ranked = np.sort(array)
    k = np.arange(1, array.size + 1)
    return float(((2 * k - array.size - 1) * ranked).sum() / (array.size * total))


@dataclass(frozen=True)
class RankLoad:
    """What the cadres of one rank carry: ``load`` against ``capacity``, and each as a share
    of all ranks' (0 when there is none at all)."""

    rank: int
    cadres: int
    loaded: int  # cadres of the rank that carry anything
    load: int
    capacity: int
    load_share: float
    capacity_share: float


def rank_loads(
    rank: npt.ArrayLike, load: npt.ArrayLike, capacity: npt.ArrayLike
) -> tuple[RankLoad, ...]:
    """Per rank present, ascending: cadres, loaded cadres, load, capacity and their shares.
    ``rank``, ``load`` and ``capacity`` are per cadre."""
    ranks = np.asarray(rank, dtype=np.int64)
    loads = np.asarray(load, dtype=np.int64)
    caps = np.asarray(capacity, dtype=np.int64)
    total_load, total_cap = int(loads.sum()), int(caps.sum())
    out = []
    for r in np.unique(ranks).tolist():
        mine = ranks == r
        carried, cap = int(loads[mine].sum()), int(caps[mine].sum())
        out.append(
            RankLoad(
                rank=int(r),
                cadres=int(mine.sum()),
                loaded=int((loads[mine] > 0).sum()),
                load=carried,
                capacity=cap,
                load_share=carried / total_load if total_load else 0.0,
                capacity_share=cap / total_cap if total_cap else 0.0,
            )
        )
    return tuple(out)
