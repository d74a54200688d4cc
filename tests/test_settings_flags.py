"""The command line and the Settings model agree: every setting but the secrets is a flag, typed as the field is."""

from __future__ import annotations

from typing import Any

import pytest

from tables_mcp.backends.registry import BACKENDS
from tables_mcp.cli import build_parser, settings_flags
from tables_mcp.config import ConfigError, Settings, load_settings

# A value each flag can take that differs from its default, and what Settings makes of it.
SAMPLES: dict[str, tuple[list[str], Any]] = {
    "backend": (["--backend", "kintone"], "kintone"),
    "db": (["--db", "/tmp/x.db"], "/tmp/x.db"),
    "transport": (["--transport", "http"], "http"),
    "host": (["--host", "0.0.0.0"], "0.0.0.0"),
    "port": (["--port", "9001"], 9001),
    "stateless": (["--stateless"], True),
    "allowed_hosts": (["--allowed-hosts", "a.example, b.example"], ("a.example", "b.example")),
    "max_concurrency": (["--max-concurrency", "3"], 3),
    "request_timeout": (["--request-timeout", "2.5"], 2.5),
    "max_body_bytes": (["--max-body-bytes", "2048"], 2048),
    "header_timeout": (["--header-timeout", "2.5"], 2.5),
    "max_connections": (["--max-connections", "64"], 64),
    "session_idle_timeout": (["--session-idle-timeout", "90"], 90.0),
    "audit_log": (["--audit-log", "/tmp/audit.jsonl"], "/tmp/audit.jsonl"),
    "read_only": (["--read-only"], True),
    "tables": (["--tables", "Tasks,People"], ("Tasks", "People")),
    "disable_tools": (["--disable-tools", "deleteRecords"], ("deleteRecords",)),
    "tool_mode": (["--tool-mode", "per-table"], "per-table"),
    "per_table_limit": (["--per-table-limit", "4"], 4),
    "confirm_deletes": (["--confirm-deletes", "never"], "never"),
    "log_level": (["--log-level", "info"], "INFO"),
}
SECRETS = {"auth_token"}


def _settings(argv: list[str]) -> Settings:
    args = build_parser().parse_args(argv)
    return load_settings({name: getattr(args, name, None) for name in Settings.model_fields})


def test_every_setting_but_the_secrets_has_a_flag_and_a_sample_here() -> None:
    flags = {flag[2:].replace("-", "_") for flag in settings_flags()}
    assert flags == set(Settings.model_fields) - SECRETS
    # A new setting needs a sample below, so that its flag is exercised.
    assert set(SAMPLES) == flags


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_flag_sets_its_setting_before_or_after_the_command(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("TABLES_MCP_") and not key.startswith("TABLES_MCP_TEST_"):
            monkeypatch.delenv(key)
    argv, expected = SAMPLES[name]
    assert getattr(_settings(argv), name) == expected
    assert getattr(_settings(["tools", *argv]), name) == expected
    assert getattr(_settings([]), name) == Settings.model_fields[name].default


def test_choices_come_from_the_model_and_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    flags = settings_flags()
    assert flags["--backend"]["choices"] == list(BACKENDS)
    assert flags["--tool-mode"]["choices"] == ["auto", "generic", "per-table"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--tool-mode", "all"])
    assert "invalid choice: 'all'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--port / TABLES_MCP_PORT"):
        _settings(["--port", "70000"])
    assert "(default 8000)" in flags["--port"]["help"]
    assert "--auth-token" not in flags  # a token on the command line would show in `ps`
