"""The tables of people who sign in (the web console): accounts and their sessions. Rows never
cross the wire (registry/access/users.py translates)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class UserAccount(SQLModel, table=True):
    """A person who signs in (the web console): a role and a scope like an API key's, and an
    Argon2id hash of the password (registry/access/users.py)."""

    __tablename__ = "user_account"

    id: str = Field(primary_key=True, max_length=40)
    username: str = Field(max_length=40, unique=True)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=20)
    scope: str = Field(default="", max_length=40)
    # Where an office manages it: an office's or auditor's scope, a cooperative's village code.
    region: str = Field(default="", max_length=12, index=True)
    display_name: str = Field(default="", max_length=100)
    language: str = Field(default="", max_length=10)
    failed_sign_ins: int = 0
    locked_until: datetime | None = None
    created: datetime
    disabled: datetime | None = None


class UserSession(SQLModel, table=True):
    """A signed-in session: only the SHA-256 of its token is stored."""

    __tablename__ = "user_session"

    id: str = Field(primary_key=True, max_length=40)
    hash: str = Field(max_length=64, unique=True)
    user_id: str = Field(foreign_key="user_account.id", max_length=40, index=True)
    created: datetime
    expires: datetime
    revoked: datetime | None = None
