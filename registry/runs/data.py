"""The plain records that RegistrySource carries between the matcher and the registry, in one
process or over gRPC: what a run reads (open supply, aid inputs, cadre data) and what it
stores (allocations, grants, commit items). No database here, so the matcher's service side can
name them without reaching the registry's tables.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


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
    shares: tuple[tuple[int, int], ...]  # (HouseholdStatus value, permille); () = not poor


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
