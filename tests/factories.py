"""Valid registry objects for tests: every field set, overridable by keyword."""

from __future__ import annotations

import itertools
from typing import Any

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb

_seq = itertools.count(1)

# Zhao'an county (诏安县), Fujian: GB/T 2260 code 350624.
ZHAOAN = "350624"
# Puning (普宁市) and Jiexi (揭西县), Jieyang, Guangdong.
PUNING, JIEXI = "445281", "445222"


def village(**kw: Any) -> pb.Village:
    n = next(_seq)
    fields: dict[str, Any] = {
        "display_name": f"Village {n}",
        "admin_code": f"{ZHAOAN}{n % 1000:03d}{n // 1000 % 1000:03d}",
        "location": pb.LatLng(latitude=23.71, longitude=117.18),
        "poverty_status": pb.VILLAGE_POOR,
        "needs": ["ecommerce"],
    }
    fields.update(kw)
    return pb.Village(**fields)


def indicators(**kw: Any) -> pb.HouseholdIndicators:
    fields: dict[str, Any] = {
        "housing_safety": 40,
        "food_security": 60,
        "children_schooling": 70,
        "health": 50,
        "disability": 100,
        "income_per_capita_fen": 350_000,
    }
    fields.update(kw)
    return pb.HouseholdIndicators(**fields)


def household(village_id: str, **kw: Any) -> pb.Household:
    n = next(_seq)
    fields: dict[str, Any] = {
        "village_id": village_id,
        "card_number": f"3506240{n:09d}",
        "head_name": f"Head {n}",
        "members": 4,
        "labour_force": 2,
        "indicators": indicators(),
        "causes": [pb.LACK_OF_TECHNOLOGY, pb.ILLNESS],
    }
    fields.update(kw)
    return pb.Household(**fields)


def buyer(**kw: Any) -> pb.Buyer:
    fields: dict[str, Any] = {
        "kind": pb.PROCESSING_PLANT,
        "display_name": "Puning plum plant",
        "county_code": PUNING,
        "location": pb.LatLng(latitude=23.30, longitude=116.17),
    }
    fields.update(kw)
    return pb.Buyer(**fields)


def producer_for(household_id: str, **kw: Any) -> pb.Producer:
    fields: dict[str, Any] = {
        "kind": pb.PRODUCER_HOUSEHOLD,
        "display_name": "Plum grower",
        "household_id": household_id,
        "location": pb.LatLng(latitude=23.72, longitude=117.17),
    }
    fields.update(kw)
    return pb.Producer(**fields)


def cooperative(village_id: str, shares: dict[str, int], **kw: Any) -> pb.Producer:
    """A cooperative of these member households (household id -> share permille)."""
    fields: dict[str, Any] = {
        "kind": pb.PRODUCER_COOPERATIVE,
        "display_name": "Plum cooperative",
        "village_id": village_id,
        "location": pb.LatLng(latitude=23.72, longitude=117.17),
        "members": [
            pb.CooperativeMember(household_id=hh, share_permille=share)
            for hh, share in shares.items()
        ],
    }
    fields.update(kw)
    return pb.Producer(**fields)


def listing(producer_id: str, **kw: Any) -> pb.Listing:
    fields: dict[str, Any] = {
        "producer_id": producer_id,
        "product": "green_plum",
        "grade": "A",
        "quantity_kg": 5_000,
        "floor_price_fen": 180,
        "available_from": "2020-05-01",
        "available_until": "2020-05-31",
        "shelf_life_days": 10,
    }
    fields.update(kw)
    return pb.Listing(**fields)


def order(buyer_id: str, **kw: Any) -> pb.Order:
    fields: dict[str, Any] = {
        "buyer_id": buyer_id,
        "product": "green_plum",
        "accepted_grades": ["A", "B"],
        "min_quantity_kg": 0,
        "max_quantity_kg": 20_000,
        "price_fen": 260,
        "deliver_by": "2020-06-10",
    }
    fields.update(kw)
    return pb.Order(**fields)


def cadre(**kw: Any) -> pb.Cadre:
    n = next(_seq)
    fields: dict[str, Any] = {
        "display_name": f"Cadre {n}",
        "rank": pb.SECTION_CHIEF,
        "skills": ["agronomy"],
        "home_unit": "Zhangzhou agriculture bureau",
        "location": pb.LatLng(latitude=24.51, longitude=117.65),
        "max_distance_km": 200,
        "available": True,
    }
    fields.update(kw)
    return pb.Cadre(**fields)


def aid_program(**kw: Any) -> pb.AidProgram:
    fields: dict[str, Any] = {
        "display_name": "Medical aid 2020",
        "kind": pb.MEDICAL_AID,
        "budget_fen": 10_000_000,
        "amount_fen": 200_000,
        "causes": [pb.ILLNESS],
        "eligible_statuses": [pb.IMPOVERISHED, pb.AT_RISK],
        "region_code": ZHAOAN,
    }
    fields.update(kw)
    return pb.AidProgram(**fields)


def create_village(stub: Any, **kw: Any) -> pb.Village:
    return stub.CreateVillage(api.CreateVillageRequest(village=village(**kw)))


def create_household(stub: Any, village_id: str, **kw: Any) -> pb.Household:
    return stub.CreateHousehold(api.CreateHouseholdRequest(household=household(village_id, **kw)))
