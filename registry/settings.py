"""Settings from the environment (FUPIN_*) or a TOML file named by FUPIN_CONFIG_FILE."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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
    max_workers: int = 16  # server threads for RPCs
    grace_s: float = 10.0  # how long in-flight calls may finish on SIGTERM
    max_message_mb: int = 64
    max_parallel_solves: int = 2  # solver processes at once (one per core is a good start)
    # Key of the household pseudonyms in the transparency export (keep it secret and fixed,
    # so tokens stay the same between exports); empty: a random key per server start.
    transparency_salt: str = ""

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
