"""API keys: created with a role and a scope, stored as SHA-256 hashes, revoked at once.

A secret is `fupin_` + 43 URL-safe characters (256 random bits), so a plain SHA-256 is as good as
a slow password hash here: nothing to brute-force. The server keeps no secret, only hashes.

Authentication runs on every call, so known hashes are cached for `CACHE_S`; a revocation
through this server drops its entry at once (another server process sees it within CACHE_S).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlmodel import col

from registry.access.policy import Principal, Role
from registry.errors import InvalidArgument, NotFound, Unauthenticated
from registry.resources import models
from registry.resources.query import Page, next_token
from registry.resources.store import RegistryStore, new_id

log = structlog.get_logger(__name__)
PREFIX = "fupin_"
SECRET = re.compile(r"fupin_[A-Za-z0-9_\-]{43}")
ADMIN_CODE_PREFIX = re.compile(r"[0-9]{2,12}")
RESOURCE_ID = re.compile(r"[A-Za-z0-9_\-]{1,40}")
CACHE_S = 5.0
REFRESH_AFTER_S = CACHE_S / 2  # a key in use is looked up again in the background from then
MAX_CACHED = 10_000  # cached keys; beyond, the cache starts afresh


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    row: models.ApiKey
    secret: str


class CachedKeys:
    """The authentication of presented secrets, each answer (a principal, or None for an
    unknown or revoked key) cached for CACHE_S by the secret's hash. Subclasses look keys up:
    KeyStore in the database, server/remote_keys.py's RemoteKeys through the registry.

    A key in use never makes a caller wait for its lookup: once its answer is REFRESH_AFTER_S
    old, the next call starts one lookup in the background and goes on with the cached answer,
    which the lookup replaces well before it expires. Only a key not seen for CACHE_S waits,
    and then one lookup serves every call waiting for that key (without this, every CACHE_S
    each active key stalled all its calls on a lookup of their own: under load that was the
    split matcher's quick-sourcing p99, a registry round trip). An answer counts from when
    its lookup began, so a revocation still takes effect within CACHE_S.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lookups: dict[str, Future[Principal | None]] = {}  # in progress, by hash
        self._forgotten = 0  # bumped by _forget: a lookup begun before does not cache
        self._lock = threading.Lock()

    def authenticate(self, secret: str) -> Principal:
        """The principal of a valid, unrevoked key; Unauthenticated otherwise."""
        if not SECRET.fullmatch(secret):
            raise Unauthenticated("the API key is malformed")
        key_hash = hash_secret(secret)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_hash)
            age = now - cached[0] if cached is not None else math.inf
            lookup = self._lookups.get(key_hash)
            lead = lookup is None and age >= REFRESH_AFTER_S
            if lead:
                lookup = self._lookups[key_hash] = Future()
        if cached is not None and age < CACHE_S:
            if lead:
                threading.Thread(
                    target=self._look_up, args=(secret, key_hash, True), daemon=True
                ).start()
            principal = cached[1]
        elif lead:
            principal = self._look_up(secret, key_hash, False)
        else:
            assert lookup is not None
            principal = lookup.result()  # the leading call's answer, or its error
        if principal is None:
            raise Unauthenticated("the API key is unknown or revoked")
        return principal

    def known(self, secret: str) -> Principal | None:
        """The cached principal of a valid key, if its answer is fresh; None otherwise (an
        unknown, uncached or malformed key). Never looks anything up: the event loop asks
        it (server/interceptor.py), where a database read would stall every call."""
        if not SECRET.fullmatch(secret):
            return None
        with self._lock:
            cached = self._cache.get(hash_secret(secret))
        if cached is None or time.monotonic() - cached[0] >= CACHE_S:
            return None
        return cached[1]

    def _look_up(self, secret: str, key_hash: str, background: bool) -> Principal | None:
        """Run the lookup this call leads, cache its answer and hand it to the calls waiting
        for it. In the background a failure is logged and the cached answer stands."""
        started = time.monotonic()
        with self._lock:
            lookup, forgotten = self._lookups[key_hash], self._forgotten
        try:
            principal = self._lookup(secret, key_hash)
        except Exception as error:
            with self._lock:
                self._lookups.pop(key_hash, None)
            lookup.set_exception(error)
            if not background:
                raise
            log.warning("api_key_refresh_failed", exc_info=True)
            return None
        with self._lock:
            if len(self._cache) > MAX_CACHED:
                self._cache.clear()
            if forgotten == self._forgotten:
                self._cache[key_hash] = (started, principal)
            self._lookups.pop(key_hash, None)
        lookup.set_result(principal)
        return principal

    def _forget(self, key_hash: str) -> None:
        with self._lock:
            self._cache.pop(key_hash, None)
            self._forgotten += 1

    def _lookup(self, secret: str, key_hash: str) -> Principal | None:
        raise NotImplementedError


class KeyStore(CachedKeys):
    """Key rows in the registry database, and the authentication of presented secrets."""

    def __init__(self, store: RegistryStore) -> None:
        super().__init__()
        self.store = store

    def create(self, role: Role, scope: str = "", description: str = "") -> NewKey:
        self.check_scope(role, scope)
        if len(description) > 200:
            raise InvalidArgument.one("description", "must be at most 200 characters")
        secret = PREFIX + secrets.token_urlsafe(32)
        row = models.ApiKey(
            id=new_id("key"),
            hash=hash_secret(secret),
            role=role.value,
            scope=scope,
            description=description,
            created=models.utcnow(),
        )
        with self.store.transaction(write=True) as session:
            session.add(row)
        log.info("api_key_created", key_id=row.id, role=role.value, scope=scope)
        return NewKey(row, secret)

    def check_scope(self, role: Role, scope: str) -> None:
        """An office's or auditor's scope is an admin code prefix (an auditor's may be empty);
        a cooperative's an existing producer, a platform's an existing buyer; admin has none."""
        if role is Role.ADMIN:
            if scope:
                raise InvalidArgument.one("scope", "must be empty for an admin key")
        elif role in (Role.OFFICE, Role.AUDITOR):
            if (scope or role is Role.OFFICE) and not ADMIN_CODE_PREFIX.fullmatch(scope):
                raise InvalidArgument.one("scope", "must be an administrative code prefix")
        else:
            table: Any = models.Producer if role is Role.COOPERATIVE else models.Buyer
            what = "producer" if role is Role.COOPERATIVE else "buyer"
            if not RESOURCE_ID.fullmatch(scope):
                raise InvalidArgument.one("scope", f"must be the id of the key holder's {what}")
            with self.store.statement() as session:
                if session.get(table, scope) is None:
                    raise InvalidArgument.one("scope", f"{what} {scope!r} does not exist")

    def list(self, *, page: Page, where: dict[str, Any]) -> tuple[list[models.ApiKey], str]:
        """Oldest first (ids are time-ordered)."""
        with self.store.transaction() as session:
            stmt = select(models.ApiKey).order_by(col(models.ApiKey.id))
            if "role" in where:
                stmt = stmt.where(col(models.ApiKey.role) == where["role"])
            if "revoked" in where:
                revoked = col(models.ApiKey.revoked)
                stmt = stmt.where(revoked.is_not(None) if where["revoked"] else revoked.is_(None))
            if page.after:
                stmt = stmt.where(col(models.ApiKey.id) > page.after)
            rows = list(session.scalars(stmt.limit(page.size + 1)))
        more = len(rows) > page.size
        rows = rows[: page.size]
        return rows, next_token(page, rows[-1].id) if more else ""

    def revoke(self, key_id: str) -> models.ApiKey:
        with self.store.transaction(write=True) as session:
            row = session.get(models.ApiKey, key_id, with_for_update=True)
            if row is None:
                raise NotFound(f"api key {key_id!r} not found", field="id")
            if row.revoked is None:
                row.revoked = models.utcnow()
                session.add(row)
                log.info("api_key_revoked", key_id=key_id)
            key_hash = row.hash
        self._forget(key_hash)
        return row

    def _lookup(self, secret: str, key_hash: str) -> Principal | None:
        with self.store.statement() as session:
            row = session.scalar(select(models.ApiKey).where(col(models.ApiKey.hash) == key_hash))
        if row is None or row.revoked is not None:
            return None
        return Principal(row.id, Role(row.role), row.scope)

    def has_admin(self) -> bool:
        with self.store.statement() as session:
            stmt = select(col(models.ApiKey.id)).where(
                col(models.ApiKey.role) == Role.ADMIN.value, col(models.ApiKey.revoked).is_(None)
            )
            return session.scalar(stmt.limit(1)) is not None


def bootstrap_admin(keys: KeyStore, key_file: Path) -> str | None:
    """On a database without a valid admin key: create one and write it to key_file, readable
    by this user only. Returns the new secret (None when an admin key exists)."""
    if keys.has_admin():
        return None
    new = keys.create(Role.ADMIN, description="created at first start")
    write_secret(key_file, new.secret)
    log.info("admin_key_bootstrapped", key_id=new.row.id, key_file=str(key_file))
    return new.secret


def write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")


BEARER = "bearer "


def bearer_key(metadata: Any) -> str:
    """The key of the one `authorization: Bearer …` entry; Unauthenticated otherwise."""
    values = [value for key, value in metadata or () if key == "authorization"]
    if not values:
        raise Unauthenticated("no API key: send metadata 'authorization: Bearer <key>'")
    if len(values) > 1 or not isinstance(values[0], str):
        raise Unauthenticated("send exactly one 'authorization: Bearer <key>' entry")
    value = values[0]
    if value[: len(BEARER)].lower() != BEARER:
        raise Unauthenticated("the authorization metadata must read 'Bearer <key>'")
    return value[len(BEARER) :].strip()
