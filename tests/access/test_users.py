"""Users: Argon2id hashes, sign-in to a session that works like a key, lock-out, sign-out,
disabling, an office managing its region's users, the audit of every sign-in; `fupin users`."""

from __future__ import annotations

import grpc
from sqlalchemy import text

from clients.cli import main
from fupin.registry.v1 import access_service_pb2 as apb
from registry.access import users
from tests.access.world import PUNING, ZHAOAN, call

_X = "/fupin.registry.v1.AccessService/"
LIST_VILLAGES = "/fupin.registry.v1.RegistryService/ListVillages"
LIST_HOUSEHOLDS = "/fupin.registry.v1.RegistryService/ListHouseholds"
PASSWORD = "plum-blossom-2020"


def create(bare, key, username, role, scope, password=PASSWORD):
    request = apb.CreateUserRequest(username=username, password=password, role=role, scope=scope)
    return call(bare, f"{_X}CreateUser", request, key)


def sign_in(bare, username, password=PASSWORD):
    return call(bare, f"{_X}SignIn", apb.SignInRequest(username=username, password=password), None)


def test_sign_in_gives_a_session_with_the_users_role_and_scope(bare, world, server):
    """The token reads what an office key of Zhao'an reads, no more; the hash is Argon2id."""
    code, (user,), _ = create(bare, world.keys["admin"], "lin.office", apb.OFFICE, ZHAOAN)
    assert code == grpc.StatusCode.OK and user.username == "lin.office"
    code, (signed,), _ = sign_in(bare, "Lin.Office")
    assert code == grpc.StatusCode.OK and signed.user.role == apb.OFFICE
    code, (me,), _ = call(bare, f"{_X}WhoAmI", None, signed.token)
    assert (me.id, me.role, me.scope) == (user.id, apb.OFFICE, ZHAOAN)
    code, (page,), _ = call(bare, LIST_HOUSEHOLDS, None, signed.token)
    assert code == grpc.StatusCode.OK and len(page.households) == 1
    assert (
        call(bare, f"{_X}ListApiKeys", None, signed.token)[0] == grpc.StatusCode.PERMISSION_DENIED
    )
    with server.store.engine.connect() as conn:
        (stored,) = conn.execute(text("SELECT password_hash FROM user_account")).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_sign_out_ends_the_session_at_once(bare, world):
    """The call right after SignOut is UNAUTHENTICATED (the token was cached before)."""
    create(bare, world.keys["admin"], "coop.keeper", apb.COOPERATIVE, world.ids["coop"])
    _, (signed,), _ = sign_in(bare, "coop.keeper")
    assert call(bare, LIST_VILLAGES, None, signed.token)[0] == grpc.StatusCode.OK
    assert call(bare, f"{_X}SignOut", None, signed.token)[0] == grpc.StatusCode.OK
    assert call(bare, LIST_VILLAGES, None, signed.token)[0] == grpc.StatusCode.UNAUTHENTICATED


def test_lock_out_after_repeated_failures_and_reset_lifts_it(bare, world):
    """Five wrong passwords lock the account: even the right one is refused until a reset."""
    _, (user,), _ = create(bare, world.keys["admin"], "auditor.wu", apb.AUDITOR, ZHAOAN)
    for _ in range(users.MAX_FAILURES):
        assert sign_in(bare, "auditor.wu", "wrong-password")[0] == grpc.StatusCode.UNAUTHENTICATED
    code, _, details = sign_in(bare, "auditor.wu")
    assert code == grpc.StatusCode.PERMISSION_DENIED and "locked until" in details
    _, (page,), _ = call(bare, f"{_X}ListUsers", None, world.keys["admin"])
    assert page.users[0].HasField("locked_until") and page.users[0].failed_sign_ins == 5
    reset = apb.ResetPasswordRequest(id=user.id, password="a-new-password")
    assert call(bare, f"{_X}ResetPassword", reset, world.keys["office"])[0] == grpc.StatusCode.OK
    assert sign_in(bare, "auditor.wu", "a-new-password")[0] == grpc.StatusCode.OK


def test_every_sign_in_and_failure_is_audited(bare, world):
    """Outcomes in order; an unknown name is refused with the same message as a wrong password."""
    _, (user,), _ = create(bare, world.keys["admin"], "zhao.office", apb.OFFICE, ZHAOAN)
    _, _, unknown = sign_in(bare, "nobody-here")
    _, _, wrong = sign_in(bare, "zhao.office", "not-the-password")
    assert unknown == wrong == "wrong username or password"
    _, (signed,), _ = sign_in(bare, "zhao.office")
    call(bare, f"{_X}SignOut", None, signed.token)
    request = apb.ListAuditEventsRequest(filter=f'key_id = "{user.id}"')
    _, (page,), _ = call(bare, f"{_X}ListAuditEvents", request, world.keys["auditor"])
    assert [e.outcome for e in page.events] == ["BAD_PASSWORD", "SIGNED_IN", "SIGNED_OUT"]
    request = apb.ListAuditEventsRequest(filter=f'rpc = "{users.SIGN_IN}"')
    _, (page,), _ = call(bare, f"{_X}ListAuditEvents", request, world.keys["admin"])
    assert "UNKNOWN_USER" in [e.outcome for e in page.events]


def test_disabled_user_cannot_sign_in_and_its_sessions_end(bare, world):
    """DisableUser ends live sessions and refuses the next sign-in."""
    _, (user,), _ = create(
        bare, world.keys["admin"], "plat.buyer", apb.PLATFORM, world.ids["buyer_1"]
    )
    _, (signed,), _ = sign_in(bare, "plat.buyer")
    disable = apb.DisableUserRequest(id=user.id)
    code, (off,), _ = call(bare, f"{_X}DisableUser", disable, world.keys["admin"])
    assert code == grpc.StatusCode.OK and off.HasField("disable_time")
    assert call(bare, LIST_VILLAGES, None, signed.token)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert sign_in(bare, "plat.buyer")[0] == grpc.StatusCode.UNAUTHENTICATED


def test_an_office_manages_only_users_of_its_region(bare, world):
    """Zhao'an's office creates its cooperative's user; not Puning's office, nor a platform's."""
    office = world.keys["office"]
    assert (
        create(bare, office, "coop.a", apb.COOPERATIVE, world.ids["coop"])[0] == grpc.StatusCode.OK
    )
    assert create(bare, office, "town.office", apb.OFFICE, f"{ZHAOAN}001")[0] == grpc.StatusCode.OK
    for role, scope in (
        (apb.OFFICE, PUNING),
        (apb.PLATFORM, world.ids["buyer_1"]),
        (apb.ADMIN, ""),
    ):
        assert (
            create(bare, office, f"user{role}", role, scope)[0] == grpc.StatusCode.PERMISSION_DENIED
        )
    _, (puning,), _ = create(bare, world.keys["admin"], "puning.office", apb.OFFICE, PUNING)
    _, (page,), _ = call(bare, f"{_X}ListUsers", None, office)
    assert sorted(u.username for u in page.users) == ["coop.a", "town.office"]
    disable = apb.DisableUserRequest(id=puning.id)
    assert call(bare, f"{_X}DisableUser", disable, office)[0] == grpc.StatusCode.NOT_FOUND
    assert call(bare, f"{_X}CreateUser", None, world.keys["cooperative"])[0] == (
        grpc.StatusCode.PERMISSION_DENIED
    )


def test_bad_fields_are_named(bare, world):
    """Username, password length and language each come back as a field violation."""
    request = apb.CreateUserRequest(
        username="X", password="short", role=apb.OFFICE, scope=ZHAOAN, language="fr"
    )
    code, _, details = call(bare, f"{_X}CreateUser", request, world.keys["admin"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert all(f in details for f in ("username", "password", "language"))
    create(bare, world.keys["admin"], "same.name", apb.OFFICE, ZHAOAN)
    code, _, _ = create(bare, world.keys["admin"], "same.name", apb.OFFICE, ZHAOAN)
    assert code == grpc.StatusCode.ALREADY_EXISTS


def test_cli_users_create_list_reset_disable(server, world, capsys, monkeypatch):
    """`fupin users` in English and in Chinese; the printed password signs in."""
    target = ["--target", f"127.0.0.1:{server.port}"]
    monkeypatch.setenv("FUPIN_LANG", "en")
    assert (
        main(["users", "create", "he.office", "--role", "office", "--scope", ZHAOAN, *target]) == 0
    )
    out, err = capsys.readouterr()
    password = out.strip()
    assert "created user user-" in err and len(password) >= 16
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as bare:
        code, (signed,), _ = sign_in(bare, "he.office", password)
        assert code == grpc.StatusCode.OK
    user_id = signed.user.id
    monkeypatch.setenv("FUPIN_LANG", "zh-CN")
    assert main(["users", "list", *target]) == 0
    out, _ = capsys.readouterr()
    assert "用户名" in out and "he.office" in out and "正常" in out
    monkeypatch.setenv("FUPIN_LANG", "en")  # --lang wins over it
    assert main(["--lang", "zh-CN", "users", "list", *target]) == 0
    assert "用户名" in capsys.readouterr()[0]
    assert main(["users", "list", "--output", "csv", *target]) == 0
    header, *lines = capsys.readouterr()[0].splitlines()
    assert header == "id,username,role,scope,display_name,language,create_time,state"
    assert any(",he.office,office," in line for line in lines)
    monkeypatch.setenv("FUPIN_LANG", "zh-CN")
    assert main(["users", "reset-password", user_id, *target]) == 0
    out, err = capsys.readouterr()
    assert "新密码" in err and out.strip() != password
    assert main(["users", "disable", user_id, *target]) == 0
    assert "已停用" in capsys.readouterr()[1]
