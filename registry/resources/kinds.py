"""One spec per registry resource: its table, message, conversions, filters and references.

The store and the servicer are generic over these specs, so the eight resources share one
implementation of Create/Get/List/Update/Delete.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message

from fupin.registry.v1 import resources_pb2 as pb
from registry.resources import convert, convert_household, models
from registry.resources.checks import Checker
from registry.resources.filters import FilterField, declare

# A filter field's type: str, int, bool, or a proto enum (names or numbers accepted).
FilterType = type | EnumTypeWrapper
OUTPUT_ONLY = frozenset({"id", "create_time", "update_time", "etag"})


@dataclass(frozen=True)
class Record:
    """A row with what belongs to it (a household's history, a cooperative's members)."""

    row: models.Resource
    related: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Kind:
    name: str  # singular snake_case, as in request fields ("aid_program")
    plural: str  # as in List responses ("aid_programs")
    id_prefix: str
    table: type[models.Resource]
    message: type[Message]
    values: Callable[[Any, Checker], dict[str, Any]]
    proto: Callable[[Record], Message]
    filters: Mapping[str, FilterField]  # filter field -> (column, type, repeated)
    references: Mapping[str, type[models.Resource]] = field(default_factory=dict)
    unique: tuple[str, ...] = ()
    output_only: frozenset[str] = OUTPUT_ONLY

    def to_values(self, message: Any, prefix: str = "") -> tuple[dict[str, Any], Checker]:
        checker = Checker(prefix)
        return self.values(message, checker), checker


def _simple(fn: Callable[[Any], Message]) -> Callable[[Record], Message]:
    return lambda record: fn(record.row)


def _frozen(**kwargs: tuple[str, FilterType] | FilterField) -> Mapping[str, FilterField]:
    return MappingProxyType({name: declare(spec) for name, spec in kwargs.items()})


VILLAGE = Kind(
    name="village",
    plural="villages",
    id_prefix="vil",
    table=models.Village,
    message=pb.Village,
    values=convert.village_values,
    proto=_simple(convert.village_proto),
    filters=_frozen(
        county_code=("county_code", str),
        poverty_status=("poverty_status", pb.VillagePovertyStatus),
    ),
    unique=("admin_code",),
    output_only=OUTPUT_ONLY | {"county_code"},
)
HOUSEHOLD = Kind(
    name="household",
    plural="households",
    id_prefix="hh",
    table=models.Household,
    message=pb.Household,
    values=convert_household.household_values,
    proto=lambda r: convert_household.household_proto(r.row, list(r.related)),  # type: ignore[arg-type]
    filters=_frozen(
        village_id=("village_id", str),
        county_code=("county_code", str),
        status=("status", pb.HouseholdStatus),
        score=("score", int),
        causes=FilterField("causes", pb.PovertyCause, repeated=True),
        members=("members", int),
        labour_force=("labour_force", int),
        **{
            f"indicators.{name}": (name, int)
            for name in (*convert_household.INDICATOR_FIELDS, "income_per_capita_fen")
        },
    ),
    references=MappingProxyType({"village_id": models.Village}),
    unique=("card_number",),
    output_only=OUTPUT_ONLY
    | {"score", "status", "previous_score", "history", "county_code", "set_scores"},
)
PRODUCER = Kind(
    name="producer",
    plural="producers",
    id_prefix="pro",
    table=models.Producer,
    message=pb.Producer,
    values=convert.producer_values,
    proto=lambda r: convert.producer_proto(r.row, list(r.related)),  # type: ignore[arg-type]
    filters=_frozen(
        kind=("kind", pb.ProducerKind),
        village_id=("village_id", str),
        household_id=("household_id", str),
    ),
    references=MappingProxyType({"household_id": models.Household, "village_id": models.Village}),
)
LISTING = Kind(
    name="listing",
    plural="listings",
    id_prefix="lst",
    table=models.Listing,
    message=pb.Listing,
    values=convert.listing_values,
    proto=_simple(convert.listing_proto),
    filters=_frozen(
        producer_id=("producer_id", str), product=("product", str), grade=("grade", str)
    ),
    references=MappingProxyType({"producer_id": models.Producer}),
    output_only=OUTPUT_ONLY | {"reserved_kg"},
)
BUYER = Kind(
    name="buyer",
    plural="buyers",
    id_prefix="buy",
    table=models.Buyer,
    message=pb.Buyer,
    values=convert.buyer_values,
    proto=_simple(convert.buyer_proto),
    filters=_frozen(kind=("kind", pb.BuyerKind), county_code=("county_code", str)),
)
ORDER = Kind(
    name="order",
    plural="orders",
    id_prefix="ord",
    table=models.Order,
    message=pb.Order,
    values=convert.order_values,
    proto=_simple(convert.order_proto),
    filters=_frozen(buyer_id=("buyer_id", str), product=("product", str)),
    references=MappingProxyType({"buyer_id": models.Buyer}),
    output_only=OUTPUT_ONLY | {"filled_kg"},
)
CADRE = Kind(
    name="cadre",
    plural="cadres",
    id_prefix="cad",
    table=models.Cadre,
    message=pb.Cadre,
    values=convert.cadre_values,
    proto=_simple(convert.cadre_proto),
    filters=_frozen(
        rank=("rank", pb.CadreRank),
        home_unit=("home_unit", str),
        current_village_id=("current_village_id", str),
        available=("available", bool),
    ),
    references=MappingProxyType({"current_village_id": models.Village}),
)
AID_PROGRAM = Kind(
    name="aid_program",
    plural="aid_programs",
    id_prefix="aid",
    table=models.AidProgram,
    message=pb.AidProgram,
    values=convert.aid_program_values,
    proto=_simple(convert.aid_program_proto),
    filters=_frozen(
        kind=("kind", pb.AidKind), region_code=("region_code", str), archived=("archived", bool)
    ),
    output_only=OUTPUT_ONLY | {"spent_fen"},
)
KINDS = (VILLAGE, HOUSEHOLD, PRODUCER, LISTING, BUYER, ORDER, CADRE, AID_PROGRAM)
