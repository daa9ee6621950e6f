"""AccessService RPCs for people: user accounts, sign-in and sign-out (registry/access/users.py).

`AccessServicer` here is registry/access/servicer.py's (keys, audit log) with these RPCs added;
the server registers this one.
"""

from __future__ import annotations

from typing import Any

import grpc

from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from registry.access import audit
from registry.access import policy as access
from registry.access import servicer as access_service
from registry.access.keys import RESOURCE_ID, bearer_key
from registry.access.servicer import role_of
from registry.access.users import Credentials, UserStore
from registry.errors import InvalidArgument
from registry.resources import query
from registry.resources.convert import timestamp
from registry.resources.models import UserAccount, utcnow
from registry.resources.requests import request_id_of

USER_FILTERS = {"role": ("role", apb.Role), "disabled": ("disabled", bool)}


def user_proto(row: UserAccount) -> apb.User:
    user = apb.User(
        id=row.id,
        username=row.username,
        role=apb.Role.Value(row.role.upper()),
        scope=row.scope,
        display_name=row.display_name,
        language=row.language,
        failed_sign_ins=row.failed_sign_ins,
        create_time=timestamp(row.created),
    )
    if row.disabled is not None:
        user.disable_time.CopyFrom(timestamp(row.disabled))
    if row.locked_until is not None and row.locked_until > utcnow():
        user.locked_until.CopyFrom(timestamp(row.locked_until))
    return user


def _user_id(value: str) -> str:
    if not RESOURCE_ID.fullmatch(value):
        raise InvalidArgument.one("id", "is required: the id of a user (user-…)")
    return value


class AccessServicer(access_service.AccessServicer):
    def __init__(
        self, credentials: Credentials, audit_writer: audit.AuditWriter | None = None
    ) -> None:
        super().__init__(credentials, audit_writer)
        self.users = UserStore(credentials)

    def CreateUser(self, request: Any, context: Any) -> apb.User:
        row = self.users.create(
            access.current(),
            username=request.username,
            password=request.password,
            role=role_of(request.role),
            scope=request.scope,
            display_name=request.display_name,
            language=request.language,
        )
        return user_proto(row)

    def ListUsers(self, request: Any, context: Any) -> apb.ListUsersResponse:
        where = query.parse_filter(request.filter, USER_FILTERS)
        if "role" in where:
            where["role"] = role_of(where["role"]).value
        page = query.parse_page(request.page_size, request.page_token, request.filter)
        rows, token = self.users.list_users(access.current(), page=page, where=where)
        return apb.ListUsersResponse(users=[user_proto(r) for r in rows], next_page_token=token)

    def DisableUser(self, request: Any, context: Any) -> apb.User:
        return user_proto(self.users.disable(access.current(), _user_id(request.id)))

    def ResetPassword(self, request: Any, context: Any) -> apb.User:
        row = self.users.reset_password(access.current(), _user_id(request.id), request.password)
        return user_proto(row)

    def SignIn(self, request: Any, context: Any) -> apb.SignInResponse:
        signed = self.users.sign_in(request.username, request.password, request_id_of(context))
        return apb.SignInResponse(
            token=signed.token,
            expire_time=timestamp(signed.expires),
            user=user_proto(signed.user),
        )

    def SignOut(self, request: Any, context: Any) -> apb.SignOutResponse:
        self.users.sign_out(bearer_key(context.invocation_metadata()), request_id_of(context))
        return apb.SignOutResponse()


def add_to_server(
    credentials: Credentials, server: grpc.Server, audit_writer: audit.AuditWriter | None = None
) -> str:
    apb_grpc.add_AccessServiceServicer_to_server(AccessServicer(credentials, audit_writer), server)
    return str(apb.DESCRIPTOR.services_by_name["AccessService"].full_name)
