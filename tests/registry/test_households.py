"""Household file cards: score, status thresholds, history, return to poverty, watchlist."""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.resources.scoring import Indicators, ScoringConfig, score
from tests import factories

# Indicator sets whose scores, by the default weights, are easy to check by hand:
# all sub-scores equal to s (income s% of 8,000 yuan, labour s% of members) score s.


def uniform(s: int) -> pb.HouseholdIndicators:
    return factories.indicators(
        housing_safety=s,
        food_security=s,
        children_schooling=s,
        health=s,
        disability=s,
        income_per_capita_fen=800_000 * s // 100,
    )


def reassess(stub, household, s: int, reason: str = "annual review") -> pb.Household:
    patch = pb.Household(
        id=household.id,
        indicators=uniform(s),
        labour_force=household.members * s // 100,
        assessment_reason=reason,
    )
    mask = field_mask_pb2.FieldMask(paths=["indicators", "labour_force"])
    return stub.UpdateHousehold(api.UpdateHouseholdRequest(household=patch, update_mask=mask))


def test_score_is_the_weighted_mean():
    """Equal sub-scores give that score; the weights come from the config file."""
    config = ScoringConfig.load()
    assert score(Indicators(50, 50, 50, 50, 50, 400_000, 4, 2), config) == 50
    assert score(Indicators(100, 100, 100, 100, 100, 10**9, 4, 4), config) == 100
    assert score(Indicators(0, 0, 0, 0, 0, 0, 4, 0), config) == 0


def test_status_follows_thresholds(registry):
    """Below 60 impoverished, 60-80 at risk, 80 and above lifted out."""
    village = factories.create_village(registry)
    got = {}
    for s in (59, 60, 79, 80):
        hh = factories.create_household(
            registry, village.id, members=100, labour_force=s, indicators=uniform(s)
        )
        got[s] = (hh.score, hh.status)
    assert got == {
        59: (59, pb.IMPOVERISHED),
        60: (60, pb.AT_RISK),
        79: (79, pb.AT_RISK),
        80: (80, pb.LIFTED_OUT),
    }


def test_history_and_return_to_poverty(registry):
    """Lifted out, then falling below 60, is RETURNED_TO_POVERTY; every change is kept."""
    village = factories.create_village(registry)
    hh = factories.create_household(
        registry, village.id, members=100, labour_force=40, indicators=uniform(40)
    )
    hh = reassess(registry, hh, 85, "cooperative income")
    assert hh.status == pb.LIFTED_OUT and hh.previous_score == 40
    hh = reassess(registry, hh, 50, "illness")
    assert hh.status == pb.RETURNED_TO_POVERTY
    history = [(c.old_status, c.new_status, c.score, c.reason) for c in hh.history]
    assert history == [
        (pb.HOUSEHOLD_STATUS_UNSPECIFIED, pb.IMPOVERISHED, 40, "filed"),
        (pb.IMPOVERISHED, pb.LIFTED_OUT, 85, "cooperative income"),
        (pb.LIFTED_OUT, pb.RETURNED_TO_POVERTY, 50, "illness"),
    ]


def test_same_status_adds_no_history(registry):
    """A reassessment that keeps the status records no change."""
    village = factories.create_village(registry)
    hh = factories.create_household(
        registry, village.id, members=100, labour_force=30, indicators=uniform(30)
    )
    hh = reassess(registry, hh, 35)
    assert len(hh.history) == 1 and hh.previous_score == 30


def test_watchlist_reasons(registry):
    """Near a threshold while at risk or lifted out, or a big drop, puts a household on watch."""
    village = factories.create_village(registry)

    def filed(s: int) -> pb.Household:
        return factories.create_household(
            registry, village.id, members=100, labour_force=s, indicators=uniform(s)
        )

    near_upper = filed(82)  # lifted out, 2 above 80
    near_lower = filed(63)  # at risk, 3 above 60
    safe = filed(95)  # lifted out, far from both
    poor = filed(58)  # impoverished: not on watch for nearness
    dropped = reassess(registry, filed(95), 83)  # fell 12 > 10 and near 80
    entries = registry.ListWatchlist(api.ListWatchlistRequest()).entries
    got = {e.household.id: (list(e.reasons), e.score_change) for e in entries}
    assert got == {
        near_upper.id: ([api.NEAR_UPPER_THRESHOLD], 0),
        near_lower.id: ([api.NEAR_LOWER_THRESHOLD], 0),
        dropped.id: ([api.NEAR_UPPER_THRESHOLD, api.SCORE_DROPPED], -12),
    }
    assert safe.id not in got and poor.id not in got
