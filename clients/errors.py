"""Failed calls as exceptions: one class per status code, carrying the server's field violations.

`from_rpc_error` unpacks the google.rpc.Status the server sends in the trailers (its
google.rpc.BadRequest details become `field_violations`), so callers catch `NotFoundError` and
read `error.field_violations` instead of decoding trailers themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

FieldViolations = list[tuple[str, str]]  # (field path, description)


class UsageError(Exception):
    """A command line that cannot work (missing file, bad settings): the CLI exits 2."""


class FupinClientError(Exception):
    """A failed registry call: its status code, message and field violations."""

    default_code = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        field_violations: Sequence[tuple[str, str]] = (),
        *,
        code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.field_violations: FieldViolations = list(field_violations)


class InvalidArgumentError(FupinClientError):
    default_code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(FupinClientError):
    default_code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(FupinClientError):
    default_code = grpc.StatusCode.ALREADY_EXISTS


class AbortedError(FupinClientError):
    """A stale etag: re-read the resource and try again."""

    default_code = grpc.StatusCode.ABORTED


class FailedPreconditionError(FupinClientError):
    default_code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDeniedError(FupinClientError):
    default_code = grpc.StatusCode.PERMISSION_DENIED


class UnauthenticatedError(FupinClientError):
    default_code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhaustedError(FupinClientError):
    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(FupinClientError):
    """The server or its database cannot be reached (after the client's retries)."""

    default_code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(FupinClientError):
    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class CsvFormatError(InvalidArgumentError):
    """A CSV file the client refused before sending anything (bad integer, unknown enum…)."""


_BY_CODE: dict[grpc.StatusCode, type[FupinClientError]] = {
    cls.default_code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        AbortedError,
        FailedPreconditionError,
        PermissionDeniedError,
        UnauthenticatedError,
        ResourceExhaustedError,
        UnavailableError,
        DeadlineExceededError,
    )
}


def from_rpc_error(error: grpc.RpcError) -> FupinClientError:
    """The exception for a failed call; codes without a class of their own get the base class."""
    call: grpc.Call = error  # type: ignore[assignment]  # raised RpcErrors are also Calls
    code = call.code() if hasattr(call, "code") else grpc.StatusCode.UNKNOWN
    message = (call.details() if hasattr(call, "details") else None) or str(code.name)
    cls = _BY_CODE.get(code, FupinClientError)
    return cls(message, _field_violations(call), code=code)


def _field_violations(call: grpc.Call) -> FieldViolations:
    try:
        status = rpc_status.from_call(call)
    except (ValueError, AttributeError):  # mismatched or absent status trailers
        return []
    if status is None:
        return []
    out: FieldViolations = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out
