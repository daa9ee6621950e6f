"""The one error vocabulary of fupin, and its mapping to gRPC status codes with details.

Code raises these; the server interceptor (server/interceptor.py) turns them into a status with
google.rpc details. Anything else becomes INTERNAL with a log entry and no traceback sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2


@dataclass(frozen=True)
class FieldViolation:
    field: str  # a path such as "household.indicators.health" or "households[17].village_id"
    description: str


class FupinError(Exception):
    """Base of every error a caller can cause. Subclasses fix the gRPC code."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        return []

    def to_status(self) -> status_pb2.Status:
        """The google.rpc.Status carried in the trailers (grpc-status-details-bin)."""
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        status.details.extend(self.details())
        return status


class InvalidArgument(FupinError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Iterable[FieldViolation], message: str = "") -> None:
        self.violations = list(violations)
        if not message:
            shown = "; ".join(f"{v.field}: {v.description}" for v in self.violations[:3])
            more = len(self.violations) - 3
            message = f"invalid argument: {shown}" + (f" (+{more} more)" if more > 0 else "")
        super().__init__(message)

    @classmethod
    def one(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])

    def details(self) -> list[any_pb2.Any]:
        return [bad_request(self.violations)]


class NotFound(FupinError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field

    def details(self) -> list[any_pb2.Any]:
        return [bad_request([FieldViolation(self.field, self.message)])] if self.field else []


class AlreadyExists(NotFound):
    """A duplicate unique key or a reused request_id; `field` names what clashed."""

    code = grpc.StatusCode.ALREADY_EXISTS


class WithViolations(FupinError):
    """An error naming what it is about as field violations (google.rpc.BadRequest details)."""

    def __init__(self, message: str, violations: Iterable[FieldViolation] = ()) -> None:
        super().__init__(message)
        self.violations = list(violations)

    def details(self) -> list[any_pb2.Any]:
        return [bad_request(self.violations)] if self.violations else []


class Aborted(WithViolations):
    """A stale etag or a snapshot that no longer holds: re-read and retry."""

    code = grpc.StatusCode.ABORTED


class FailedPrecondition(FupinError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(WithViolations):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(FupinError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(FupinError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(FupinError):
    """The database (or another dependency) cannot be reached; safe to retry."""

    code = grpc.StatusCode.UNAVAILABLE


class Infeasible(FailedPrecondition):
    """The optimisation problem has no feasible solution."""


def bad_request(violations: Iterable[FieldViolation]) -> any_pb2.Any:
    """Pack field violations as a google.rpc.BadRequest detail."""
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in violations
        ]
    )
    packed = any_pb2.Any()
    packed.Pack(bad)
    return packed
