"""The aid chart: spending by cause of poverty (致贫原因), from the ledger or from a run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt

from clients.chart_fonts import use_cjk_font
from clients.i18n import _, enum_name
from fupin.registry.v1 import resources_pb2 as pb

use_cjk_font()


def spending_by_cause(amounts_fen: Mapping[str, int], path: Path, title: str) -> Path:
    """Horizontal bars, largest on top, in ten-thousands of yuan (万元)."""
    ranked = sorted(amounts_fen.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(ranked), 3) + 1.2), dpi=110)
    labels = [_cause(cause) for cause, _fen in ranked]
    bars = ax.barh(labels, [fen / 1e6 for _, fen in ranked], color="tab:green")
    ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=8)
    ax.set_xlabel(_("granted (10,000 yuan)"))
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlim(0, max([fen / 1e6 for _, fen in ranked] + [0.01]) * 1.2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _cause(name: str) -> str:
    """ILLNESS -> "ILLNESS" spaced in English, 因病 in Chinese."""
    value = pb.PovertyCause.DESCRIPTOR.values_by_name.get(name)
    shown = enum_name(pb.PovertyCause.DESCRIPTOR, value.number) if value else name
    return shown.replace("_", " ")
