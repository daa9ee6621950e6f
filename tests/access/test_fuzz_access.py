"""Property tests of the gate: random metadata and random requests, with every role's key,
never yield INTERNAL; without a valid key every non-public RPC is UNAUTHENTICATED."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.access.policy import POLICY
from tests.access import world as world_module
from tests.access.world import method_descriptor, methods
from tests.registry.test_fuzz import BAD_CODES, FUZZ, messages

METHODS = [m for m in methods() if not method_descriptor(m).client_streaming]
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
ROLES = ["admin", "office", "cooperative", "platform", "auditor", "auditor_all", "office_b"]


@pytest.fixture
def fuzz_world(registry, server):
    return world_module.build(registry, server)


def metadata_entries(keys: dict[str, str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Authorization entries: none, garbage, near misses, real keys, or several at once."""
    value = st.one_of(
        HEADER_TEXT,
        st.sampled_from(list(keys.values())).map(lambda k: f"Bearer {k}"),
        st.sampled_from(list(keys.values())).map(lambda k: f"bearer  {k}  "),
        st.sampled_from(list(keys.values())).map(lambda k: f"Bearer {k[:-1]}"),
        HEADER_TEXT.map(lambda t: f"Bearer {t}"),
        HEADER_TEXT.map(lambda t: f"Bearer fupin_{t}"),
    )
    entry = st.tuples(st.sampled_from(["authorization", "x-request-id", "x-other"]), value)
    return st.lists(entry, max_size=3)


@FUZZ
@given(data=st.data())
def test_random_metadata_and_requests_never_internal(bare, fuzz_world, data):
    """Any metadata with any request: a canonical answer; no valid key, no access."""
    method = data.draw(st.sampled_from(METHODS))
    metadata = data.draw(metadata_entries(fuzz_world.keys))
    descriptor = method_descriptor(method)
    request = data.draw(messages(descriptor.input_type))
    call = bare.unary_unary(
        method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=lambda b: b,
    )
    valid = {f"Bearer {k}" for k in fuzz_world.keys.values()}
    auth = [v for k, v in metadata if k == "authorization"]
    try:
        if descriptor.server_streaming:
            list(call(request, timeout=10, metadata=metadata))
        else:
            call(request, timeout=10, metadata=metadata)
    except grpc.RpcError as error:
        assert error.code() not in BAD_CODES, f"{method}: {error.details()}"
        return
    assert (
        POLICY[method]
        and len(auth) == 1
        and auth[0].lower().split() in (v.lower().split() for v in valid)
    ), f"{method} answered OK to {metadata}"


@FUZZ
@given(data=st.data())
def test_every_role_with_random_requests_never_internal(bare, fuzz_world, data):
    """Each role's key with random requests to any RPC: allowed, refused or rejected, never
    INTERNAL."""
    method = data.draw(st.sampled_from(METHODS))
    role = data.draw(st.sampled_from(ROLES))
    request = data.draw(messages(method_descriptor(method).input_type))
    code, _, details = world_module.call(bare, method, request, fuzz_world.keys[role])
    assert code not in BAD_CODES, f"{method} as {role}: {details}"
