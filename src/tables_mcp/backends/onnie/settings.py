"""Onnie's settings: `ONNIE_API_KEY` (a secret) and `ONNIE_BASE_URL`, checked at start with a one-line fix.

An unknown `ONNIE_*` variable is refused (the kit's settings base), so a mistyped name never leaves a
setting silently unset.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator

from ..kit.settings import PlatformSettings, platform_config

DEFAULT_BASE_URL = "https://api.onnie.ai/api/public/v1"  # seed 000's curl sample
KEY_PREFIX = "onn_"  # keys are documented as onn_live_<48 hex>; other onn_ kinds are not refused


class OnnieSettings(PlatformSettings):
    """`ONNIE_API_KEY` (required) and `ONNIE_BASE_URL` (the API base including its version path)."""

    model_config = platform_config("ONNIE_")

    api_key: SecretStr
    base_url: str = DEFAULT_BASE_URL

    @field_validator("api_key")
    @classmethod
    def _plain_key(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key.lower().startswith("bearer "):
            raise ValueError("set the key alone, without the 'Bearer ' prefix")
        if any(char.isspace() for char in key):
            raise ValueError("an API key has no spaces or line breaks; copy it again from Onnie's settings")
        if not key.startswith(KEY_PREFIX):
            raise ValueError("Onnie API keys start with onn_live_; copy the key from Onnie's API key settings")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"expected an http(s) URL like {DEFAULT_BASE_URL}")
        return value.strip().rstrip("/")
