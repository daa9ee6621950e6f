"""The bundled Zhao'an → Jieyang scenario (诏安青梅 → 揭阳加工厂), built deterministically.

In 2020 green plums (青梅) from the mountain towns of Zhao'an county (诏安县, Fujian, code
350624) went unsold while plum processing plants in Jieyang (揭阳, Guangdong: Puning 普宁 and
Jiexi 揭西) were short of fruit. Town names are real; coordinates are approximate; households,
quantities and prices are synthetic but of a realistic order of magnitude.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fupin.registry.v1 import resources_pb2 as pb

ZHAOAN_COUNTY = "350624"
SEASON = ("2020-05-01", "2020-06-15")

# (pinyin, hanzi, town code, latitude, longitude, plum-growing villages)
TOWNS = [
    ("Guanpi", "官陂镇", "104", 24.06, 117.02, 4),
    ("Xiage", "霞葛镇", "105", 24.02, 117.08, 3),
    ("Xiuzhuan", "秀篆镇", "106", 24.10, 117.13, 4),
    ("Taiping", "太平镇", "103", 23.88, 117.06, 3),
    ("Hongxing", "红星乡", "201", 23.92, 117.19, 2),
    ("Jinxing", "金星乡", "203", 23.79, 117.14, 2),
    ("Baiyang", "白洋乡", "202", 23.84, 117.24, 2),
]
# (name, kind, county code, latitude, longitude)
BUYERS = [
    ("Puning Liusha plum plant (普宁流沙)", pb.PROCESSING_PLANT, "445281", 23.30, 116.17),
    ("Puning Zhanlong fruit plant (普宁占陇)", pb.PROCESSING_PLANT, "445281", 23.35, 116.25),
    ("Jiexi Hepo plum winery (揭西河婆)", pb.PROCESSING_PLANT, "445222", 23.43, 115.84),
    ("Jiexi Jinhe dried-plum plant (揭西金和)", pb.PROCESSING_PLANT, "445222", 23.39, 115.95),
    ("E-commerce platform, Shantou warehouse", pb.ECOMMERCE_PLATFORM, "440507", 23.37, 116.71),
    ("Xiamen university canteens (消费扶贫)", pb.CANTEEN, "350203", 24.44, 118.10),
]


# (buyer index, grades, min t, max t, price fen/kg, deliver by, max km) for the 2020 season
ORDERS = [
    (0, ("A", "B", "C"), 0, 120, 230, "2020-06-10", 0),
    (0, ("B", "C"), 20, 60, 210, "2020-06-05", 0),
    (1, ("A", "B", "C"), 0, 90, 225, "2020-06-12", 0),
    (2, ("A", "B"), 0, 70, 240, "2020-06-08", 0),
    (3, ("B", "C"), 0, 60, 215, "2020-06-15", 0),
    (4, ("A",), 0, 15, 350, "2020-05-30", 400),
    (5, ("A", "B"), 0, 8, 300, "2020-06-05", 0),
]


@dataclass
class Scenario:
    villages: list[pb.Village] = field(default_factory=list)
    households: list[pb.Household] = field(default_factory=list)  # village_id = village index
    buyers: list[pb.Buyer] = field(default_factory=list)
    # Producers refer to households by index: household_id / members' household_id hold it.
    producers: list[pb.Producer] = field(default_factory=list)
    listings: list[pb.Listing] = field(default_factory=list)  # producer_id = producer index
    orders: list[pb.Order] = field(default_factory=list)  # buyer_id = buyer index


def build(seed: int = 2020, households_per_village: int = 14) -> Scenario:
    """Villages, filed households and buyers; references are list indices until loaded."""
    rng = random.Random(seed)
    scenario = Scenario()
    for town, hanzi, code, lat, lng, n_villages in TOWNS:
        for v in range(n_villages):
            scenario.villages.append(
                pb.Village(
                    display_name=f"{town} village {v + 1} ({hanzi})",
                    admin_code=f"{ZHAOAN_COUNTY}{code}{v + 1:03d}",
                    location=pb.LatLng(
                        latitude=lat + rng.uniform(-0.03, 0.03),
                        longitude=lng + rng.uniform(-0.03, 0.03),
                    ),
                    poverty_status=pb.VILLAGE_POOR if rng.random() < 0.6 else pb.VILLAGE_DELISTED,
                    needs=["ecommerce", "agronomy"],
                )
            )
    for index in range(len(scenario.villages)):
        for h in range(households_per_village):
            scenario.households.append(_household(rng, index, h))
    for name, kind, county, lat, lng in BUYERS:
        scenario.buyers.append(
            pb.Buyer(
                display_name=name,
                kind=kind,
                county_code=county,
                location=pb.LatLng(latitude=lat, longitude=lng),
            )
        )
    _growers(rng, scenario)
    for buyer, grades, low, high, price, deliver_by, km in ORDERS:
        scenario.orders.append(
            pb.Order(
                buyer_id=str(buyer),
                product="green_plum",
                accepted_grades=list(grades),
                min_quantity_kg=low * 1000,
                max_quantity_kg=high * 1000,
                price_fen=price,
                deliver_by=deliver_by,
                max_distance_km=km,
            )
        )
    return scenario


def _growers(rng: random.Random, scenario: Scenario) -> None:
    """Household growers selling alone, and one cooperative per town of the others."""
    members: dict[int, list[int]] = {}
    for index, household in enumerate(scenario.households):
        village = int(household.village_id)
        if rng.random() < 0.65:
            location = scenario.villages[village].location
            scenario.producers.append(
                pb.Producer(
                    kind=pb.PRODUCER_HOUSEHOLD,
                    display_name=f"Grower {household.card_number}",
                    household_id=str(index),
                    location=location,
                )
            )
            _listing(rng, scenario, rng.randint(5, 40) * 100)
        else:
            members.setdefault(village // 3, []).append(index)
    for town, indices in sorted(members.items()):
        shares = _shares(len(indices))
        village = int(scenario.households[indices[0]].village_id)
        scenario.producers.append(
            pb.Producer(
                kind=pb.PRODUCER_COOPERATIVE,
                display_name=f"{TOWNS[min(town, len(TOWNS) - 1)][0]} green plum cooperative",
                members=[
                    pb.CooperativeMember(household_id=str(i), share_permille=share)
                    for i, share in zip(indices, shares, strict=True)
                ],
                location=scenario.villages[village].location,
            )
        )
        _listing(rng, scenario, len(indices) * rng.randint(12, 25) * 100)


def _listing(rng: random.Random, scenario: Scenario, kg: int) -> None:
    grade = rng.choices(["A", "B", "C"], weights=[3, 5, 2])[0]
    floor = {"A": 170, "B": 150, "C": 120}[grade] + rng.randint(-20, 30)
    start = rng.randint(1, 20)
    scenario.listings.append(
        pb.Listing(
            producer_id=str(len(scenario.producers) - 1),
            product="green_plum",
            grade=grade,
            quantity_kg=kg,
            floor_price_fen=floor,
            available_from=f"2020-05-{start:02d}",
            available_until=f"2020-05-{min(start + 14, 31):02d}",
            shelf_life_days=rng.randint(6, 10),
        )
    )


def _shares(n: int) -> list[int]:
    """n shares in permille summing to 1000."""
    base = [1000 // n] * n
    base[0] += 1000 - sum(base)
    return base


def _household(rng: random.Random, village: int, n: int) -> pb.Household:
    members = rng.randint(2, 7)
    poor = rng.random() < 0.55
    base = rng.randint(25, 65) if poor else rng.randint(60, 95)
    causes = rng.sample(
        [pb.ILLNESS, pb.LACK_OF_TECHNOLOGY, pb.POOR_TRANSPORT, pb.LACK_OF_CAPITAL, pb.EDUCATION],
        k=rng.randint(1, 2),
    )
    return pb.Household(
        village_id=str(village),
        card_number=f"{ZHAOAN_COUNTY}-{village:03d}-{n:04d}",
        head_name=f"Household {village:03d}-{n:04d}",
        members=members,
        labour_force=rng.randint(0 if poor else 1, members),
        indicators=pb.HouseholdIndicators(
            housing_safety=min(100, base + rng.randint(-15, 15)),
            food_security=min(100, base + rng.randint(0, 25)),
            children_schooling=min(100, base + rng.randint(0, 30)),
            health=max(0, min(100, base + rng.randint(-30, 10))),
            disability=100 if rng.random() < 0.85 else rng.randint(30, 70),
            income_per_capita_fen=int(base * rng.uniform(6_000, 10_000)),
        ),
        causes=causes,
    )
