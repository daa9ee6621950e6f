"""Settings from the environment (FUPIN_*) or a TOML file named by FUPIN_CONFIG_FILE."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATABASE_URL = "sqlite:///var/fupin.db"


class Settings(BaseSettings):
    """Everything configurable about a fupin server. Built once in main() and passed down."""

    model_config = SettingsConfigDict(env_prefix="FUPIN_", extra="forbid")

    address: str = "127.0.0.1:50051"
    database_url: str = DEFAULT_DATABASE_URL
    scoring_file: Path | None = None
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "info"
    max_workers: int = Field(default=16, ge=2)  # server threads for RPCs that answer at once
    # Calls in flight (server/admission.py; RESOURCE_EXHAUSTED with retry info beyond): RPCs
    # on a thread, per key and in all (fewer than max_workers: the rest serve admins) ...
    max_calls_per_key: int = Field(default=8, ge=1)
    max_calls: int = Field(default=0, ge=0)  # 0: max_workers - 4 (at least 1)
    # ... and streams and calls waiting for a run's end, which hold no thread (server/loop.py).
    max_streams_per_key: int = Field(default=1000, ge=1)
    max_streams: int = Field(default=4000, ge=1)
    wait_workers: int = Field(default=4, ge=1)  # threads for the short steps of waiting calls
    grace_s: float = 10.0  # how long in-flight calls may finish on SIGTERM
    max_message_mb: int = 64
    max_parallel_solves: int = 2  # solver processes at once (one per core is a good start)
    # Niceness of the solver processes (0-19): batch solves yield the cores to calls that
    # answer at once (quick sourcing, reads) when both want them; 0 to solve at full priority.
    solver_nice: int = Field(default=10, ge=0, le=19)
    # MiB of heap the solver process started with the server faults in before its first solve
    # and keeps (matcher/service/runner.py): the first large run after a start as fast as the
    # next, for memory that worker holds after its first large run anyway; 0: none.
    solver_heap_mb: int = Field(default=1024, ge=0, le=16384)
    # Key of the household pseudonyms in the transparency export (keep it secret and fixed,
    # so tokens stay the same between exports); empty: a random key per server start.
    transparency_salt: str = ""
    # Key signing the page tokens of every List (registry/resources/query.py), or a file
    # holding it (made with a random key by the first process to start); both empty: a random
    # key per process. Servers that share callers (replicas, a split deployment) share it.
    page_token_key: str = ""
    page_token_key_file: Path | None = None
    # PEM file of the Ed25519 key that signs ledger checkpoints (`fupin aid keygen FILE`, or
    # `openssl genpkey -algorithm ed25519 -out FILE`); keep it outside the database and its
    # backups. None: CreateLedgerCheckpoint answers FAILED_PRECONDITION.
    ledger_signing_key_file: Path | None = None
    # Committed aid grants not disbursed after this many days are flagged (GetAidDelivery).
    aid_overdue_days: int = Field(default=30, ge=1, le=3650)
    # Access control (docs/access.md): TLS, and the admin key made at first start.
    tls_cert_file: Path | None = None  # PEM certificate chain; with tls_key_file turns TLS on
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None  # PEM CA: clients must present a certificate (mTLS)
    insecure: bool = False  # allow plaintext on a non-loopback address
    admin_key_file: Path = Path("var/admin.key")
    rate_limit_per_s: float = 200.0  # calls per key and second, on average (0: no limit)
    rate_limit_burst: int = 400
    max_problem_listings: int = 200_000  # per matching run (RESOURCE_EXHAUSTED beyond)
    max_problem_orders: int = 20_000
    # Split deployment: "registry" serves RegistryService (and the matcher's internal store
    # service); "matcher" serves MatcherService over the registry at registry_target.
    only: Literal["all", "registry", "matcher"] = "all"
    registry_target: str = ""  # HOST:PORT of the registry, with only = "matcher"
    registry_timeout_s: float = 60.0  # deadline of the matcher's calls to the registry
    health_probe_s: float = 5.0  # how often health re-checks the database (or the registry)
    metrics_address: str = ""  # HOST:PORT of the Prometheus endpoint; empty: off

    @model_validator(mode="after")
    def _threads_left_for_admins(self) -> Self:
        if self.max_calls >= self.max_workers:
            raise ValueError("max_calls must be below max_workers: the rest serve admins")
        return self

    @property
    def calls_bound(self) -> int:
        """Calls on threads in flight in all (max_calls, or max_workers - 4)."""
        return self.max_calls or max(1, self.max_workers - 4)

    @model_validator(mode="after")
    def _matcher_needs_registry(self) -> Self:
        if self.only == "matcher" and not self.registry_target:
            raise ValueError("only = matcher needs registry_target (the registry's HOST:PORT)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments win, then the environment, then the TOML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("FUPIN_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)
