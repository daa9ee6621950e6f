"""RegistryService servicer: translates requests to store calls, generically for all kinds.

Each RPC is a few lines: validate and convert (registry/resources/convert.py via the kind spec),
call the
store, convert back. Errors are raised in registry/errors.py's vocabulary; server/interceptor.py
maps
them to status codes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import empty_pb2, field_mask_pb2
from google.protobuf.message import Message

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb
from registry.access import policy as access
from registry.access import scopes
from registry.errors import FieldViolation, InvalidArgument, PermissionDenied, ResourceExhausted
from registry.resources import filter_sql, imports, models, query, watchlist
from registry.resources.convert_household import household_fields
from registry.resources.kinds import CADRE, HOUSEHOLD, KINDS, LISTING, Kind, Record
from registry.resources.requests import RESOURCE_ID, checked_request_id, fingerprint
from registry.resources.store import RegistryStore

MAX_IMPORT_ROWS = 2_000_000
MAX_REPORTED_VIOLATIONS = 100
MAX_BATCH_IDS = 1000
_SERVICE = "/fupin.registry.v1.RegistryService/"


def checked_mask(kind: Kind, mask: field_mask_pb2.FieldMask) -> list[str]:
    """Mask paths to apply: all writable fields when empty; output-only paths are refused."""
    fields = kind.message.DESCRIPTOR.fields_by_name
    if not mask.paths:
        return [name for name in fields if name not in kind.output_only]
    violations = []
    for path in mask.paths:
        top = path.split(".", 1)[0]
        if top not in fields or not mask.IsValidForDescriptor(kind.message.DESCRIPTOR):  # type: ignore[arg-type]
            violations.append(FieldViolation("update_mask", f"unknown field {path!r}"))
        elif top in kind.output_only:
            violations.append(FieldViolation("update_mask", f"{path!r} is output only"))
    if violations:
        raise InvalidArgument(violations)
    return list(mask.paths)


class RegistryServicer(api_grpc.RegistryServiceServicer):
    """The RegistryService RPCs; the CRUD methods are attached per kind below the class."""

    def __init__(self, store: RegistryStore, rank: watchlist.Rank | None = None) -> None:
        self.store = store
        self.rank = rank  # ListWatchlist's risks (the server composes the year's rule in)

    def create(self, kind: Kind, request: Any) -> Message:
        values, checker = kind.to_values(getattr(request, kind.name), f"{kind.name}.")
        checker.raise_if_any()
        record = self.store.create(
            kind,
            values,
            request_id=checked_request_id(request.request_id),
            fingerprint=fingerprint(request),
            scope=_scope(kind, write=True),
            references=_reference_scopes(),
        )
        return kind.proto(record)

    def get(self, kind: Kind, request: Any) -> Message:
        if kind is HOUSEHOLD:  # as the list reads them (registry/resources/household_rows.py)
            row = self.store.get_household(_required_id(request.id), scope=_scope(kind))
            return pb.Household(**household_fields(row))
        return kind.proto(self.store.get(kind, _required_id(request.id), scope=_scope(kind)))

    def list(self, kind: Kind, request: Any, response_type: type[Message]) -> Message:
        where = filter_sql.condition(request.filter, kind.table, kind.filters)
        page = query.parse_page(request.page_size, request.page_token, request.filter)
        if kind is HOUSEHOLD:  # read and converted column-wise: the registry's largest list
            rows, token = self.store.list_households(page=page, where=where, scope=_scope(kind))
            households = api.ListHouseholdsResponse(next_page_token=token)
            add = households.households.add  # built in place: extend() would copy each
            for row in rows:
                add(**household_fields(row))
            return households
        records, token = self.store.list(kind, page=page, where=where, scope=_scope(kind))
        response: Any = response_type(next_page_token=token)
        getattr(response, kind.plural).extend(kind.proto(r) for r in records)
        return response  # type: ignore[no-any-return]

    def update(self, kind: Kind, request: Any) -> Message:
        patch = getattr(request, kind.name)
        paths = checked_mask(kind, request.update_mask)

        def merge(record: Record) -> dict[str, Any]:
            merged: Any = kind.proto(record)
            field_mask_pb2.FieldMask(paths=paths).MergeMessage(
                patch, merged, replace_message_field=True, replace_repeated_field=True
            )
            if kind is HOUSEHOLD:
                merged.assessment_reason = patch.assessment_reason
            values, checker = kind.to_values(merged, f"{kind.name}.")
            checker.raise_if_any()
            return values

        return kind.proto(
            self.store.update(
                kind,
                _required_id(patch.id),
                etag=patch.etag,
                merge=merge,
                scope=_scope(kind, write=True),
                visible=_scope(kind),
                references=_reference_scopes(),
            )
        )

    def delete(self, kind: Kind, request: Any) -> empty_pb2.Empty:
        self.store.delete(
            kind,
            _required_id(request.id),
            etag=request.etag,
            scope=_scope(kind, write=True),
            visible=_scope(kind),
        )
        return empty_pb2.Empty()

    def import_stream(self, kind: Kind, chunks: Iterator[Any]) -> api.ImportResponse:
        """Validate every row of every chunk; store all of them or none."""
        rows = ImportStream(kind, chunks, guard=ImportScope(self.store, kind, access.current()))
        ids = imports.import_rows(self.store, kind, rows)
        return api.ImportResponse(imported=len(ids), ids=ids)

    def ImportHouseholds(self, request_iterator: Any, context: Any) -> api.ImportResponse:
        return self.import_stream(HOUSEHOLD, request_iterator)

    def ImportListings(self, request_iterator: Any, context: Any) -> api.ImportResponse:
        return self.import_stream(LISTING, request_iterator)

    def ImportCadres(self, request_iterator: Any, context: Any) -> api.ImportResponse:
        return self.import_stream(CADRE, request_iterator)

    def ListWatchlist(self, request: Any, context: Any) -> api.ListWatchlistResponse:
        where = filter_sql.condition(request.filter, models.Household, HOUSEHOLD.filters)
        order = watchlist.checked_order(request.order_by)
        # A token is bound to the filter and the order it was issued for.
        bound = f"{request.filter}\n{order}" if order != watchlist.BY_RISK else request.filter
        page = query.parse_page(request.page_size, request.page_token, bound)
        entries, token = watchlist.list_watchlist(
            self.store,
            page=page,
            where=where,
            scope=_scope(HOUSEHOLD),
            order=order,
            rank=self.rank,
        )
        response = api.ListWatchlistResponse(next_page_token=token)
        for entry in entries:
            household: Any = HOUSEHOLD.proto(entry.record)
            change = (
                household.score - household.previous_score if household.previous_score >= 0 else 0
            )
            response.entries.add(
                household=household,
                reasons=entry.reasons,
                score_change=change,
                risk=entry.risk,
                risk_reasons=entry.risk_reasons,
            )
        return response

    def BatchGetResources(self, request: Any, context: Any) -> api.BatchGetResourcesResponse:
        """A page of one kind by id: the kind's List, narrowed to the ids asked for."""
        kind = next((k for k in KINDS if k.plural == request.kind), None)
        if kind is None:
            known = ", ".join(k.plural for k in KINDS)
            raise InvalidArgument.one("kind", f"unknown kind {request.kind!r}; one of {known}")
        plural = "".join(part.title() for part in kind.plural.split("_"))
        access.authorize(f"{_SERVICE}List{plural}", access.current())
        if len(request.ids) > MAX_BATCH_IDS:
            raise InvalidArgument.one("ids", f"at most {MAX_BATCH_IDS} ids, got {len(request.ids)}")
        for n, resource_id in enumerate(request.ids):
            if not RESOURCE_ID.fullmatch(resource_id):
                raise InvalidArgument.one(f"ids[{n}]", "is not a valid id")
        ids = sorted(set(request.ids))
        response = api.BatchGetResourcesResponse()
        if ids:
            page = query.parse_page(len(ids), "", "")
            where = kind.table.id.in_(ids)  # type: ignore[attr-defined]
            records, _token = self.store.list(kind, page=page, where=where, scope=_scope(kind))
            getattr(response, kind.plural).extend(kind.proto(r) for r in records)
        return response


class ImportStream:
    """An import's chunks as rows of column values, validated as they arrive (what
    imports.import_rows takes, so that it can store rows while the rest arrive)."""

    def __init__(self, kind: Kind, chunks: Iterator[Any], guard: ImportScope | None = None) -> None:
        self.kind = kind
        self.chunks = chunks
        self.guard = guard
        self.request_id = ""
        self._digest = hashlib.sha256()

    @property
    def fingerprint(self) -> str:
        return self._digest.hexdigest()

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Each chunk's rows while every row so far is valid; after an invalid row the rest
        are only validated, and at the end every violation found is raised."""
        violations: list[FieldViolation] = []
        count = 0
        for n, chunk in enumerate(self.chunks):
            if n == 0:
                self.request_id = checked_request_id(chunk.request_id)
            self._digest.update(chunk.SerializeToString(deterministic=True))
            rows = []
            for message in getattr(chunk, self.kind.plural):
                if count >= MAX_IMPORT_ROWS:
                    raise ResourceExhausted(f"an import holds at most {MAX_IMPORT_ROWS} rows")
                values, checker = self.kind.to_values(message, f"{self.kind.plural}[{count}].")
                violations.extend(checker.violations[: MAX_REPORTED_VIOLATIONS - len(violations)])
                rows.append(values)
                count += 1
            if self.guard is not None:
                self.guard.check(rows)
            if not violations:
                yield rows
        if violations:
            raise InvalidArgument(violations)


class ImportScope:
    """Refuses (PERMISSION_DENIED) an import with a row outside the caller's scope: households
    in villages, listings of producers, cadres the key may not write to (an office's: home
    region inside its scope, or serving in one of its villages)."""

    def __init__(self, store: RegistryStore, kind: Kind, principal: access.Principal) -> None:
        self.store = store
        self.kind = kind
        self.principal = principal

    def check(self, rows: list[dict[str, Any]]) -> None:
        if self.principal.role is access.Role.ADMIN:
            return
        if self.kind is CADRE:
            self._check_cadres(rows)
            return
        outside: Callable[..., set[str]]
        if self.kind is HOUSEHOLD:
            column, outside = "village_id", scopes.village_ids_outside
        elif self.kind is LISTING:
            column, outside = "producer_id", scopes.producer_ids_outside
        else:
            return
        ids = {row[column] for row in rows if row.get(column)}
        with self.store.statement() as session:
            refused = outside(session, self.principal, ids)
        if refused:
            raise PermissionDenied(
                f"{column} {sorted(refused)[0]!r} is outside your key's scope"
                + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else "")
            )

    def _check_cadres(self, rows: list[dict[str, Any]]) -> None:
        scope = self.principal.scope
        posted = {row["current_village_id"] for row in rows if row.get("current_village_id")}
        with self.store.statement() as session:
            elsewhere = scopes.village_ids_outside(session, self.principal, posted)
        for row in rows:
            village = row.get("current_village_id")
            inside = (row.get("home_region_code") or "").startswith(scope) and bool(
                row.get("home_region_code")
            )
            if not inside and (not village or village in elsewhere):
                raise PermissionDenied(
                    f"home_region_code {row.get('home_region_code') or ''!r} is outside your "
                    f"key's scope {scope!r}, and the cadre serves in none of its villages"
                )


def _scope(kind: Kind, *, write: bool = False) -> Any:
    return scopes.clause(kind, access.current(), write=write)


def _reference_scopes() -> dict[Any, Any]:
    """Per referenced table, the rows the caller may refer to: those it may read. A reference
    to any other row is NOT_FOUND, as for an id that does not exist (an office naming another
    county's household learns nothing about it, and cannot tie it to its own records)."""
    principal = access.current()
    return {k.table: scopes.clause(k, principal) for k in KINDS}


def _required_id(resource_id: str) -> str:
    if not resource_id:
        raise InvalidArgument.one("id", "is required")
    if not RESOURCE_ID.fullmatch(resource_id):
        raise InvalidArgument.one("id", "is not a valid id (up to 40 letters, digits, - or _)")
    return resource_id


def _attach(kind: Kind) -> None:
    """Give RegistryServicer the five standard methods of one kind (CreateVillage, ...)."""
    title = "".join(part.title() for part in kind.name.split("_"))
    plural = "".join(part.title() for part in kind.plural.split("_"))
    response_type = getattr(api, f"List{plural}Response")
    methods: dict[str, Callable[..., Message]] = {
        f"Create{title}": lambda self, request, context: self.create(kind, request),
        f"Get{title}": lambda self, request, context: self.get(kind, request),
        f"List{plural}": lambda self, request, context: self.list(kind, request, response_type),
        f"Update{title}": lambda self, request, context: self.update(kind, request),
        f"Delete{title}": lambda self, request, context: self.delete(kind, request),
    }
    for name, method in methods.items():
        method.__name__ = name
        setattr(RegistryServicer, name, method)


for _kind in KINDS:
    _attach(_kind)


def add_to_server(
    store: RegistryStore, server: grpc.Server, rank: watchlist.Rank | None = None
) -> str:
    # The CRUD methods are attached at import (_attach), which mypy cannot see.
    servicer = RegistryServicer(store, rank)  # type: ignore[abstract]
    api_grpc.add_RegistryServiceServicer_to_server(servicer, server)
    return str(api.DESCRIPTOR.services_by_name["RegistryService"].full_name)
