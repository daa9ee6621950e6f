"""`fupin users …`: the accounts people sign in with (the web console), through AccessService.

    fupin users create USERNAME --role office --scope 350624 [--name NAME] [--language zh-CN]
    fupin users list [--filter 'role = OFFICE AND disabled = false']
    fupin users disable USER_ID
    fupin users reset-password USER_ID

The password of `create` and `reset-password` is made here (16 random characters, printed once)
unless `--password-stdin` reads it from standard input. An admin key manages every user, an
office key the users of its region. Messages are in Chinese when $FUPIN_LANG (or $LANG) starts
with "zh", in English otherwise.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

from clients import i18n
from clients.cli.cells import when
from clients.cli.keys import ROLES, access_stub, emit_rows, list_all
from clients.cli.output import emit_json, say, show
from clients.i18n import _
from fupin.registry.v1 import access_service_pb2 as apb

MESSAGES = {
    "created": (
        "created user {id} ({username}, {role} {scope})",
        "已创建用户 {id}（{username}，{role} {scope}）",
    ),
    "password": ("its password, shown once:", "其密码（只显示这一次）："),
    "disabled": ("disabled {id}: its sessions have ended", "已停用 {id}：其会话已结束"),
    "reset": ("new password of {id}, shown once:", "{id} 的新密码（只显示这一次）："),
    "reset_given": ("password of {id} set", "已设置 {id} 的密码"),
    "headings": (
        ["ID", "USERNAME", "ROLE", "SCOPE", "NAME", "LANGUAGE", "CREATED", "STATE"],
        ["编号", "用户名", "角色", "范围", "姓名", "语言", "创建时间", "状态"],
    ),
    "active": ("active", "正常"),
    "locked": ("locked", "已锁定"),
    "off": ("disabled", "已停用"),
}


def text(key: str, **values: str) -> Any:
    chosen = MESSAGES[key][1 if _chinese() else 0]
    return chosen.format(**values) if isinstance(chosen, str) else chosen


def _chinese() -> bool:
    return i18n.language() == "zh_CN"  # --lang, else FUPIN_LANG, else the locale


def add_commands(commands: Any, client: argparse.ArgumentParser) -> None:
    users = commands.add_parser("users", help=_("accounts people sign in with (admin, office)"))
    verbs = users.add_subparsers(dest="verb", required=True, metavar="VERB")
    create = verbs.add_parser(
        "create", parents=[client], help=_("make a user; prints its password")
    )
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "--scope",
        default="",
        help=_("office/auditor: admin code prefix; cooperative: producer id; platform: buyer id"),
    )
    create.add_argument("--name", default="", help=_("display name"))
    create.add_argument("--language", default="", choices=["", "zh-CN", "en"])
    create.add_argument("--password-stdin", action="store_true", help=_("read the password"))
    create.set_defaults(run=run_create)
    listing = verbs.add_parser("list", parents=[client], help=_("users, never their passwords"))
    listing.add_argument(
        "--filter", default="", help=_("e.g. 'role = OFFICE AND disabled = false'")
    )
    listing.set_defaults(run=run_list)
    disable = verbs.add_parser("disable", parents=[client], help=_("end its sessions, no sign-in"))
    disable.add_argument("id")
    disable.set_defaults(run=run_disable)
    reset = verbs.add_parser("reset-password", parents=[client], help=_("new password, unlocks"))
    reset.add_argument("id")
    reset.add_argument("--password-stdin", action="store_true", help=_("read the password"))
    reset.set_defaults(run=run_reset)


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password and whether it was made here (and must be shown)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return secrets.token_urlsafe(12), True


def run_create(args: argparse.Namespace) -> int:
    password, made = _password(args)
    request = apb.CreateUserRequest(
        username=args.username,
        password=password,
        role=apb.Role.Value(args.role.upper()),
        scope=args.scope,
        display_name=args.name,
        language=args.language,
    )
    with access_stub(args) as stub:
        user = stub.CreateUser(request, timeout=args.timeout)
    if args.output == "json":
        emit_json({"id": user.id, "username": user.username, "password": password if made else ""})
        return 0
    say(text("created", id=user.id, username=user.username, role=args.role, scope=args.scope))
    if made:
        say(text("password"))
        show(password)
    return 0


def run_list(args: argparse.Namespace) -> int:
    rows = list_all(args, "ListUsers", apb.ListUsersRequest, "users")
    fields = ["id", "username", "role", "scope", "display_name", "language", "create_time"]
    emit_rows(rows, args.output, text("headings"), _user, [*fields, "state"])
    return 0


def _user(user: apb.User) -> list[str]:
    state = "off" if user.HasField("disable_time") else "active"
    if state == "active" and user.HasField("locked_until"):
        state = "locked"
    return [
        user.id,
        user.username,
        apb.Role.Name(user.role).lower(),
        user.scope,
        user.display_name,
        user.language,
        when(user.create_time),
        text(state),
    ]


def run_disable(args: argparse.Namespace) -> int:
    with access_stub(args) as stub:
        stub.DisableUser(apb.DisableUserRequest(id=args.id), timeout=args.timeout)
    say(text("disabled", id=args.id))
    return 0


def run_reset(args: argparse.Namespace) -> int:
    password, made = _password(args)
    with access_stub(args) as stub:
        stub.ResetPassword(
            apb.ResetPasswordRequest(id=args.id, password=password), timeout=args.timeout
        )
    if made:
        say(text("reset", id=args.id))
        show(password)
    else:
        say(text("reset_given", id=args.id))
    return 0
