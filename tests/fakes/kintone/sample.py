"""Serving the fake Kintone in a thread, the sample domain and the CLI (``python -m tests.fakes.kintone``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from ..serving import serve_in_thread
from .endpoints import build_app
from .state import FakeKintone


@contextlib.contextmanager
def serve_fake_kintone(state: FakeKintone, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serves ``state`` with uvicorn in a daemon thread; yields the base URL (``http://127.0.0.1:<port>``)."""
    with serve_in_thread(build_app(state), "kintone", host=host, port=port) as url:
        yield url


# --------------------------------------------------------------------------------------------
# Sample domain and CLI
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleDomain:
    """The CLI's sample data: a state and the credentials that open it."""

    state: FakeKintone
    customers_app: int
    deals_app: int
    guest_app: int
    guest_space_id: int
    tokens: dict[str, str]  # "customers", "customers_view", "deals", "guest"
    username: str
    password: str


_CUSTOMER_FIELDS: dict[str, dict[str, Any]] = {
    "name": {"type": "SINGLE_LINE_TEXT", "label": "Name", "required": True, "unique": True, "maxLength": 64},
    "email": {"type": "LINK", "label": "Email", "protocol": "MAIL"},
    "unit_price": {"type": "NUMBER", "label": "Unit price", "minValue": 0},
    "seats": {"type": "NUMBER", "label": "Seats", "minValue": 0, "maxValue": 1000, "defaultValue": 1},
    "total": {"type": "CALC", "label": "Total", "expression": "unit_price * seats"},
    "stage": {"type": "DROP_DOWN", "label": "Stage", "options": ["Lead", "Active", "Churned"]},
    "tags": {"type": "CHECK_BOX", "label": "Tags", "options": ["vip", "partner", "trial"]},
    "signed_on": {"type": "DATE", "label": "Signed on"},
    "last_contact": {"type": "DATETIME", "label": "Last contact"},
    "owner": {"type": "USER_SELECT", "label": "Owner"},
    "notes": {"type": "MULTI_LINE_TEXT", "label": "Notes"},
    "orders": {
        "type": "SUBTABLE",
        "label": "Orders",
        "fields": {
            "item": {"type": "SINGLE_LINE_TEXT", "label": "Item"},
            "qty": {"type": "NUMBER", "label": "Qty"},
        },
    },
}

_DEAL_FIELDS: dict[str, dict[str, Any]] = {
    "案件名": {"type": "SINGLE_LINE_TEXT", "required": True},
    "金額": {"type": "NUMBER", "unit": "円"},
    "確度": {"type": "RADIO_BUTTON", "options": ["A", "B", "C"], "defaultValue": "B"},
    "担当者": {"type": "USER_SELECT"},
    "レコード番号": {"type": "RECORD_NUMBER"},
    "作成者": {"type": "CREATOR"},
    "作成日時": {"type": "CREATED_TIME"},
    "更新者": {"type": "MODIFIER"},
    "更新日時": {"type": "UPDATED_TIME"},
    "ステータス": {"type": "STATUS"},
    "作業者": {"type": "STATUS_ASSIGNEE"},
    "カテゴリー": {"type": "CATEGORY"},
}


def _v(value: Any) -> dict[str, Any]:
    return {"value": value}


def sample_domain() -> SampleDomain:
    """Three apps: "Customers" (every common field type), "案件管理" (Japanese codes), and a guest-space app."""
    state = FakeKintone()
    state.add_user("alice", "alice-password", name="Alice Example")
    state.add_user("bob", "bob-password", name="Bob Example")
    customers = state.add_app("Customers", _CUSTOMER_FIELDS, description="Sample customers")
    deals = state.add_app("案件管理", _DEAL_FIELDS, description="日本語のサンプルアプリ")
    guest_space_id = 5
    guest = state.add_app("Guest tasks", {"title": {"type": "SINGLE_LINE_TEXT"}}, guest_space_id=guest_space_id)
    state.add_records(
        customers,
        [
            {
                "name": _v("Acme Corp"),
                "unit_price": _v("1200"),
                "seats": _v("10"),
                "stage": _v("Active"),
                "tags": _v(["vip"]),
                "signed_on": _v("2024-04-01"),
                "owner": _v([{"code": "alice"}]),
                "orders": _v([{"value": {"item": _v("Licence"), "qty": _v("10")}}]),
            },
            {"name": _v("Globex"), "unit_price": _v("800"), "stage": _v("Lead"), "notes": _v("Met at the trade show")},
            {"name": _v("Initech"), "stage": _v("Churned"), "last_contact": _v("2024-01-15T09:30:00+09:00")},
        ],
    )
    state.add_records(deals, [{"案件名": _v("新規導入"), "金額": _v("500000"), "担当者": _v([{"code": "bob"}])}])
    state.add_records(guest, [{"title": _v("Prepare the kick-off")}])
    tokens = {
        "customers": state.add_token(customers),
        "customers_view": state.add_token(customers, {"view"}),
        "deals": state.add_token(deals),
        "guest": state.add_token(guest),
    }
    return SampleDomain(state, customers, deals, guest, guest_space_id, tokens, "alice", "alice-password")


def _banner(domain: SampleDomain, base_url: str) -> str:
    tokens = domain.tokens
    return "\n".join(
        [
            f"fake kintone serving on {base_url}",
            f"  app {domain.customers_app} Customers, app {domain.deals_app} 案件管理, "
            f"app {domain.guest_app} Guest tasks (guest space {domain.guest_space_id})",
            f"API tokens (apps {domain.customers_app} and {domain.deals_app}):",
            f"  KINTONE_BASE_URL={base_url} KINTONE_API_TOKEN={tokens['customers']},{tokens['deals']}",
            f"view-only token for app {domain.customers_app}: {tokens['customers_view']}",
            "guest space app:",
            f"  KINTONE_BASE_URL={base_url} KINTONE_API_TOKEN={tokens['guest']} "
            f"KINTONE_GUEST_SPACE_ID={domain.guest_space_id}",
            "password auth (every app):",
            f"  KINTONE_BASE_URL={base_url} KINTONE_USERNAME={domain.username} KINTONE_PASSWORD={domain.password}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake kintone REST API with sample apps.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port (with --json)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request (default 0)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the URL, app ids and tokens as one JSON line on stdout and serve until stdin closes "
        "(for a program that runs the fake in a process of its own, as bench_kintone.py does)",
    )
    args = parser.parse_args(argv)
    domain = sample_domain()
    domain.state.latency_s = args.latency_ms / 1000
    if args.json:
        with serve_fake_kintone(domain.state, host=args.host, port=args.port) as url:
            print(json.dumps(_described(domain, url)), flush=True)
            sys.stdin.read()  # the parent's end of the pipe closing is the signal to stop
        return
    print(_banner(domain, f"http://{args.host}:{args.port}"), file=sys.stderr, flush=True)
    uvicorn.run(build_app(domain.state), host=args.host, port=args.port, log_level="warning", http="h11")


def _described(domain: SampleDomain, base_url: str) -> dict[str, Any]:
    return {
        "url": base_url,
        "apps": {"customers": domain.customers_app, "deals": domain.deals_app, "guest": domain.guest_app},
        "tokens": domain.tokens,
    }
