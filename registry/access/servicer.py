"""AccessService servicer: API keys (create, list, revoke) and the audit log query.

registry/access/users_servicer.py adds the RPCs of people (users, sign-in) and registers the
whole."""

from __future__ import annotations

from typing import Any

from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from registry.access import audit, scopes
from registry.access import policy as access
from registry.access.keys import RESOURCE_ID, KeyStore
from registry.access.policy import Role
from registry.errors import InvalidArgument, PermissionDenied
from registry.resources import query
from registry.resources.convert import timestamp
from registry.resources.models import ApiKey

KEY_FILTERS = {"role": ("role", apb.Role), "revoked": ("revoked", bool)}


def role_of(value: int) -> Role:
    if value == apb.ROLE_UNSPECIFIED or value not in apb.Role.values():
        raise InvalidArgument.one("role", "must be ADMIN, OFFICE, COOPERATIVE, PLATFORM or AUDITOR")
    return Role(apb.Role.Name(value).lower())  # type: ignore[arg-type]


def key_proto(row: ApiKey) -> apb.ApiKey:
    key = apb.ApiKey(
        id=row.id,
        role=apb.Role.Value(row.role.upper()),
        scope=row.scope,
        description=row.description,
        create_time=timestamp(row.created),
    )
    if row.revoked is not None:
        key.revoke_time.CopyFrom(timestamp(row.revoked))
    return key


class AccessServicer(apb_grpc.AccessServiceServicer):
    def __init__(self, keys: KeyStore, audit_writer: audit.AuditWriter | None = None) -> None:
        self.keys = keys
        self.audit_writer = audit_writer  # flushed before a query, so it sees every read

    def CreateApiKey(self, request: Any, context: Any) -> apb.CreateApiKeyResponse:
        role = role_of(request.role)
        caller = access.current()
        if caller.role is Role.OFFICE:
            self._office_may_create(caller, role, request.scope)
        new = self.keys.create(role, request.scope, request.description)
        return apb.CreateApiKeyResponse(api_key=key_proto(new.row), secret=new.secret)

    def _office_may_create(self, office: access.Principal, role: Role, scope: str) -> None:
        """An office onboards the cooperatives of its region: it creates cooperative keys for
        producers there, and no other key."""
        if role is not Role.COOPERATIVE:
            raise PermissionDenied(
                f"role office may create only cooperative keys (for the producers of its "
                f"region {office.scope}); an admin creates {role} keys"
            )
        self.keys.check_scope(role, scope)  # an existing producer, or INVALID_ARGUMENT/NOT_FOUND
        with self.keys.store.statement() as session:
            if scopes.producer_ids_outside(session, office, {scope}):
                raise PermissionDenied(
                    f"scope {scope!r}: the producer lies outside this office's region "
                    f"{office.scope}; its own office or an admin creates its key"
                )

    def ListApiKeys(self, request: Any, context: Any) -> apb.ListApiKeysResponse:
        where = query.parse_filter(request.filter, KEY_FILTERS)
        if "role" in where:
            where["role"] = role_of(where["role"]).value
        page = query.parse_page(request.page_size, request.page_token, request.filter)
        rows, token = self.keys.list(page=page, where=where)
        return apb.ListApiKeysResponse(api_keys=[key_proto(r) for r in rows], next_page_token=token)

    def WhoAmI(self, request: Any, context: Any) -> apb.ApiKey:
        caller = access.current()
        return apb.ApiKey(
            id=caller.key_id, role=apb.Role.Value(caller.role.upper()), scope=caller.scope
        )

    def RevokeApiKey(self, request: Any, context: Any) -> apb.ApiKey:
        if not RESOURCE_ID.fullmatch(request.id):
            raise InvalidArgument.one("id", "is required: the id of a key (key-…)")
        return key_proto(self.keys.revoke(request.id))

    def ListAuditEvents(self, request: Any, context: Any) -> apb.ListAuditEventsResponse:
        where = query.parse_filter(request.filter, audit.FILTERS)
        page = query.parse_page(request.page_size, request.page_token, request.filter)
        if self.audit_writer is not None:
            self.audit_writer.flush()
        rows, token = audit.list_events(self.keys.store, access.current(), page=page, where=where)
        response = apb.ListAuditEventsResponse(next_page_token=token)
        for row in rows:
            response.events.add(
                id=row.id or 0,
                time=timestamp(row.time),
                key_id=row.key_id,
                role=apb.Role.Value(row.role.upper()) if row.role else apb.ROLE_UNSPECIFIED,
                rpc=row.rpc,
                request_id=row.request_id,
                household_ids=audit.split(row.household_ids),
                outcome=row.outcome,
                county_codes=audit.split(row.county_codes),
            )
        return response
