"""People who sign in: user accounts with a role and a scope (as API keys have), Argon2id
password hashes, lock-out after repeated failures, and short-lived sessions.

A session token has the shape of an API key's secret (`fupin_` + 43 URL-safe characters, 256
random bits) and is sent the same way, so every server and the matcher apart from the registry
(which asks the registry's WhoAmI) accept it without a change: `Credentials` looks a presented
secret up among the keys first, then among the live sessions. Only SHA-256 hashes of tokens
are stored, as for keys. A session's principal carries the user's id as its key id, so the
rate limit and the audit log of household reads name the person.

Every sign-in, failure and sign-out is written to the audit log (outcome column) in the same
transaction as the failure count it changes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select
from sqlmodel import Session, col

from registry.access.keys import PREFIX, KeyStore, hash_secret
from registry.access.models import UserAccount, UserSession
from registry.access.policy import Principal, Role
from registry.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from registry.resources import models
from registry.resources.query import Page, next_token
from registry.resources.store import new_id

log = structlog.get_logger(__name__)
USERNAME = re.compile(r"[a-z0-9][a-z0-9._\-]{2,39}")
LANGUAGES = ("", "zh-CN", "en")
MIN_PASSWORD, MAX_PASSWORD = 10, 200
SESSION = timedelta(hours=8)
MAX_FAILURES = 5  # in a row; the next attempt finds the account locked
LOCK = timedelta(minutes=15)
SIGN_IN = "/fupin.registry.v1.AccessService/SignIn"
SIGN_OUT = "/fupin.registry.v1.AccessService/SignOut"
# Argon2id with argon2-cffi's defaults (RFC 9106's second recommendation: t=3, 64 MiB, p=4):
# a few tenths of a second a check here (0.5 s with both cores busy), once per sign-in,
# never per call: calls send the session token, checked as a key is (SHA-256).
HASHER = PasswordHasher()
# Verified against when the username is unknown, so that a wrong name costs the same time as
# a wrong password and names cannot be probed by timing.
_DECOY = HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires: datetime
    user: UserAccount


class Credentials(KeyStore):
    """API keys, and the sessions of signed-in users: what the server's guard authenticates."""

    def _lookup(self, secret: str, key_hash: str) -> Principal | None:
        principal = super()._lookup(secret, key_hash)
        if principal is not None:
            return principal
        stmt = (
            select(UserAccount, UserSession)
            .join(UserSession, col(UserSession.user_id) == UserAccount.id)
            .where(col(UserSession.hash) == key_hash)
        )
        with self.store.statement() as session:
            row = session.execute(stmt).first()
        if row is None:
            return None
        user, live = row
        if live.revoked is not None or user.disabled is not None or live.expires <= _now():
            return None
        return Principal(user.id, Role(user.role), user.scope)

    def forget(self, token_hash: str) -> None:
        """Drop a cached answer at once (a session signed out or its user disabled)."""
        self._forget(token_hash)


class UserStore:
    """User rows, sign-in and sign-out; checks of who may manage whom."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.store = credentials.store

    # --- management ----------------------------------------------------------------------

    def create(
        self,
        manager: Principal,
        *,
        username: str,
        password: str,
        role: Role,
        scope: str,
        display_name: str = "",
        language: str = "",
    ) -> UserAccount:
        username = username.strip().lower()
        check_fields(username, password, display_name, language)
        self.credentials.check_scope(role, scope)
        region = self._region(role, scope)
        self._may_manage(manager, role, region)
        row = UserAccount(
            id=new_id("user"),
            username=username,
            password_hash=HASHER.hash(password),
            role=role.value,
            scope=scope,
            region=region,
            display_name=display_name,
            language=language,
            created=_now(),
        )
        with self.store.transaction(write=True) as session:
            taken = session.scalar(
                select(col(UserAccount.id)).where(col(UserAccount.username) == username)
            )
            if taken is not None:
                raise AlreadyExists(f"username {username!r} is taken", field="username")
            session.add(row)
        log.info("user_created", user_id=row.id, role=role.value, scope=scope)
        return row

    def list_users(
        self, manager: Principal, *, page: Page, where: dict[str, Any]
    ) -> tuple[list[UserAccount], str]:
        """Oldest first (ids are time-ordered); an office sees the users of its region."""
        table = UserAccount
        stmt = select(table).order_by(col(table.id))
        if manager.role is Role.OFFICE:
            stmt = stmt.where(col(table.region).startswith(manager.scope, autoescape=True))
        if "role" in where:
            stmt = stmt.where(col(table.role) == where["role"])
        if "disabled" in where:
            disabled = col(table.disabled)
            stmt = stmt.where(disabled.is_not(None) if where["disabled"] else disabled.is_(None))
        if page.after:
            stmt = stmt.where(col(table.id) > page.after)
        with self.store.transaction() as session:
            rows = list(session.scalars(stmt.limit(page.size + 1)))
        more = len(rows) > page.size
        rows = rows[: page.size]
        return rows, next_token(page, rows[-1].id) if more else ""

    def disable(self, manager: Principal, user_id: str) -> UserAccount:
        with self.store.transaction(write=True) as session:
            row = self._managed(session, manager, user_id)
            if row.disabled is None:
                row.disabled = _now()
                session.add(row)
            hashes = self._end_sessions(session, user_id)
        self._forget(hashes)
        log.info("user_disabled", user_id=user_id)
        return row

    def reset_password(self, manager: Principal, user_id: str, password: str) -> UserAccount:
        check_fields("x" * 3, password, "", "")
        with self.store.transaction(write=True) as session:
            row = self._managed(session, manager, user_id)
            row.password_hash = HASHER.hash(password)
            row.failed_sign_ins = 0
            row.locked_until = None
            session.add(row)
            hashes = self._end_sessions(session, user_id)
        self._forget(hashes)
        log.info("user_password_reset", user_id=user_id)
        return row

    # --- signing in and out --------------------------------------------------------------

    def sign_in(self, username: str, password: str, request_id: str = "") -> SignedIn:
        """A new session, or Unauthenticated / PermissionDenied (locked) after auditing why."""
        name = username.strip().lower()[:40]
        now = _now()
        with self.store.transaction(write=True) as session:
            user = session.scalar(
                select(UserAccount).where(col(UserAccount.username) == name).with_for_update()
            )
            outcome, signed_in = self._attempt(session, user, password, now)
            _audit(session, user, SIGN_IN, request_id, outcome)
        if signed_in is not None:
            log.info("user_signed_in", user_id=signed_in.user.id)
            return signed_in
        log.info("user_sign_in_failed", outcome=outcome)
        if outcome == "LOCKED_OUT" and user is not None and user.locked_until is not None:
            until = user.locked_until.strftime("%H:%M UTC")
            raise PermissionDenied(f"too many failed sign-ins: the account is locked until {until}")
        raise Unauthenticated("wrong username or password")

    def _attempt(
        self, session: Session, user: UserAccount | None, password: str, now: datetime
    ) -> tuple[str, SignedIn | None]:
        if user is None:
            _verify(_DECOY, password)
            return "UNKNOWN_USER", None
        if user.locked_until is not None and user.locked_until > now:
            return "LOCKED_OUT", None
        if not _verify(user.password_hash, password):
            user.failed_sign_ins += 1
            if user.failed_sign_ins >= MAX_FAILURES:
                user.locked_until = now + LOCK
            session.add(user)
            return "BAD_PASSWORD", None
        if user.disabled is not None:
            return "DISABLED", None
        user.failed_sign_ins, user.locked_until = 0, None
        session.add(user)
        token = PREFIX + secrets.token_urlsafe(32)
        expires = now + SESSION
        session.add(
            UserSession(
                id=new_id("ses"),
                hash=hash_secret(token),
                user_id=user.id,
                created=now,
                expires=expires,
            )
        )
        return "SIGNED_IN", SignedIn(token, expires, user)

    def sign_out(self, token: str, request_id: str = "") -> None:
        """End the session of this token (nothing to do for an API key)."""
        token_hash = hash_secret(token)
        with self.store.transaction(write=True) as session:
            live = session.scalar(select(UserSession).where(col(UserSession.hash) == token_hash))
            if live is None:
                return
            if live.revoked is None:
                live.revoked = _now()
                session.add(live)
            user = session.get(UserAccount, live.user_id)
            _audit(session, user, SIGN_OUT, request_id, "SIGNED_OUT")
        self.credentials.forget(token_hash)

    # --- helpers -------------------------------------------------------------------------

    def _region(self, role: Role, scope: str) -> str:
        """Where an office manages this user: its scope, or its producer's village code."""
        if role in (Role.OFFICE, Role.AUDITOR):
            return scope
        if role is not Role.COOPERATIVE:
            return ""
        with self.store.statement() as session:
            producer = session.get(models.Producer, scope)
            village = (
                session.get(models.Village, producer.village_id)
                if producer is not None and producer.village_id
                else None
            )
        return village.admin_code[:12] if village is not None else ""

    def _may_manage(self, manager: Principal, role: Role, region: str) -> None:
        if manager.role is Role.ADMIN:
            return
        if role in (Role.ADMIN, Role.PLATFORM) or not region.startswith(manager.scope):
            raise PermissionDenied(
                f"an office manages the office, auditor and cooperative users of its region "
                f"({manager.scope}); an admin manages the others"
            )

    def _managed(self, session: Session, manager: Principal, user_id: str) -> UserAccount:
        row = session.get(UserAccount, user_id, with_for_update=True)
        outside = manager.role is not Role.ADMIN and (
            row is None or not row.region or not row.region.startswith(manager.scope)
        )
        if row is None or outside:
            raise NotFound(f"user {user_id!r} not found", field="id")
        return row

    def _forget(self, hashes: list[str]) -> None:
        for token_hash in hashes:
            self.credentials.forget(token_hash)

    def _end_sessions(self, session: Session, user_id: str) -> list[str]:
        rows = session.scalars(
            select(UserSession).where(
                col(UserSession.user_id) == user_id,
                col(UserSession.revoked).is_(None),
            )
        ).all()
        now = _now()
        for row in rows:
            row.revoked = now
            session.add(row)
        return [row.hash for row in rows]


def check_fields(username: str, password: str, display_name: str, language: str) -> None:
    problems: list[tuple[str, str]] = []
    if not USERNAME.fullmatch(username):
        problems.append(("username", "must be 3-40 of a-z 0-9 . _ - (starting with a-z 0-9)"))
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        problems.append(("password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters"))
    if len(display_name) > 100:
        problems.append(("display_name", "must be at most 100 characters"))
    if language not in LANGUAGES:
        problems.append(("language", 'must be "zh-CN", "en" or empty'))
    if problems:
        raise InvalidArgument([FieldViolation(f, d) for f, d in problems])


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _audit(
    session: Session,
    user: UserAccount | None,
    rpc: str,
    request_id: str,
    outcome: str,
) -> None:
    county = user.region[:6] if user is not None and user.region else ""
    session.execute(
        insert(models.AuditEvent).values(
            time=_now(),
            key_id=user.id if user is not None else "",
            role=user.role if user is not None else "",
            rpc=rpc,
            request_id=request_id[:100],
            household_ids=",",
            county_codes=f",{county}," if county else ",",
            outcome=outcome,
        )
    )


def _now() -> datetime:
    return models.utcnow()
