"""How the matcher reaches the registry: the `RegistrySource` protocol.

The matcher service reads open supply and demand and keeps its runs through it, and through
nothing else of the registry. The server composes an implementation: `server.sources.
InProcessSource` calls the registry's store directly (one process: `fupin serve`);
`server.grpc_source.GrpcSource` calls the registry's internal service (the split deployment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from registry.access.policy import INTERNAL, Principal
from registry.resources.query import Page
from registry.runs.data import (
    AidHouseholdRecord,
    AidInputs,
    Allocation,
    CadreItem,
    ContractingData,
    GrantRecord,
    HeldKg,
    HoldRecord,
    HoldTerms,
    OpenListing,
    OpenListingColumns,
    OpenOrder,
    RunState,
    StationingData,
)
from registry.runs.scopes import EVERY, RunView

__all__ = [
    "AidHouseholdRecord",
    "AidInputs",
    "Allocation",
    "CadreItem",
    "ContractingData",
    "GrantRecord",
    "HeldKg",
    "HoldRecord",
    "HoldTerms",
    "OpenListing",
    "OpenListingColumns",
    "OpenOrder",
    "RegistrySource",
    "RunRecord",
    "RunState",
    "StationingData",
]


@dataclass(frozen=True)
class RunRecord:
    """A stored run, as the matcher sees it."""

    id: str
    kind: int
    state: int
    status: int
    parameters: bytes
    objective: int
    best_bound: float
    gap: float
    load_s: float
    build_s: float
    solve_s: float
    total_s: float
    error: str
    result: bytes
    owner: str
    scope: str
    create_time: Any
    update_time: Any
    version: int
    owner_key_id: str = ""  # the key that made it


class RegistrySource(Protocol):
    def open_listings(self, *, product: str, region_code: str, today: str) -> list[OpenListing]: ...

    # The same listings as columns: what a produce run reads (over gRPC, a stream of chunks).
    def open_listing_columns(
        self, *, product: str, region_code: str, today: str
    ) -> OpenListingColumns: ...

    def open_orders(self, *, product: str, today: str) -> list[OpenOrder]: ...

    def supply_generation(self) -> tuple[int, str]: ...

    def create_run(
        self,
        *,
        run_id: str,
        kind: int,
        parameters: bytes,
        owner: str,
        request_id: str,
        fingerprint: str,
        scope: str = "",
        owner_key_id: str = "",
    ) -> tuple[RunRecord, bool]: ...

    def update_run(
        self, run_id: str, *, allocations: Sequence[Allocation] = (), **fields: Any
    ) -> RunRecord: ...

    # `view`: the runs the caller may see (registry/runs/scopes.py); others are NOT_FOUND.
    def get_run(self, run_id: str, view: RunView = EVERY) -> RunRecord: ...

    def list_runs(
        self, *, page: Page, where: dict[str, Any], view: RunView = EVERY
    ) -> tuple[list[RunRecord], str]: ...

    def commit_produce(self, run_id: str, *, request_id: str, etag: str) -> RunRecord: ...

    # Idempotent by request_id, like the commits: a retry of the same discard replays it.
    def discard_run(self, run_id: str, *, etag: str, request_id: str = "") -> RunRecord: ...

    # A checkout hold (registry/season/holds.py hold_listings): reader is the caller, whose
    # buyer the hold is.
    def hold_listings(
        self,
        *,
        items: Sequence[HeldKg],
        terms: HoldTerms,
        minutes: int,
        reader: Principal,
        request_id: str,
        fingerprint: str,
    ) -> HoldRecord: ...

    # reader: the caller, whose scope narrows the programmes it may name (others: NOT_FOUND).
    def aid_inputs(
        self,
        *,
        region_code: str,
        programme_ids: Sequence[str],
        field: str,
        reader: Principal = INTERNAL,
    ) -> AidInputs: ...

    def store_grants(self, run_id: str, grants: Sequence[GrantRecord]) -> None: ...

    def commit_aid(self, run_id: str, *, request_id: str, etag: str) -> RunRecord: ...
    # An audit event (registry/access/audit.py) for a response this matcher sent that named
    # households: reader is the caller who got it. A matcher apart from the registry has no
    # audit log of its own (server/guard.py RemoteAudit); UNAVAILABLE when the log cannot take
    # the event, and the response is then withheld. A retry may record it twice, never zero times.
    def record_audit(
        self,
        *,
        reader: Principal,
        rpc: str,
        request_id: str,
        household_ids: Sequence[str],
        county_codes: Sequence[str],
    ) -> None: ...

    # Cadre runs (registry/runs/cadres.py): coarse calls on plain dataclasses.
    # reader: the caller; an office reads only the cadres it may post (registry/access/scopes.py).
    def stationing_data(
        self, *, region_code: str, reader: Principal = INTERNAL
    ) -> StationingData: ...

    def contracting_data(
        self, *, region_code: str, reader: Principal = INTERNAL
    ) -> ContractingData: ...

    def finish_cadre_run(
        self, run_id: str, *, items: Sequence[CadreItem], **fields: Any
    ) -> RunRecord: ...

    # reader: the caller, who must be allowed to post each cadre (else PERMISSION_DENIED).
    def commit_cadres(
        self, run_id: str, *, request_id: str, etag: str, reader: Principal = INTERNAL
    ) -> RunRecord: ...
