"""Ozari's settings: the `OZARI_*` variables, each checked for the mistakes people make.

- `OZARI_API_TOKEN` (required, secret): the integration token, sent as `Authorization: Bearer <token>`.
- `OZARI_BASE_URL` (optional): the host only, default `https://api.ozari.co.il`; every endpoint path starts
  with `/integration/`, so a URL that already ends in `/integration` is refused with the fix.
- `OZARI_LANG` (optional, default `he`): the language of table and field labels (Get Tables / Get Fields).
- `OZARI_COLUMN_TYPES` (optional): the platform publishes no column types, so every column is text unless this
  comma-separated list types some, e.g. `tcust.fbalance:NUMBER,torders.fda:DATE`.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator

from ...model import ColumnType
from ..kit.settings import PlatformSettings, platform_config

DEFAULT_BASE_URL = "https://api.ozari.co.il"
NAME_PATTERN = re.compile(r"[A-Za-z0-9_]+")  # the platform's rule for table and field names
LANG_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,20}")
TOKEN_PATTERN = re.compile(r"[\x21-\x7e]+")  # printable ASCII without spaces: it goes into a header
# Types a configured column may have: those whose values the adapter can carry without guessing a time zone.
CONFIGURABLE_TYPES = (
    ColumnType.TEXT,
    ColumnType.LONGTEXT,
    ColumnType.EMAIL,
    ColumnType.PHONE,
    ColumnType.URL,
    ColumnType.NUMBER,
    ColumnType.DATE,
)
_COLUMN_TYPE_ENTRY = re.compile(r"([A-Za-z0-9_]+)\.([A-Za-z0-9_]+):([A-Za-z]+)")


class OzariSettings(PlatformSettings):
    model_config = platform_config("OZARI_")
    list_fields: ClassVar[tuple[str, ...]] = ("column_types",)

    api_token: SecretStr
    base_url: str = DEFAULT_BASE_URL
    lang: str = "he"
    column_types: tuple[str, ...] = ()

    @field_validator("api_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if token.lower().startswith("bearer "):
            raise ValueError("give the token alone, without the 'Bearer ' prefix")
        if not TOKEN_PATTERN.fullmatch(token):
            raise ValueError("a token has no spaces or control characters; copy it again from Modular 365")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL like {DEFAULT_BASE_URL}")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError(
                f"must be the host only, like {parts.scheme}://{parts.netloc} (paths start with /integration/ "
                "by themselves)"
            )
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("lang")
    @classmethod
    def _check_lang(cls, value: str) -> str:
        if not LANG_PATTERN.fullmatch(value):
            raise ValueError("must be a language code like he or en")
        return value

    @field_validator("column_types")
    @classmethod
    def _check_column_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_column_types(value)
        return value

    def typed_columns(self) -> dict[tuple[str, str], ColumnType]:
        """(table, field) -> the type OZARI_COLUMN_TYPES gives it."""
        return parse_column_types(self.column_types)


def parse_column_types(entries: tuple[str, ...]) -> dict[tuple[str, str], ColumnType]:
    allowed = {kind.value for kind in CONFIGURABLE_TYPES}
    out: dict[tuple[str, str], ColumnType] = {}
    for entry in entries:
        match = _COLUMN_TYPE_ENTRY.fullmatch(entry)
        kind = match[3].upper() if match else ""
        if match is None or kind not in allowed:
            listed = ", ".join(sorted(allowed))
            raise ValueError(f"{entry!r} is not table.field:TYPE with TYPE one of {listed}")
        out[(match[1], match[2])] = ColumnType(kind)
    return out
