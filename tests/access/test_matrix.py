"""Every RPC x every role: allowed or denied exactly as registry/access/policy.py's POLICY says."""

from __future__ import annotations

import grpc
import pytest

from registry.access.policy import Principal, Role, permits
from tests.access.world import call, methods

ROLE_KEYS = {
    Role.ADMIN: "admin",
    Role.OFFICE: "office",
    Role.COOPERATIVE: "cooperative",
    Role.PLATFORM: "platform",
    Role.AUDITOR: "auditor",
}
NEVER = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


def test_every_rpc_by_every_role(bare, world):
    """A role the entry names gets past the gate (whatever the empty request then earns),
    unless the method is UNSCOPED and the key has a scope; any other role gets
    PERMISSION_DENIED."""
    wrong = []
    for method in methods():
        for role, name in ROLE_KEYS.items():
            code, _, details = call(bare, method, None, world.keys[name])
            allowed = permits(method, Principal(name, role, world.scopes[name]))
            if code in NEVER or (code == grpc.StatusCode.PERMISSION_DENIED) == allowed:
                wrong.append(f"{method} as {role}: {code.name} {details}")
    assert wrong == []


@pytest.mark.parametrize("key", [None, "fupin_" + "x" * 43, "not a key", "fupin_short"])
def test_every_rpc_without_a_valid_key_is_unauthenticated(bare, world, key):
    """No key, an unknown key or a malformed one: UNAUTHENTICATED on every RPC but the
    public ones (health, reflection)."""
    codes = {method: call(bare, method, None, key)[0] for method in methods()}
    assert {m: c for m, c in codes.items() if c != grpc.StatusCode.UNAUTHENTICATED} == {}


def test_public_methods_need_no_key(bare):
    """Health checks answer without a key (load balancers send none)."""
    code, responses, _ = call(bare, "/grpc.health.v1.Health/Check", None, None)
    assert code == grpc.StatusCode.OK and responses[0].status == 1  # SERVING
