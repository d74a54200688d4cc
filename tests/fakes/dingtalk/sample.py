"""Sample tenant of the fake DingTalk API and the CLI serving it (``python -m tests.fakes.dingtalk [--port N]``).

The CLI prints the ``DINGTALK_*`` settings as shell ``export`` lines on stdout, says where it serves on
stderr, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from typing import Any

import uvicorn

from .server import build_app
from .state import FakeDingTalk


@dataclass(frozen=True)
class SampleTenant:
    """The sample data: a state and the settings that open it."""

    state: FakeDingTalk
    app_key: str
    app_secret: str
    operator_id: str
    base_id: str
    tasks_sheet: str  # "任务"
    contacts_sheet: str  # "Contacts"

    def settings(self, base_url: str) -> dict[str, str]:
        return {
            "DINGTALK_APP_KEY": self.app_key,
            "DINGTALK_APP_SECRET": self.app_secret,
            "DINGTALK_OPERATOR_ID": self.operator_id,
            "DINGTALK_BASE_ID": self.base_id,
            "DINGTALK_API_BASE_URL": base_url,
        }


def _summary(cells: dict[str, Any]) -> str | None:
    title = cells.get("标题")
    return None if title is None else f"{title} ×{cells.get('数量', '0')}"


def sample_tenant() -> SampleTenant:
    """One base with "Contacts" (English) and "任务" (every common field type, linking to Contacts)."""
    state = FakeDingTalk()
    app = state.add_app("dingfakesampleapp01", "fake-sample-app-secret-0123456789abcdef")
    alice = state.add_user("unionid-alice", "Alice")
    bob = state.add_user("unionid-bob", "Bob")
    base_id = state.add_base("项目管理 Projects")
    contacts = state.add_sheet(
        base_id, "Contacts", {"Name": "text", "Email": "text", "Company": "text", "Since": "date"}
    )
    choices = {"choices": ["待办", "进行中", "完成"]}
    tasks = state.add_sheet(
        base_id,
        "任务",
        {
            "标题": "text",
            "数量": {"type": "number", "property": {"formatter": "INT"}},
            "状态": {"type": "singleSelect", "property": choices},
            "标签": {"type": "multipleSelect", "property": {"choices": ["紧急", "客户", "内部"]}},
            "截止日期": {"type": "date", "property": {"formatter": "YYYY-MM-DD"}},
            "已完成": "checkbox",
            "负责人": {"type": "user", "property": {"multiple": True}},
            "链接": "url",
            "附件": "attachment",
            "摘要": {"type": "formula", "compute": _summary},
            "联系人": {"type": "unidirectionalLink", "property": {"multiple": True, "linkedSheetId": contacts}},
        },
    )
    acme, globex = state.add_records(
        base_id,
        contacts,
        [
            {"Name": "Ada Wong", "Email": "ada@acme.example", "Company": "Acme", "Since": "2023-04-01"},
            {"Name": "王小明", "Email": "wang@globex.example", "Company": "Globex"},
        ],
    )
    state.add_records(
        base_id,
        tasks,
        [
            {
                "标题": "准备发布会",
                "数量": 3,
                "状态": "进行中",
                "标签": ["紧急", "客户"],
                "截止日期": "2024-09-27 18:00",
                "负责人": [{"unionId": alice}],
                "链接": {"text": "方案", "link": "https://example.com/plan"},
                "附件": [{"filename": "plan.pdf", "size": 2048, "type": "pdf", "url": "https://example.com/plan.pdf"}],
                "联系人": {"linkedRecordIds": [acme]},
            },
            {
                "标题": "Review contract",
                "数量": "1",
                "状态": "待办",
                "负责人": [{"unionId": bob}],
                "联系人": {"linkedRecordIds": [globex]},
            },
            {"标题": "归档", "状态": "完成", "已完成": True},
        ],
        operator=alice,
    )
    return SampleTenant(state, app.app_key, app.app_secret, alice, base_id, tasks, contacts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake DingTalk Notable API with a sample base.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args(argv)
    tenant = sample_tenant()
    base_url = f"http://{args.host}:{args.port}"
    for name, value in tenant.settings(base_url).items():
        print(f"export {name}={shlex.quote(value)}", flush=True)
    print(
        f"fake DingTalk serving on {base_url}: sheets 任务 and Contacts; Ctrl-C stops it", file=sys.stderr, flush=True
    )
    uvicorn.run(build_app(tenant.state), host=args.host, port=args.port, log_level="warning", http="h11")
