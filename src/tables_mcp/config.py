"""Settings from flags and the environment, checked loudly at start.

Every flag also reads `TABLES_MCP_<FLAG>`; a `TABLES_MCP_*` variable we do not know is an error,
because a mistyped "read-only" must never mean read-write.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "TABLES_MCP_"


class ConfigError(Exception):
    """A configuration problem, explained in one line with its fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", case_sensitive=False)

    backend: Literal["local"] = "local"
    transport: Literal["stdio"] = "stdio"
    db: str | None = Field(default=None, description="SQLite file of the embedded store.")
    read_only: bool = False
    tables: tuple[str, ...] | None = None
    disable_tools: tuple[str, ...] = ()
    tool_mode: Literal["auto", "generic", "per-table"] = "auto"
    per_table_limit: int = Field(default=10, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    @field_validator("tables", "disable_tools", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def db_path(self) -> Path:
        if self.db:
            return Path(self.db).expanduser()
        return platformdirs.user_data_path("tables-mcp", appauthor=False) / "tables.db"


def known_env_names() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def load_settings(overrides: dict[str, object]) -> Settings:
    """Settings from the environment, with command-line values taking precedence."""
    unknown = sorted(
        key for key in os.environ if key.upper().startswith(ENV_PREFIX) and key.upper() not in known_env_names()
    )
    if unknown:
        raise ConfigError(
            f"unknown environment variable {', '.join(unknown)}; known: {', '.join(sorted(known_env_names()))}"
        )
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "setting"
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"{flag} / {ENV_PREFIX}{name.upper()}: {first['msg']} (got {first.get('input')!r})") from exc
