"""Names beside ids: the village, buyer, cadre, programme or producer a table row refers to.

A `Names` asks the registry for the resources a page of rows names, one BatchGetResources call
per kind per page (never one call per row), and remembers the answers for the next page. What
the caller may not read (a platform's key and households, an office's and another county)
stays an id alone; masked names arrive masked, as the server masks them for the key's role.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from google.protobuf.message import Message

from clients.client import (
    AID_PROGRAMS,
    BUYERS,
    CADRES,
    HOUSEHOLDS,
    LISTINGS,
    ORDERS,
    PRODUCERS,
    VILLAGES,
    Kind,
    RegistryClient,
)
from clients.errors import FupinClientError

M = TypeVar("M", bound=Message)

# The field that names a resource of each kind.
NAME_FIELD: Mapping[str, str] = MappingProxyType(
    {
        VILLAGES.plural: "display_name",
        HOUSEHOLDS.plural: "head_name",
        PRODUCERS.plural: "display_name",
        BUYERS.plural: "display_name",
        CADRES.plural: "display_name",
        AID_PROGRAMS.plural: "display_name",
        LISTINGS.plural: "product",
        ORDERS.plural: "product",
    }
)
# Kinds a person knows by whose they are: a listing by its producer, an order by its buyer.
OWNERS: Mapping[str, tuple[str, Kind[Any]]] = MappingProxyType(
    {LISTINGS.plural: ("producer_id", PRODUCERS), ORDERS.plural: ("buyer_id", BUYERS)}
)


class Names:
    """id -> name per kind, read in batches from a registry; {} where it cannot be read."""

    def __init__(self, registry: RegistryClient | None) -> None:
        self.registry = registry
        self._known: dict[str, dict[str, str]] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._refused: set[str] = set()

    def load(self, kind: Kind[Any], ids: Iterable[str]) -> None:
        """Read the names of the ids not yet known, in one call per 1,000 ids."""
        known = self._known.setdefault(kind.plural, {})
        missing = {i for i in ids if i and i not in known}
        if not missing or self.registry is None or kind.plural in self._refused:
            return
        try:
            found = self.registry.batch_get(kind, missing)
        except FupinClientError:  # this key may not read the kind (or no registry there)
            self._refused.add(kind.plural)
            return
        field = NAME_FIELD[kind.plural]
        self._records.setdefault(kind.plural, {}).update(found)
        for resource_id in missing:
            item = found.get(resource_id)
            known[resource_id] = str(getattr(item, field)) if item is not None else ""

    def name(self, kind: Kind[Any], resource_id: str) -> str:
        """The name, once loaded; "" when unknown, unreadable or not loaded."""
        return self._known.get(kind.plural, {}).get(resource_id, "")

    def of(self, kind: Kind[Any], ids: Iterable[str]) -> dict[str, str]:
        """id -> name for these ids ("" where unknown or unreadable), loading them first."""
        ids = list(ids)
        self.load(kind, ids)
        return {i: self.name(kind, i) for i in ids}

    def records(self, kind: Kind[M], ids: Iterable[str]) -> dict[str, M]:
        """The resources themselves (those the key may read), loading them first."""
        ids = list(ids)
        self.load(kind, ids)
        held = self._records.get(kind.plural, {})
        return {i: held[i] for i in ids if i in held}

    def load_parties(self, kind: Kind[Any], ids: Iterable[str]) -> None:
        """Load what `party` answers: the names, or for a listing or an order its owner's
        (one call for the listings or orders, one for their producers or buyers)."""
        owner = OWNERS.get(kind.plural)
        if owner is None:
            self.load(kind, ids)
            return
        field, owner_kind = owner
        self.load(owner_kind, (getattr(r, field) for r in self.records(kind, ids).values()))

    def party(self, kind: Kind[Any], resource_id: str) -> str:
        """Who an id stands for: its name, or for a listing or an order its producer's or
        buyer's name; "" when unknown, unreadable or not loaded."""
        owner = OWNERS.get(kind.plural)
        if owner is None:
            return self.name(kind, resource_id)
        field, owner_kind = owner
        record = self._records.get(kind.plural, {}).get(resource_id)
        return self.name(owner_kind, getattr(record, field)) if record is not None else ""
