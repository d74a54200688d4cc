"""DingTalk Notable (钉钉 AI 表格 / 多维表) backend: the sheets of one base as tables, over the notable_1.0 REST API.

Modules: `settings` (DINGTALK_* variables), `api` (tokens, operatorId, paths, refused answers),
`errors` (DingTalk codes -> TablesError), `fields` (fields -> columns), `codec` (cell values both
ways), `filters` (contract filters -> DingTalk's one-level filter), `writes` (inserts exactly once
with clientToken), `backend` (the Backend protocol and its capabilities, and the assumptions made).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..base import Adapter
from .backend import CAPABILITIES, DingTalkBackend
from .settings import DingTalkSettings


def open_from_environ(environ: Mapping[str, str], store: str) -> DingTalkBackend:
    """A backend (not yet opened) from the DINGTALK_* variables; ConfigError naming the fix when one is wrong."""
    return DingTalkBackend(DingTalkSettings.from_environ(environ))


ADAPTER = Adapter(open=open_from_environ, capabilities=CAPABILITIES, settings=DingTalkSettings)

__all__ = ["ADAPTER", "CAPABILITIES", "DingTalkBackend", "DingTalkSettings"]
