"""The aid chart: spending by cause of poverty (致贫原因), from the ledger or from a run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt


def spending_by_cause(amounts_fen: Mapping[str, int], path: Path, title: str) -> Path:
    """Horizontal bars, largest on top, in ten-thousands of yuan (万元)."""
    ranked = sorted(amounts_fen.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(ranked), 3) + 1.2), dpi=110)
    labels = [cause.replace("_", " ") for cause, _ in ranked]
    bars = ax.barh(labels, [fen / 1e6 for _, fen in ranked], color="tab:green")
    ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=8)
    ax.set_xlabel("granted (10,000 yuan)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlim(0, max([fen / 1e6 for _, fen in ranked] + [0.01]) * 1.2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
