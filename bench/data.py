"""Synthetic registry data for benchmarks and manual checks: villages and a households CSV.

    python bench/data.py --target 127.0.0.1:50051 --rows 100000 --out var/households.csv
    python bench/data.py ... --bad-row 50000   # the same rows, one of them invalid

creates the villages through the API (they must exist before households refer to them) and
writes the households CSV in the layout of clients/csvio.py. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from clients import csvio
from clients.client import VILLAGES, RegistryClient
from fupin.registry.v1 import resources_pb2 as pb

COUNTY = "350624"  # Zhao'an, Fujian
CAUSES = [v for v in pb.PovertyCause.values() if v != 0]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑"


def villages(count: int, seed: int = 1) -> list[pb.Village]:
    rng = random.Random(seed)
    base = rng.randrange(0, 900_000)
    return [
        pb.Village(
            display_name=f"Bench village {i}",
            admin_code=f"{COUNTY}{base + i:06d}",
            location=pb.LatLng(
                latitude=23.7 + rng.random() * 0.5, longitude=117.0 + rng.random() * 0.3
            ),
            poverty_status=pb.VILLAGE_POOR,
            needs=["ecommerce"],
        )
        for i in range(count)
    ]


def households(village_ids: Sequence[str], count: int, seed: int = 1) -> Iterator[pb.Household]:
    """count valid households spread over the villages; card numbers unique per seed."""
    rng = random.Random(seed)
    for i in range(count):
        members = rng.randint(1, 7)
        yield pb.Household(
            village_id=village_ids[i % len(village_ids)],
            card_number=f"B{seed:04d}-{i:09d}",
            head_name=f"{rng.choice(SURNAMES)}{i}",
            members=members,
            labour_force=rng.randint(0, members),
            indicators=pb.HouseholdIndicators(
                housing_safety=rng.randint(0, 100),
                food_security=rng.randint(20, 100),
                children_schooling=rng.randint(30, 100),
                health=rng.randint(0, 100),
                disability=rng.choice([100, 100, 100, 60, 20]),
                income_per_capita_fen=rng.randint(100_000, 1_500_000),
            ),
            causes=rng.sample(CAUSES, rng.randint(1, 3)),
        )


def write_households_csv(
    path: Path, village_ids: Sequence[str], count: int, *, seed: int = 1, bad_row: int = -1
) -> Path:
    """Write the CSV; row bad_row (if >= 0) gets health 101, which the server rejects."""

    def rows() -> Iterator[pb.Household]:
        for i, row in enumerate(households(village_ids, count, seed)):
            if i == bad_row:
                row.indicators.health = 101
            yield row

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        csvio.write("households", rows(), out)
    return path


def create_villages(client: RegistryClient, count: int, seed: int = 1) -> list[str]:
    """Create the villages (idempotently: request ids derive from the seed); returns their ids."""
    return [
        client.create(VILLAGES, v, request_id=f"bench-village-{seed}-{i}").id
        for i, v in enumerate(villages(count, seed))
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--villages", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bad-row", type=int, default=-1)
    parser.add_argument("--out", type=Path, default=Path("var/households.csv"))
    args = parser.parse_args(argv)
    with RegistryClient(args.target) as client:
        village_ids = create_villages(client, args.villages, args.seed)
    write_households_csv(args.out, village_ids, args.rows, seed=args.seed, bad_row=args.bad_row)
    sys.stderr.write(f"wrote {args.rows:,} households in {len(village_ids)} villages: {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
