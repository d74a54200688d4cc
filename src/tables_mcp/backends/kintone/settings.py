"""The KINTONE_* settings: the domain, API tokens or a login, the guest space, and the apps.

Checked at start (kit `PlatformSettings`: an unknown KINTONE_* variable such as a mistyped
`KINTONE_APP_ID` is refused naming the known ones; the tokens and the password are `SecretStr`), each
mistake answered with a one-line ConfigError naming the fix, never echoing a secret.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import ClassVar, Self
from urllib.parse import urlsplit

from pydantic import SecretStr, model_validator

from ...errors import ConfigError
from ..kit.settings import PlatformSettings, platform_config

MAX_TOKENS = 9
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9]+")


class KintoneSettings(PlatformSettings):
    """`KINTONE_BASE_URL`, `KINTONE_API_TOKEN` (comma-separated, one per app) or `KINTONE_USERNAME` and
    `KINTONE_PASSWORD`, `KINTONE_GUEST_SPACE_ID`, `KINTONE_APP_IDS` (comma-separated)."""

    model_config = platform_config("KINTONE_")
    list_fields: ClassVar[tuple[str, ...]] = ("app_ids",)

    # Defaults, not required fields: the checks below word a missing value with its fix.
    base_url: str = ""
    api_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    guest_space_id: str | None = None
    app_ids: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        base_url: str | None,
        api_tokens: Sequence[str] = (),
        username: str | None = None,
        password: str | None = None,
        guest_space_id: str | int | None = None,
        app_ids: Sequence[str | int] | None = None,
    ) -> Self:
        """Settings from Python values (the backend's constructor), checked like the environment's."""
        return cls.model_validate(
            {
                "base_url": base_url or "",
                "api_token": ",".join(api_tokens) or None,
                "username": username or None,
                "password": password or None,
                "guest_space_id": None if guest_space_id is None else str(guest_space_id),
                "app_ids": None if app_ids is None else tuple(str(app_id) for app_id in app_ids),
            }
        )

    @model_validator(mode="after")
    def _check(self) -> Self:
        # ConfigError (not ValueError) passes through pydantic as itself: the message stays one line.
        self.base_url = _check_base_url(self.base_url)
        tokens = self.api_tokens
        for position, token in enumerate(tokens, start=1):
            if not TOKEN_PATTERN.fullmatch(token):
                raise ConfigError(
                    f"KINTONE_API_TOKEN: token {position} is not a Kintone API token (letters and digits only); "
                    "copy each token from the app's API token settings, separated by commas"
                )
        if len(tokens) > MAX_TOKENS:
            raise ConfigError(f"KINTONE_API_TOKEN holds {len(tokens)} tokens; Kintone accepts at most {MAX_TOKENS}")
        self.api_token = SecretStr(",".join(tokens)) if tokens else None
        self.username = self.username or None
        self.password = self.password if self.password and self.password.get_secret_value() else None
        if bool(self.username) != bool(self.password):
            missing = "KINTONE_PASSWORD" if self.username else "KINTONE_USERNAME"
            raise ConfigError(f"{missing} is not set; set KINTONE_USERNAME and KINTONE_PASSWORD together")
        if not tokens and not self.username:
            raise ConfigError(
                "Kintone credentials are missing: set KINTONE_API_TOKEN (comma-separated, one token per app) "
                "or KINTONE_USERNAME and KINTONE_PASSWORD"
            )
        self.guest_space_id = _positive_number(self.guest_space_id, "KINTONE_GUEST_SPACE_ID", "a guest space id like 5")
        if self.app_ids is not None:
            ids = (
                _positive_number(app_id, "KINTONE_APP_IDS", "comma-separated app ids like 12,15") or ""
                for app_id in self.app_ids
            )
            self.app_ids = tuple(dict.fromkeys(app_id for app_id in ids if app_id)) or None
        return self

    @property
    def api_tokens(self) -> tuple[str, ...]:
        text = self.api_token.get_secret_value() if self.api_token else ""
        return tuple(token.strip() for token in text.split(",") if token.strip())

    @property
    def password_text(self) -> str | None:
        return self.password.get_secret_value() if self.password else None

    @property
    def password_auth(self) -> bool:
        # Password auth wins when both are given, as in Kintone's own tools.
        return bool(self.username and self.password)

    def auth_headers(self) -> dict[str, str]:
        if self.password_auth:
            encoded = base64.b64encode(f"{self.username}:{self.password_text}".encode()).decode()
            return {"X-Cybozu-Authorization": encoded}
        return {"X-Cybozu-API-Token": ",".join(self.api_tokens)}

    def secrets(self) -> list[str]:
        """Every text that must never reach a log or an error: each token, the header values, the password."""
        values = [*self.api_tokens, ",".join(self.api_tokens), *self.auth_headers().values()]
        if self.password_text:
            values.append(self.password_text)
        return values


def _check_base_url(value: str) -> str:
    if not value or not value.strip():
        raise ConfigError("KINTONE_BASE_URL is not set; set it to your Kintone domain, e.g. https://example.cybozu.com")
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"KINTONE_BASE_URL must be an http(s) URL like https://example.cybozu.com (got {value!r})")
    if parts.path.strip("/") or parts.query:
        raise ConfigError(
            f"KINTONE_BASE_URL must be the domain only, like {parts.scheme}://{parts.netloc} (drop {parts.path!r})"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _positive_number(value: str | None, name: str, example: str) -> str | None:
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ConfigError(f"{name} must be {example} (got {text!r})")
    return str(int(text))
