"""API keys: hashed at rest, revoked at once, managed by `fupin keys`, bootstrapped by serve."""

from __future__ import annotations

import stat

import grpc
from sqlalchemy import text

from clients.cli import main
from clients.client import BUYERS, RegistryClient
from fupin.registry.v1 import access_service_pb2 as apb
from registry.access.keys import KeyStore, bootstrap_admin, hash_secret
from registry.access.policy import Role
from tests import factories
from tests.access.world import call

_X = "/fupin.registry.v1.AccessService/"
LIST_VILLAGES = "/fupin.registry.v1.RegistryService/ListVillages"


def test_revoked_key_stops_at_once(bare, server, admin_key):
    """The call right after RevokeApiKey is UNAUTHENTICATED (the key was cached before)."""
    new = server.keys.create(Role.OFFICE, "350624")
    assert call(bare, LIST_VILLAGES, None, new.secret)[0] == grpc.StatusCode.OK
    code, (revoked,), _ = call(
        bare, f"{_X}RevokeApiKey", apb.RevokeApiKeyRequest(id=new.row.id), admin_key
    )
    assert code == grpc.StatusCode.OK and revoked.HasField("revoke_time")
    assert call(bare, LIST_VILLAGES, None, new.secret)[0] == grpc.StatusCode.UNAUTHENTICATED


def test_only_hashes_are_stored(bare, server, admin_key):
    """The database holds the SHA-256 of a secret, never the secret."""
    code, (created,), _ = call(
        bare,
        f"{_X}CreateApiKey",
        apb.CreateApiKeyRequest(role=apb.AUDITOR, scope="35"),
        admin_key,
    )
    assert code == grpc.StatusCode.OK and created.secret.startswith("fupin_")
    with server.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_key")).all()
    dump = repr(rows)
    assert created.secret not in dump and hash_secret(created.secret) in dump
    assert call(bare, LIST_VILLAGES, None, created.secret)[0] == grpc.StatusCode.OK


def test_scopes_must_suit_the_role(bare, admin_key):
    """An office needs an admin code prefix; a platform an existing buyer; admin no scope."""
    for role, scope in (
        (apb.OFFICE, ""),
        (apb.OFFICE, "35x"),
        (apb.PLATFORM, "buy-none"),
        (apb.ADMIN, "35"),
        (apb.ROLE_UNSPECIFIED, ""),
    ):
        code, _, details = call(
            bare, f"{_X}CreateApiKey", apb.CreateApiKeyRequest(role=role, scope=scope), admin_key
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (role, scope, details)


def test_fupin_keys_commands(server, capsys):
    """create prints the secret once; list shows the key without it; revoke ends it."""
    target = ["--target", f"127.0.0.1:{server.port}"]
    assert main(["keys", "create", "--role", "auditor", "--scope", "350624", *target]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("fupin_")
    assert main(["keys", "list", "--filter", "role = AUDITOR", *target]) == 0
    listed = capsys.readouterr().out
    assert "auditor" in listed and "350624" in listed and secret not in listed
    key_id = next(line.split()[0] for line in listed.splitlines() if "350624" in line)
    assert main(["keys", "revoke", key_id, *target]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--filter", "revoked = true", "--output", "json", *target]) == 0
    assert key_id in capsys.readouterr().out
    assert main(["keys", "list", "--filter", "revoked = true", "--output", "csv", *target]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header == "id,role,scope,create_time,revoke_time,description"
    assert any(line.startswith(f"{key_id},auditor,350624,") for line in lines)
    zh = ["--lang", "zh-CN", "keys", "create", "--role", "auditor", "--scope", "350624"]
    assert main([*zh, *target]) == 0
    assert "其密钥仅显示这一次" in capsys.readouterr().err
    assert main(["--lang", "zh-CN", "keys", "list", *target]) == 0
    heading = capsys.readouterr().out.splitlines()[0]
    assert "角色" in heading and "职务" not in heading  # a key's role, not a cadre's


def test_keys_commands_need_an_admin(server, capsys, monkeypatch):
    """With a platform key, `fupin keys list` is refused: PERMISSION_DENIED, exit 1."""
    with RegistryClient(f"127.0.0.1:{server.port}") as client:
        buyer = client.create(BUYERS, factories.buyer())
    monkeypatch.setenv("FUPIN_API_KEY", server.keys.create(Role.PLATFORM, buyer.id).secret)
    assert main(["keys", "list", "--target", f"127.0.0.1:{server.port}"]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err


def test_first_start_writes_an_admin_key(server, tmp_path):
    """On a database without an admin key, one is made and written to a file only its owner
    can read; the next start makes none."""
    from sqlmodel import SQLModel

    with server.store.engine.begin() as conn:
        conn.execute(SQLModel.metadata.tables["api_key"].delete())
    keys = KeyStore(server.store)
    path = tmp_path / "var" / "admin.key"
    secret = bootstrap_admin(keys, path)
    assert secret is not None and path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.authenticate(secret).role is Role.ADMIN
    assert bootstrap_admin(keys, path) is None
