"""Failed calls as exceptions: one class per status code, carrying the server's field violations.

`from_rpc_error` unpacks the google.rpc.Status the server sends in the trailers (its
google.rpc.BadRequest details become `field_violations`), so callers catch `NotFoundError` and
read `error.field_violations` instead of decoding trailers themselves. `message` and the
violations' descriptions are the server's English; `localized_message` and
`localized_violations` the same in the language the client asked for (accept-language), where
the server had a translation (google.rpc.LocalizedMessage), else the English again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
        self.localized_message = message
        self.localized_violations: FieldViolations = list(field_violations)


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
    status = _status(call)
    english: FieldViolations = []
    localized: FieldViolations = []
    failure = cls(message, code=code)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            for v in bad.field_violations:
                english.append((v.field, v.description))
                localized.append((v.field, v.localized_message.message or v.description))
        elif detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
            said = error_details_pb2.LocalizedMessage()
            detail.Unpack(said)
            failure.localized_message = said.message or message
    failure.field_violations, failure.localized_violations = english, localized
    return failure


def _status(call: grpc.Call) -> Any:
    try:
        return rpc_status.from_call(call)
    except (ValueError, AttributeError):  # mismatched or absent status trailers
        return None
