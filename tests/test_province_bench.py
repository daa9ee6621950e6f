"""The province size of bench/produce.py, scaled down: the registry loaded by COPY into a fresh
PostgreSQL database, read by a registry selection, screened to the 30 nearest orders, and
solved to the optimum SimpleMinCostFlow alone finds on the same records."""

from __future__ import annotations

import pytest

from bench import province
from bench.produce import fupin_serve, timed_bare_mcf

LISTINGS, ORDERS = 26_000, 200  # 5.2 million pairs: beyond the dense limit, so screened


@pytest.mark.postgres
@pytest.mark.slow
def test_a_registry_selection_is_solved_to_the_bare_flows_optimum(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the bench's admin key file
    monkeypatch.setenv("FUPIN_API_KEY_FILE", "")  # fupin_serve sets it; restored afterwards
    line = province.run(fupin_serve, timed_bare_mcf, listings=LISTINGS, orders=ORDERS)
    assert line["status"] == "OPTIMAL"
    assert line["arcs"] == line["bare_arcs"] == LISTINGS * 30
    assert line["objective"] == line["bare_objective"] > line["greedy_objective"] > 0
    assert line["peak_rss_mb"] > 0 and line["load_s"] > 0
