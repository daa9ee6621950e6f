"""The picture of a stationing run: each cadre's home unit → the village, on lng/lat axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt

from clients.demo_charts import save_figure
from clients.i18n import _, ngettext
from fupin.matcher.v1 import cadres_pb2 as cpb

# Colour by how many of the village's needs the cadre's skills match: 0, 1, 2, 3 or more.
MATCH_COLOURS = ("tab:gray", "tab:blue", "tab:green", "tab:purple")


def postings(
    rows: Sequence[cpb.CadrePosting],
    homes: Mapping[str, Any],
    places: Mapping[str, Any],
    path: Path,
) -> Path:
    """Lines cadre home → village (LatLng messages by id), coloured by skills matched; first
    secretaries drawn thicker."""
    fig, ax = plt.subplots(figsize=(9, 6.5), dpi=110)
    seen: set[int] = set()
    for p in sorted(rows, key=lambda p: len(p.skills_matched)):
        home, place = homes[p.cadre_id], places[p.village_id]
        matched = min(len(p.skills_matched), len(MATCH_COLOURS) - 1)
        label = None
        if matched not in seen:
            seen.add(matched)
            more = "+" if matched == len(MATCH_COLOURS) - 1 else ""
            label = ngettext("{n} need matched", "{n} needs matched", matched).format(
                n=f"{matched}{more}"
            )
        ax.plot(
            [home.longitude, place.longitude],
            [home.latitude, place.latitude],
            color=MATCH_COLOURS[matched],
            alpha=0.7,
            linewidth=2.2 if p.is_secretary else 0.9,
            label=label,
            zorder=2,
        )
    ax.scatter(
        [h.longitude for h in homes.values()],
        [h.latitude for h in homes.values()],
        s=12,
        color="tab:orange",
        label=_("cadre home units"),
        zorder=3,
    )
    ax.scatter(
        [v.longitude for v in places.values()],
        [v.latitude for v in places.values()],
        s=50,
        marker="^",
        color="tab:red",
        label=_("poor villages"),
        zorder=4,
    )
    ax.set_xlabel(_("longitude (°E)"))
    ax.set_ylabel(_("latitude (°N)"))
    ax.set_title(_("Cadres stationed in poor villages (thick: first secretary)"))
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
