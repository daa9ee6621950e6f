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

# What one error carries, so that its status always arrives: gRPC refuses trailers over 16 KB
# (and may refuse any over 8 KB), and a refused trailer reaches the caller as
# "RESOURCE_EXHAUSTED: Stream removed" instead of the error. The first MAX_VIOLATIONS field
# violations are sent, then one more with field OMITTED saying how many were left out; each
# path and description is cut to a bound, and the whole details to DETAILS_BUDGET bytes.
MAX_VIOLATIONS = 50
MAX_FIELD_CHARS = 160
MAX_DESCRIPTION_CHARS = 240
MAX_MESSAGE_BYTES = 480  # grpc-message is percent-encoded: up to 3 times as long on the wire
DETAILS_BUDGET = 4096
OMITTED = "..."


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
        """The google.rpc.Status carried in the trailers (grpc-status-details-bin), small
        enough to always arrive (see MAX_VIOLATIONS)."""
        status = status_pb2.Status(code=self.code.value[0], message=cut_bytes(self.message))
        status.details.extend(self.details())
        return status


class InvalidArgument(FupinError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Iterable[FieldViolation], message: str = "") -> None:
        self.violations = list(violations)
        if not message:
            shown = "; ".join(
                f"{cut(v.field, 60)}: {cut(v.description, 60)}" for v in self.violations[:3]
            )
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


class Overloaded(ResourceExhausted):
    """Too many calls in flight (server/admission.py): retry after `retry_s` seconds, as the
    google.rpc.RetryInfo detail says."""

    def __init__(self, message: str, retry_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_s = retry_s

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromNanoseconds(int(self.retry_s * 1e9))
        packed = any_pb2.Any()
        packed.Pack(info)
        return [packed]


class Unavailable(FupinError):
    """The database (or another dependency) cannot be reached; safe to retry."""

    code = grpc.StatusCode.UNAVAILABLE


class Infeasible(FailedPrecondition):
    """The optimisation problem has no feasible solution."""


def bad_request(violations: Iterable[FieldViolation]) -> any_pb2.Any:
    """Pack field violations as a google.rpc.BadRequest detail: the first MAX_VIOLATIONS that
    fit in DETAILS_BUDGET bytes, each cut to length, then one OMITTED violation counting the
    rest."""
    bad = error_details_pb2.BadRequest()
    given = list(violations)
    size = 0
    for v in given[:MAX_VIOLATIONS]:
        shown = error_details_pb2.BadRequest.FieldViolation(
            field=cut(v.field, MAX_FIELD_CHARS),
            description=cut(v.description, MAX_DESCRIPTION_CHARS),
        )
        size += shown.ByteSize() + 4
        if size > DETAILS_BUDGET:
            break
        bad.field_violations.append(shown)
    rest = len(given) - len(bad.field_violations)
    if rest > 0:
        bad.field_violations.add(field=OMITTED, description=f"+{rest} more violations not shown")
    packed = any_pb2.Any()
    packed.Pack(bad)
    return packed


def cut(text: str, limit: int) -> str:
    """text, shortened to at most limit characters with an ellipsis if it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cut_bytes(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """text in at most limit bytes of UTF-8: its start and its last 80 bytes (where a message
    says how many more there were), never splitting a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    head = data[: limit - 84].decode(errors="ignore")
    tail = data[-80:].decode(errors="ignore")
    return f"{head}…{tail}"
