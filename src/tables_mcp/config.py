"""Settings from flags and the environment, checked loudly at start.

ConfigError (defined in errors) is what a configuration problem raises; it is re-exported here.

Every flag also reads `TABLES_MCP_<FLAG>`; a `TABLES_MCP_*` variable we do not know is an error,
because a mistyped "read-only" must never mean read-write.
"""

from __future__ import annotations

import os
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .backends.registry import BACKENDS
from .errors import ConfigError
from .tools import ToolOptions

__all__ = ["ENV_PREFIX", "ConfigError", "Settings", "load_settings", "tool_options"]

ENV_PREFIX = "TABLES_MCP_"


class Settings(BaseSettings):
    # An empty variable is unset (what a client config leaves for a field the user did not fill in).
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", case_sensitive=False, env_ignore_empty=True
    )

    # Each field is also a command-line flag (cli derives them from here): its description is the flag's help.
    backend: str = Field(
        default="local",
        description="tables backend; each platform reads its own variables",
        json_schema_extra={"choices": list(BACKENDS)},
    )
    db: str | None = Field(default=None, description="embedded store: a SQLite file path or a postgresql:// URL")
    transport: Literal["stdio", "sse", "http"] = Field(default="stdio", description="MCP transport")
    host: str = Field(default="127.0.0.1", description="HTTP transports: address to listen on")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP transports: port")
    stateless: bool = Field(default=False, description="streamable HTTP without sessions")
    auth_token: SecretStr | None = None  # a secret: from the environment or the client's config only, never a flag
    allowed_hosts: tuple[str, ...] = Field(
        default=(), description="extra Host names accepted over HTTP (comma-separated), e.g. behind a proxy"
    )
    max_concurrency: int = Field(
        default=16, ge=1, description="tool calls run at once; more wait, then get a retryable error"
    )
    request_timeout: float = Field(default=60.0, gt=0, description="seconds a read may take")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="largest HTTP request body in bytes")
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="HTTP: seconds a client has to send request headers (and longest pause in a body)",
    )
    max_connections: int = Field(default=1000, ge=1, description="HTTP: open connections at most; more get a 503")
    session_idle_timeout: float = Field(
        default=1800.0,
        gt=0,
        description="streamable HTTP: seconds a session with no request and no open stream is kept (a client "
        "that went away without DELETE)",
    )
    audit_log: str | None = Field(
        default=None, description="file for the JSON-lines audit log of writes (default: stderr)"
    )
    read_only: bool = Field(default=False, description="register no write tools at all")
    tables: tuple[str, ...] | None = Field(
        default=None, description="comma-separated table ids or names to expose (default: all)"
    )
    disable_tools: tuple[str, ...] = Field(default=(), description="comma-separated tool names to leave out")
    tool_mode: Literal["auto", "generic", "per-table"] = Field(
        default="auto", description="per-table tools or generic ones"
    )
    per_table_limit: int = Field(default=10, ge=0, description="auto mode: per-table tools up to this many tables")
    confirm_deletes: Literal["never", "auto"] = Field(
        default="auto",
        description="auto: deleteRecords asks the user first when the client supports MCP elicitation; never: it "
        "does not ask (pipelines)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING", description="logging threshold (logs go to stderr)"
    )

    @field_validator("tables", "disable_tools", "allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("backend")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"unknown backend; choose one of {', '.join(BACKENDS)}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def store(self) -> str:
        """Where the embedded store is: TABLES_MCP_DB as given, else a file in the user's data directory."""
        if self.db:
            return self.db
        return str(platformdirs.user_data_path("tables-mcp", appauthor=False) / "tables.db")


def known_env_names() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def load_settings(overrides: dict[str, object]) -> Settings:
    """Settings from the environment, with command-line values taking precedence."""
    # TABLES_MCP_TEST_* belong to the test suite (e.g. TABLES_MCP_TEST_PG_DSN), not to the server.
    unknown = sorted(
        key
        for key in os.environ
        if key.upper().startswith(ENV_PREFIX)
        and not key.upper().startswith(ENV_PREFIX + "TEST_")
        and key.upper() not in known_env_names()
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
        shown = "***" if name == "auth_token" else repr(first.get("input"))
        raise ConfigError(f"{flag} / {ENV_PREFIX}{name.upper()}: {first['msg']} (got {shown})") from exc


def tool_options(settings: Settings) -> ToolOptions:
    """The catalogue options these settings ask for (server and doctor alike)."""
    return ToolOptions(
        mode=settings.tool_mode,
        per_table_limit=settings.per_table_limit,
        read_only=settings.read_only,
        tables=settings.tables,
        disabled_tools=settings.disable_tools,
        confirm_deletes=settings.confirm_deletes,
    )
