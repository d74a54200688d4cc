"""The DINGTALK_* settings: an internal app's key and secret, the operator, the base, and the API host.

Checked at start (kit `PlatformSettings`: unknown DINGTALK_* variables are refused, the secret is a
`SecretStr`), each mistake answered with a one-line fix.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator

from ..kit.settings import PlatformSettings, platform_config

DEFAULT_API_BASE_URL = "https://api.dingtalk.com"


class DingTalkSettings(PlatformSettings):
    model_config = platform_config("DINGTALK_")

    app_key: str  # the internal app's AppKey (Client ID)
    app_secret: SecretStr  # its AppSecret (Client Secret)
    operator_id: str  # the unionId every Notable call acts as
    base_id: str  # the AI table (base) whose sheets are the tables
    api_base_url: str = DEFAULT_API_BASE_URL

    @field_validator("api_base_url")
    @classmethod
    def _host_only(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL like {DEFAULT_API_BASE_URL}")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError(f"must be the host only, like {parts.scheme}://{parts.netloc} (the paths are built in)")
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("base_id", "operator_id", "app_key")
    @classmethod
    def _one_token(cls, value: str) -> str:
        # These go into URL paths and query strings: an id never holds spaces or slashes.
        if any(ch.isspace() or ch in "/?#&" for ch in value):
            raise ValueError("must be a single id without spaces or / ? # & (copy it again from DingTalk)")
        return value
