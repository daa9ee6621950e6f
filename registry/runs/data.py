"""The plain records that RegistrySource carries between the matcher and the registry, in one
process or over gRPC: what a run reads (open supply, aid inputs, cadre data) and what it
stores (allocations, grants, commit items). No database here, so the matcher's service side can
name them without reaching the registry's tables.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

Shares = tuple[tuple[int, int], ...]  # (HouseholdStatus value, permille); () = not poor


@dataclass(frozen=True)
class OpenListing:
    id: str
    producer_id: str
    product: str
    grade: str
    available_kg: int  # quantity less what committed runs reserved
    floor_price_fen: int
    latitude: float
    longitude: float
    available_from: str
    available_until: str
    shelf_life_days: int
    shares: Shares


def share_codes(of_listing: Sequence[Shares]) -> tuple[npt.NDArray[np.int64], tuple[Shares, ...]]:
    """Each listing's shares as a code into the distinct shares, in order of first appearance
    (OpenListingColumns.share_kind and share_kinds)."""
    kinds = tuple(dict.fromkeys(of_listing))
    code = {k: i for i, k in enumerate(kinds)}
    return np.fromiter(map(code.__getitem__, of_listing), np.int64, len(of_listing)), kinds


@dataclass(frozen=True, eq=False)
class OpenListingColumns:
    """Open listings as columns, element i of each being one listing (OpenListing's fields),
    in id order: a registry selection of a million listings read with no object per listing.
    A listing's shares are `share_kinds[share_kind[i]]`: the distinct shares, in order of first
    appearance."""

    id: list[str]
    producer_id: list[str]
    product: list[str]
    grade: list[str]
    available_kg: npt.NDArray[np.int64]
    floor_price_fen: npt.NDArray[np.int64]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    available_from: list[str]
    available_until: list[str]
    shelf_life_days: npt.NDArray[np.int64]
    share_kind: npt.NDArray[np.int64]
    share_kinds: tuple[Shares, ...]

    def __len__(self) -> int:
        return len(self.id)

    @staticmethod
    def of(listings: Sequence[OpenListing]) -> OpenListingColumns:
        """The columns of records (what open_listing_columns reads, from open_listings')."""
        share_kind, share_kinds = share_codes([x.shares for x in listings])

        def column(name: str, dtype: Any = None) -> Any:
            values = [getattr(x, name) for x in listings]
            return values if dtype is None else np.array(values, dtype).reshape(-1)

        return OpenListingColumns(
            id=column("id"),
            producer_id=column("producer_id"),
            product=column("product"),
            grade=column("grade"),
            available_kg=column("available_kg", np.int64),
            floor_price_fen=column("floor_price_fen", np.int64),
            latitude=column("latitude", np.float64),
            longitude=column("longitude", np.float64),
            available_from=column("available_from"),
            available_until=column("available_until"),
            shelf_life_days=column("shelf_life_days", np.int64),
            share_kind=share_kind,
            share_kinds=share_kinds,
        )

    def records(self) -> list[OpenListing]:
        """The listings as records (for a few: a test, a small selection)."""
        numbers = (self.available_kg, self.floor_price_fen, self.latitude, self.longitude)
        kg, floor, lat, lng = (c.tolist() for c in numbers)
        shelf = self.shelf_life_days.tolist()
        shares = [self.share_kinds[k] for k in self.share_kind.tolist()]
        return list(
            map(
                OpenListing,
                self.id, self.producer_id, self.product, self.grade, kg, floor, lat, lng,
                self.available_from, self.available_until, shelf, shares,
            )
        )  # fmt: skip


@dataclass(frozen=True)
class OpenOrder:
    id: str
    buyer_id: str
    product: str
    accepted_grades: tuple[str, ...]
    min_quantity_kg: int
    open_kg: int  # max quantity less what is filled
    price_fen: int
    latitude: float
    longitude: float
    deliver_by: str
    max_distance_km: float


class RunState(enum.IntEnum):
    """Mirrors fupin.matcher.v1.RunState."""

    QUEUED = 1
    RUNNING = 2
    PROPOSED = 3
    COMMITTED = 4
    DISCARDED = 5
    FAILED = 6
    CANCELLED = 7


ACTIVE = (RunState.QUEUED, RunState.RUNNING)  # not yet ended


@dataclass(frozen=True)
class Allocation:
    listing_id: str
    order_id: str
    kg: int


@dataclass(frozen=True)
class AidHouseholdRecord:
    id: str
    village_code: str  # the village's 12-digit administrative code
    status: int  # fupin.registry.v1.HouseholdStatus
    score: int
    causes: tuple[int, ...]  # fupin.registry.v1.PovertyCause values


@dataclass(frozen=True)
class AidProgrammeRecord:
    id: str
    budget_fen: int
    spent_fen: int
    amount_fen: int  # fixed amount, or the maximum of a range
    min_amount_fen: int  # 0: a fixed amount
    step_fen: int
    causes: tuple[int, ...]
    eligible_statuses: tuple[int, ...]
    region_code: str


@dataclass(frozen=True)
class AidInputs:
    households: list[AidHouseholdRecord]
    programmes: list[AidProgrammeRecord]
    held: list[tuple[str, str]]  # (household, programme) granted before, per the ledger


@dataclass(frozen=True)
class GrantRecord:
    household_id: str
    programme_id: str
    amount_fen: int


INLINE = -1  # cadre_version of the one item an inline run stores: nothing to commit


@dataclass(frozen=True)
class CadreRow:
    id: str
    rank: int
    skills: tuple[str, ...]
    home_unit: str
    latitude: float
    longitude: float
    max_distance_km: float
    current_village_id: str | None
    pinned: bool
    version: int
    contract_quota: int | None = None  # effort units; None = the rank's quota


@dataclass(frozen=True)
class VillageRow:
    id: str
    latitude: float
    longitude: float
    needs: tuple[str, ...]
    household_causes: tuple[tuple[int, ...], ...]  # PovertyCause values of its poor households


@dataclass(frozen=True)
class StationingData:
    villages: tuple[VillageRow, ...]
    cadres: tuple[CadreRow, ...]


@dataclass(frozen=True)
class HouseholdRow:
    id: str
    village_id: str
    latitude: float  # the village's
    longitude: float
    status: int
    causes: int


@dataclass(frozen=True)
class ContractingData:
    """Cadres located where they are stationed (else at their home unit)."""

    cadres: tuple[CadreRow, ...]
    households: tuple[HouseholdRow, ...]


@dataclass(frozen=True)
class CadreItem:
    """One cadre a run would change: a posting (``village_id``, "" = released) or a contract
    (``household_id``), with the cadre's version as the run read it."""

    cadre_id: str
    cadre_version: int
    village_id: str = ""
    household_id: str = ""


@dataclass(frozen=True)
class HeldKg:
    """Kilograms of one listing: asked for by a checkout, or held for it."""

    listing_id: str
    kg: int


@dataclass(frozen=True)
class HoldTerms:
    """The checkout's order, kept with its hold: what a confirmation fills. order_id names a
    registry order of the caller's buyer to fill; "" makes a new one from these terms."""

    product: str
    accepted_grades: tuple[str, ...]
    price_fen: int
    deliver_by: str
    order_id: str = ""


@dataclass(frozen=True)
class HoldRecord:
    """A checkout hold (registry/season/holds.py) as the matcher answers it."""

    id: str
    buyer_id: str
    state: int  # fupin.registry.v1.HoldState
    kg: int
    items: tuple[HeldKg, ...]
    expire_time: datetime
    create_time: datetime
    order_id: str = ""
    run_id: str = ""
