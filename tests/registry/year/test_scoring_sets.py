"""Indicator sets: per-set sub-scores on the card, the same scores as flat weights where the
sets add up to them, and the bundled large indicator system."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import MappingProxyType

import grpc
import pytest

from fupin.registry.v1 import registry_service_pb2 as api
from registry.resources import convert, convert_household
from registry.resources.checks import Checker
from registry.resources.kinds import HOUSEHOLD, VILLAGE
from registry.resources.scoring import (
    Indicators,
    IndicatorSet,
    ScoringConfig,
    assess_sets,
    score,
)
from registry.resources.store import RegistryStore
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails

GUIZHOU = Path(__file__).resolve().parents[3] / "registry" / "resources" / "scoring_guizhou.toml"
WEIGHTS = {"income": 30, "housing_safety": 15, "food_security": 15, "children_schooling": 10}
WEIGHTS |= {"health": 15, "disability": 5, "labour": 10}


def poor(**kw: int) -> Indicators:
    fields = dict(housing_safety=40, food_security=60, children_schooling=70, health=50)
    fields |= dict(disability=100, income_per_capita_fen=350_000, members=4, labour_force=2)
    fields.update(kw)
    return Indicators(**fields)


def test_the_bundled_sets_score_exactly_as_the_flat_weights():
    """The default file's four sets weigh the sum of their indicators: every score of a grid
    of households equals the flat weighted mean of the seven indicators."""
    bundled = ScoringConfig.load()
    flat = ScoringConfig(weights=MappingProxyType(WEIGHTS), income_full_score_fen=800_000)
    assert bundled.flat_weights == WEIGHTS
    grid = itertools.product(range(0, 101, 25), range(0, 101, 33), range(0, 900_001, 150_001))
    for housing, health, income in grid:
        ind = poor(housing_safety=housing, health=health, income_per_capita_fen=income)
        assert assess_sets(ind, {}, bundled)[0] == score(ind, flat)


def test_set_sub_scores_are_weighted_means_of_their_indicators():
    """三保障 (15×40 + 10×70 + 15×50) / 40 = 51.25; capacity (10×50 + 5×100) / 15 = 66.7."""
    total, sets = assess_sets(poor(), {}, ScoringConfig.load())
    assert sets == {"income": 44, "two_no_worries": 60, "three_guarantees": 51, "capacity": 67}
    assert total == round((30 * 43.75 + 15 * 60 + 40 * 51.25 + 15 * 1000 / 15) / 100)


def test_unequal_set_weights_weigh_sets_not_indicators():
    """Two sets of equal weight: one of one indicator, one of three; each counts half."""
    sets = (
        IndicatorSet("a", "A", 1, MappingProxyType({"health": 1})),
        IndicatorSet("b", "B", 1, MappingProxyType({"housing_safety": 1, "extra_one": 2})),
    )
    config = ScoringConfig(weights=MappingProxyType({}), income_full_score_fen=1, sets=sets)
    assert config.flat_weights is None
    assert assess_sets(poor(health=100), {"extra_one": 10}, config) == (60, {"a": 100, "b": 20})
    # without the extra indicator, set b is housing alone (40)
    assert assess_sets(poor(health=100), {}, config) == (70, {"a": 100, "b": 40})


@pytest.mark.parametrize(
    "sets",
    [
        (IndicatorSet("a", "A", 0, MappingProxyType({"health": 1})),),
        (IndicatorSet("a", "A", 1, MappingProxyType({"Bad-Name": 1})),),
        (IndicatorSet("a", "A", 1, MappingProxyType({"health": 0})),),
        (
            IndicatorSet("a", "A", 1, MappingProxyType({"health": 1})),
            IndicatorSet("a", "B", 1, MappingProxyType({"income": 1})),
        ),
    ],
)
def test_a_bad_set_is_refused_at_load(sets):
    with pytest.raises(ValueError):
        ScoringConfig(weights=MappingProxyType({}), income_full_score_fen=1, sets=sets)


def test_the_large_indicator_system_loads_dozens_of_indicators_in_sets():
    config = ScoringConfig.load(GUIZHOU)
    assert len(config.sets) >= 8
    assert sum(len(s.indicators) for s in config.sets) >= 40
    assert config.flat_weights is None


def test_the_card_shows_set_scores_and_keeps_extra_indicators(server, registry):
    """Created through the API: the set scores of the bundled file, the extra indicators
    returned as given; a bad extra name or value is INVALID_ARGUMENT naming it."""
    village = factories.create_village(registry)
    extra = {"broadband": 30, "road_access": 90}
    made = factories.create_household(
        registry, village.id, indicators=factories.indicators(extra=extra)
    )
    assert dict(made.indicators.extra) == extra
    assert dict(made.set_scores) == {
        "income": 44,
        "two_no_worries": 60,
        "three_guarantees": 51,
        "capacity": 67,
    }
    for bad in ({"Broadband": 30}, {"health": 30}, {"broadband": 101}):
        error = rpc_fails(
            lambda bad=bad: factories.create_household(
                registry, village.id, indicators=factories.indicators(extra=bad)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert [f.split("indicators.")[-1] for f in fields_of(error)] == [
            f"extra[{next(iter(bad))}]"
        ]
    listed = registry.ListHouseholds(api.ListHouseholdsRequest()).households
    assert [h.id for h in listed] == [made.id]


def test_the_large_system_scores_a_stored_household(server):
    """The store under the Guizhou file: extra indicators move the set sub-scores and the score."""
    store = RegistryStore(server.store.engine, ScoringConfig.load(GUIZHOU))
    village = factories.village()
    village_row = store.create(
        VILLAGE,
        convert.village_values(village, Checker("village.")),
    )
    scores = []
    for extra in ({}, {"broadband": 0, "road_access": 0, "market_distance": 0}):
        message = factories.household(
            village_row.row.id, indicators=factories.indicators(extra=extra)
        )
        record = store.create(
            HOUSEHOLD, convert_household.household_values(message, Checker("household."))
        )
        scores.append((record.row.score, dict(record.row.set_scores)))
    (plain, plain_sets), (cut_off, cut_sets) = scores
    assert "infrastructure" not in plain_sets and cut_sets["infrastructure"] == 0
    assert cut_off < plain
    assert set(plain_sets) == {"income", "food_clothing", "housing", "education"} | {
        "medical",
        "capacity",
    }


@pytest.mark.parametrize("which", ["bundled", "guizhou", "unequal", "extras_only"])
def test_scoring_many_at_once_is_scoring_each_to_the_bit(which: str) -> None:
    """assess_plain (an import's households without extra indicators, column by column) gives
    every row the score, status and set sub-scores assess_sets, score and status_for give it
    one by one: random households, halves and edges included, under four scoring files."""
    import random

    import numpy as np

    from registry.resources import hooks
    from registry.resources.scoring import PLAIN_COLUMNS, assess_plain

    sets = (
        IndicatorSet("a", "A", 3, MappingProxyType({"income": 2, "health": 1, "labour": 4})),
        IndicatorSet("b", "B", 1, MappingProxyType({"housing_safety": 1, "food_security": 1})),
    )
    if which == "extras_only":
        sets += (IndicatorSet("c", "C", 5, MappingProxyType({"broadband": 1})),)
    config = {
        "bundled": ScoringConfig.load(),
        "guizhou": ScoringConfig.load(GUIZHOU),
    }.get(which) or ScoringConfig(MappingProxyType({}), 500_000, sets=sets)
    rng = random.Random(which)
    rows = []
    for n in range(5_000):
        members = rng.randint(1, 12)
        row = {name: rng.choice([0, 50, 100, rng.randint(0, 100)]) for name in PLAIN_COLUMNS}
        row |= {"members": members, "labour_force": rng.randint(0, members)}
        row["income_per_capita_fen"] = rng.choice([0, 250_000, 500_000, n * 137, 10**12])
        rows.append(row)
    table = np.array([[row[c] for c in PLAIN_COLUMNS] for row in rows], dtype=np.float64)
    scores, statuses, names, subs = assess_plain(table, config)
    for row, got in zip(rows, zip(scores, statuses, subs, strict=True), strict=True):
        score_, status, sets_ = hooks.assess(row, config, ever_lifted_out=False)
        assert got == (score_, int(status), tuple(sets_.values()))
        assert names == tuple(sets_)
    assert len(set(scores)) > 20  # the rows spread over the scale
