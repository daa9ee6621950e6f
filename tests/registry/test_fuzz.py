"""Property tests: random and malformed requests never yield INTERNAL and never change data
unless they succeed."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import descriptor as d
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import SQLModel

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import report_service_pb2 as rpb
from tests import factories

SERVICES = [
    api.DESCRIPTOR.services_by_name["RegistryService"],
    mpb.DESCRIPTOR.services_by_name["MatcherService"],
    rpb.DESCRIPTOR.services_by_name["ReportService"],
]
UNARY = [m for service in SERVICES for m in service.methods if not m.client_streaming]
BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SCALARS: dict[int, st.SearchStrategy[Any]] = {
    d.FieldDescriptor.TYPE_INT32: st.one_of(st.integers(-3, 120), st.integers(-(2**31), 2**31 - 1)),
    d.FieldDescriptor.TYPE_INT64: st.one_of(
        st.integers(-3, 10**6), st.integers(-(2**63), 2**63 - 1)
    ),
    d.FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    d.FieldDescriptor.TYPE_BOOL: st.booleans(),
    d.FieldDescriptor.TYPE_ENUM: st.integers(-3, 20),
    d.FieldDescriptor.TYPE_STRING: st.one_of(
        st.sampled_from(
            ["", "A", "green_plum", "350624001001", "2020-05-01", "vil-x", "*", "a = 1"]
        ),
        st.text(max_size=60),
    ),
    d.FieldDescriptor.TYPE_BYTES: st.binary(max_size=60),  # e.g. serialized run parameters
}


def messages(descriptor: d.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of this type: every field random, present or not."""
    cls = descriptor._concrete_class
    fields = {}
    for field in descriptor.fields:
        if (
            field.type == d.FieldDescriptor.TYPE_MESSAGE
            and field.message_type.GetOptions().map_entry
        ):
            entry = field.message_type.fields_by_name  # a map field: a dict of scalars
            pairs = st.dictionaries(SCALARS[entry["key"].type], SCALARS[entry["value"].type])
            fields[field.name] = st.one_of(
                st.none(), pairs.map(lambda m: dict(list(m.items())[:3]))
            )
            continue
        if field.type == d.FieldDescriptor.TYPE_MESSAGE:
            if depth > 2 or field.message_type.full_name.startswith("google.protobuf.Timestamp"):
                continue
            value: st.SearchStrategy[Any] = messages(field.message_type, depth + 1)
        else:
            value = SCALARS[field.type]
        if field.is_repeated:
            value = st.lists(value, max_size=3)
        fields[field.name] = st.one_of(st.none(), value)
    return st.fixed_dictionaries(fields).map(
        lambda kw: cls(**{k: v for k, v in kw.items() if v is not None})
    )


def snapshot(running) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, once the audit events of earlier reads (written in the background)
    are in."""
    if running.audit_writer is not None:
        running.audit_writer.flush()
    with running.store.engine.connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t.name}"))), key=repr)
            for t in SQLModel.metadata.sorted_tables
        }


@pytest.fixture
def seeded(registry, server):
    """A registry with one of everything, so random ids sometimes hit."""
    village = factories.create_village(registry)
    factories.create_household(registry, village.id)
    return server


@FUZZ
@given(data=st.data())
def test_random_requests_never_internal(seeded, channel, data):
    """Any well-formed but random request: a canonical error or success, never INTERNAL."""
    method = data.draw(st.sampled_from(UNARY))
    request = data.draw(messages(method.input_type))
    call = channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=lambda b: b,
    )
    before = snapshot(seeded)
    try:
        call(request, timeout=10)
    except grpc.RpcError as error:
        assert error.code() not in BAD_CODES, f"{method.name}: {error.details()}"
        assert snapshot(seeded) == before, f"{method.name} failed but changed data"


@FUZZ
@given(method=st.sampled_from(UNARY), payload=st.binary(max_size=200))
def test_malformed_bytes_are_invalid_argument(seeded, channel, method, payload):
    """Bytes that are not a message are INVALID_ARGUMENT (or parse as one), never INTERNAL."""
    call = channel.unary_unary(f"/{method.containing_service.full_name}/{method.name}")
    before = snapshot(seeded)
    try:
        call(payload, timeout=10)
    except grpc.RpcError as error:
        assert error.code() not in BAD_CODES, f"{method.name}: {error.details()}"
        assert snapshot(seeded) == before
