"""Read the status and field violations out of a failed call, as a caller would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def violations(error: grpc.RpcError) -> list[Any]:
    """The google.rpc.BadRequest field violations carried by the error (field, description
    and, when the caller asked for a language, localized_message)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return []
    out = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(bad.field_violations)
    return out


def fields_of(error: grpc.RpcError) -> list[str]:
    """The field paths of the google.rpc.BadRequest violations carried by the error."""
    return [v.field for v in violations(error)]


def rpc_fails(call: Callable[[], Any], code: grpc.StatusCode) -> grpc.RpcError:
    """Run call, assert it fails with code, and return the error."""
    try:
        call()
    except grpc.RpcError as error:
        assert error.code() == code, f"{error.code()}: {error.details()}"
        return error
    raise AssertionError(f"expected {code.name}, the call succeeded")
