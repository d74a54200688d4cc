"""The settings base every platform adapter uses: one environment prefix, secrets as `SecretStr`, and
unknown variables under the prefix refused at start with the list of known ones.

A mistyped `KINTONE_APP_ID` (for `KINTONE_APP_IDS`) must fail loudly, as an unknown `TABLES_MCP_*`
name does: a setting silently ignored is a setting the user believes is in force.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ...errors import ConfigError


class PlatformSettings(BaseSettings):
    """Subclasses set `model_config = platform_config("KINTONE_")` and declare their fields."""

    model_config = SettingsConfigDict(extra="forbid", case_sensitive=False, env_ignore_empty=True)
    # Fields given as comma-separated text in the environment.
    list_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def prefix(cls) -> str:
        return str(cls.model_config.get("env_prefix", ""))

    @classmethod
    def known_names(cls) -> list[str]:
        return sorted(cls.prefix() + name.upper() for name in cls.model_fields)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Self:
        """The settings in `environ` (the process environment or a client's config), checked."""
        prefix = cls.prefix()
        known = set(cls.known_names())
        unknown = sorted(key for key in environ if key.upper().startswith(prefix) and key.upper() not in known)
        if unknown:
            raise ConfigError(f"unknown environment variable {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for key, value in environ.items():
            if key.upper() in known and value.strip():
                values[key.upper()[len(prefix) :].lower()] = value.strip()
        try:
            # model_validate reads only `values`, not os.environ: what the caller passed is all there is.
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, cls)) from None

    @field_validator("*", mode="before")
    @classmethod
    def _split_lists(cls, value: object, info: Any) -> object:
        if info.field_name in cls.list_fields and isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def secret_values(self) -> list[str]:
        """Every secret among the settings, for redaction."""
        found: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
        return found


def platform_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="forbid", case_sensitive=False, env_ignore_empty=True)


def _describe(exc: ValidationError, cls: type[PlatformSettings]) -> str:
    """The first problem, naming the variable; a secret's value is never shown."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "setting"
    variable = cls.prefix() + name.upper()
    if first["type"] == "missing":
        return f"{variable} is required (see the README's section on this backend)"
    annotation = str(cls.model_fields[name].annotation) if name in cls.model_fields else ""
    shown = "***" if "SecretStr" in annotation else repr(first.get("input"))
    return f"{variable}: {first['msg']} (got {shown})"
