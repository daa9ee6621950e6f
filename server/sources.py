"""The in-process RegistrySource: the matcher's calls go straight to the registry's store
(one process: `fupin serve`). The protocol is matcher/service/source.py."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from matcher.service.source import (
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
    RunRecord,
    StationingData,
)
from registry.access import audit
from registry.access.policy import INTERNAL, Principal
from registry.access.redaction import Seen
from registry.errors import InvalidArgument, Unavailable
from registry.resources import models
from registry.resources.query import Page
from registry.resources.requests import RESOURCE_ID
from registry.resources.store import RegistryStore
from registry.runs import aid as aid_runs
from registry.runs import cadres as cadre_runs
from registry.runs import records as runs
from registry.runs import supply
from registry.runs.produce import commit_produce
from registry.runs.scopes import EVERY, RunView
from registry.season import holds


def record(row: models.MatchRun) -> RunRecord:
    return RunRecord(**{name: getattr(row, name) for name in RunRecord.__dataclass_fields__})


COUNTY_CODE = re.compile(r"[0-9]{6}")


class InProcessSource:
    """RegistrySource over the registry store of this same process; `audit_writer` takes the
    events a matcher apart from it records (record_audit), None where there is none."""

    def __init__(self, store: RegistryStore, audit_writer: audit.AuditWriter | None = None) -> None:
        self.store = store
        self.audit_writer = audit_writer

    def open_listings(self, *, product: str, region_code: str, today: str) -> list[OpenListing]:
        return supply.open_listings(
            self.store, product=product, region_code=region_code, today=today
        )

    def open_listing_columns(
        self, *, product: str, region_code: str, today: str
    ) -> OpenListingColumns:
        return supply.open_listing_columns(
            self.store, product=product, region_code=region_code, today=today
        )

    def open_orders(self, *, product: str, today: str) -> list[OpenOrder]:
        return supply.open_orders(self.store, product=product, today=today)

    def supply_generation(self) -> tuple[int, str]:
        return supply.supply_generation(self.store)

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
    ) -> tuple[RunRecord, bool]:
        row, created = runs.create_run(
            self.store,
            run_id=run_id,
            kind=kind,
            parameters=parameters,
            owner=owner,
            request_id=request_id,
            fingerprint=fingerprint,
            scope=scope,
            owner_key_id=owner_key_id,
        )
        return record(row), created

    def update_run(
        self, run_id: str, *, allocations: Sequence[Allocation] = (), **fields: Any
    ) -> RunRecord:
        return record(runs.update_run(self.store, run_id, allocations=allocations, **fields))

    def get_run(self, run_id: str, view: RunView = EVERY) -> RunRecord:
        return record(runs.get_run(self.store, run_id, view=view))

    def list_runs(
        self, *, page: Page, where: dict[str, Any], view: RunView = EVERY
    ) -> tuple[list[RunRecord], str]:
        rows, token = runs.list_runs(self.store, page=page, where=where, view=view)
        return [record(r) for r in rows], token

    def commit_produce(self, run_id: str, *, request_id: str, etag: str) -> RunRecord:
        return record(commit_produce(self.store, run_id, request_id=request_id, etag=etag))

    def discard_run(self, run_id: str, *, etag: str, request_id: str = "") -> RunRecord:
        return record(runs.discard_run(self.store, run_id, etag=etag, request_id=request_id))

    def hold_listings(
        self,
        *,
        items: Sequence[HeldKg],
        terms: HoldTerms,
        minutes: int,
        reader: Principal,
        request_id: str,
        fingerprint: str,
    ) -> HoldRecord:
        return holds.hold_listings(
            self.store,
            items=items,
            terms=terms,
            minutes=minutes,
            reader=reader,
            request_id=request_id,
            fingerprint=fingerprint,
        )

    def aid_inputs(
        self,
        *,
        region_code: str,
        programme_ids: Sequence[str],
        field: str,
        reader: Principal = INTERNAL,
    ) -> AidInputs:
        return aid_runs.aid_inputs(
            self.store,
            region_code=region_code,
            programme_ids=programme_ids,
            field=field,
            reader=reader,
        )

    def store_grants(self, run_id: str, grants: Sequence[GrantRecord]) -> None:
        aid_runs.store_grants(self.store, run_id, grants)

    def commit_aid(self, run_id: str, *, request_id: str, etag: str) -> RunRecord:
        return record(aid_runs.commit_aid(self.store, run_id, request_id=request_id, etag=etag))

    def record_audit(
        self,
        *,
        reader: Principal,
        rpc: str,
        request_id: str,
        household_ids: Sequence[str],
        county_codes: Sequence[str],
    ) -> None:
        for i, household_id in enumerate(household_ids):
            if not RESOURCE_ID.fullmatch(household_id):
                raise InvalidArgument.one(
                    f"household_ids[{i}]", "must be a valid id (1-40 letters, digits, - or _)"
                )
        for i, code in enumerate(county_codes):
            if not COUNTY_CODE.fullmatch(code):
                raise InvalidArgument.one(f"county_codes[{i}]", "must be 6 digits (GB/T 2260)")
        if not household_ids:
            raise InvalidArgument.one("household_ids", "at least one is required")
        if self.audit_writer is None:
            raise Unavailable("the audit log is unavailable; retry later")
        seen = Seen(list(household_ids), set(county_codes))
        self.audit_writer.record(reader, rpc, request_id, seen)

    def stationing_data(self, *, region_code: str, reader: Principal = INTERNAL) -> StationingData:
        return cadre_runs.stationing_data(self.store, region_code=region_code, reader=reader)

    def contracting_data(
        self, *, region_code: str, reader: Principal = INTERNAL
    ) -> ContractingData:
        return cadre_runs.contracting_data(self.store, region_code=region_code, reader=reader)

    def finish_cadre_run(
        self, run_id: str, *, items: Sequence[CadreItem], **fields: Any
    ) -> RunRecord:
        return record(cadre_runs.finish_run(self.store, run_id, items=items, **fields))

    def commit_cadres(
        self, run_id: str, *, request_id: str, etag: str, reader: Principal = INTERNAL
    ) -> RunRecord:
        return record(
            cadre_runs.commit_cadres(
                self.store, run_id, request_id=request_id, etag=etag, reader=reader
            )
        )
