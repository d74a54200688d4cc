"""Sample tenant of the fake Ozari API (Hebrew and English labels, Hebrew data) and the CLI that serves it."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn

from .server import build_app
from .state import FakeOzari


@dataclass(frozen=True)
class SampleTenant:
    """The CLI's sample data: a state and the token that opens it."""

    state: FakeOzari
    token: str


CUSTOMER_FIELDS: dict[str, Any] = {
    "fname": {"labels": {"he": "שם לקוח", "en": "Customer name"}},
    "fphone": {"labels": {"he": "טלפון", "en": "Phone"}},
    "femail": {"labels": {"he": 'דוא"ל', "en": "Email"}},
    "faddress": {"labels": {"he": "כתובת", "en": "Address"}},
    "fcity": {"labels": {"he": "עיר", "en": "City"}},
    "fcontact": {"labels": {"he": "איש קשר", "en": "Contact"}},
    "fnotes": {"labels": {"he": "הערות", "en": "Notes"}},
    "fbalance": {"labels": {"he": "יתרה", "en": "Balance"}, "kind": "number"},
    "finternal": {"labels": {"he": "קוד פנימי"}, "show_form": False},
}

ORDER_FIELDS: dict[str, Any] = {
    "fname": {"labels": {"he": "תיאור", "en": "Description"}, "order": 1},
    "fcust": {"labels": {"he": "לקוח", "en": "Customer"}, "kind": "int", "order": 2},
    "fda": {"labels": {"he": "תאריך", "en": "Date"}, "kind": "date", "order": 3},
    "fstatus": {"labels": {"he": "סטטוס", "en": "Status"}, "order": 4},
    "fsum": {"labels": {"he": "סכום", "en": "Amount"}, "kind": "number", "order": 5},
}

CUSTOMERS: list[dict[str, Any]] = [
    {"fname": "דוד כהן", "fphone": "050-1234567", "femail": "david@example.co.il", "fcity": "תל אביב"},
    {"fname": "אבי כהן", "fphone": "052-1111111", "fcity": "חיפה", "fnotes": "לקוח VIP", "fbalance": 1200.5},
    {"fname": "בני לוי", "fphone": "052-7654321", "fcity": "חיפה", "fbalance": 0},
    {"fname": "Sarah Levi", "fphone": "054-2222222", "fcity": "ירושלים", "fcontact": "שרה"},
]

ORDERS: list[dict[str, Any]] = [
    {"fname": "תיקון מזגן - משרד ראשי", "fcust": 1, "fda": "2026-03-26", "fstatus": "חדש", "fsum": 450},
    {"fname": "התקנת מערכת", "fcust": 2, "fda": "2026-04-02", "fstatus": "בטיפול", "fsum": 3200},
]


def sample_tenant(token: str | None = None) -> SampleTenant:
    """Tenant "acme_corp": tcust "לקוחות", torders "הזמנות", tusers "משתמשים" (a credential table)."""
    state = FakeOzari(clock=lambda: datetime(2026, 9, 1, 8, 0, tzinfo=UTC))
    state.add_language("he", "עברית")
    state.add_language("en", "English")
    state.add_table("tcust", {"he": "לקוחות", "en": "Customers"}, CUSTOMER_FIELDS)
    state.add_table("torders", {"he": "הזמנות", "en": "Orders"}, ORDER_FIELDS)
    state.add_table("tusers", {"he": "משתמשים", "en": "Users"}, {"fname": "שם משתמש"}, credential=True)
    state.add_rows("tcust", CUSTOMERS)
    state.add_rows("torders", ORDERS)
    state.clock = lambda: datetime.now(UTC)
    return SampleTenant(state, state.add_token(token))


def _exports(tenant: SampleTenant, base_url: str) -> str:
    return f"export OZARI_API_TOKEN={tenant.token}\nexport OZARI_BASE_URL={base_url}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Ozari (Modular 365) Integration API with sample tables.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--token", help="the API token to accept (default: a random one)")
    args = parser.parse_args(argv)
    tenant = sample_tenant(args.token)
    base_url = f"http://{args.host}:{args.port}"
    print(_exports(tenant, base_url), flush=True)
    print(f"fake Ozari serving tcust, torders, tusers (credential) on {base_url}; Ctrl-C stops", file=sys.stderr)
    uvicorn.run(build_app(tenant.state), host=args.host, port=args.port, log_level="warning", http="h11")
