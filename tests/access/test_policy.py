"""The policy table covers every RPC the server hosts, and docs/access.md shows it."""

from __future__ import annotations

from google.protobuf import descriptor_pool

from registry.access import doc as access_doc
from registry.access import policy as access
from registry.access.policy import POLICY, Role
from tests.clients.test_serve import listed_services


def test_every_hosted_rpc_has_a_policy_entry(bare):
    """Each method of each service registered on the server (from the reflection service's
    descriptors) has an entry; each entry names a method the server hosts."""
    hosted = set()
    for name in listed_services(bare):
        service = descriptor_pool.Default().FindServiceByName(name)
        hosted |= {f"/{name}/{m.name}" for m in service.methods}
    missing = sorted(hosted - set(POLICY))
    assert not missing, f"RPCs without an entry in registry/access/policy.py POLICY: {missing}"
    assert sorted(set(POLICY) - hosted) == []


def test_an_unlisted_method_is_for_admin_only():
    """A method the table does not know is denied to every role but admin."""
    method = "/fupin.example.v1.NewService/DoSomething"
    assert [r for r in Role if access.allowed(method, r)] == [Role.ADMIN]


def test_docs_table_matches_the_code(repo_root):
    """docs/access.md holds the table generated from POLICY (scripts/gen_access_doc.py)."""
    text = (repo_root / "docs" / "access.md").read_text()
    assert access_doc.render(text) == text, "run: .venv/bin/python scripts/gen_access_doc.py"
