"""The URL a platform request goes to: `HttpClient` joins the path to the base URL and encodes the query itself
(so that httpx parses the URL once), and what it sends is, byte for byte, what httpx sends when given the path
and the params."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tables_mcp.errors import TablesError
from tables_mcp.http import NO_RETRY, ErrorResponse, HttpClient, HttpSettings

BASES = [
    "http://127.0.0.1:8080",
    "http://127.0.0.1:8080/",
    "http://127.0.0.1:8080/api/public/v1",
    "http://127.0.0.1:8080/api/public/v1/",
    "http://[::1]:9/k",
]

# Kintone queries, DingTalk filters, Japanese and Hebrew names, reserved and percent characters, an emoji.
TEXT = st.text(
    alphabet=st.sampled_from(list("aZ09 -_.~!*'();:@&=+$,/?#[]%\"<>\\^`{|}") + list("日本עבé😀\t\n")),
    max_size=24,
)
VALUE = st.one_of(TEXT, st.integers(-(10**12), 10**12), st.booleans(), st.none())
PARAMS = st.one_of(
    st.none(),
    st.dictionaries(TEXT, st.one_of(VALUE, st.lists(VALUE, max_size=3)), max_size=4),
    st.lists(st.tuples(TEXT, TEXT), max_size=4),
)
PATH_SEGMENT = st.text(alphabet=st.sampled_from(list("az09-_.~%:@!$&'()*+,;=") + list("日本 é")), min_size=1)
PATH = st.lists(PATH_SEGMENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


def _never(failure: ErrorResponse) -> TablesError:
    raise AssertionError(f"unexpected failure {failure.status}")


def _sent_by_httpx(base: str, path: str, params: Any) -> httpx.URL:
    return httpx.Client(base_url=base).build_request("GET", path, params=params).url


def _sent_by_us(base: str, path: str, params: Any) -> httpx.URL:
    seen: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={})

    async def send() -> None:
        client = HttpClient(HttpSettings(base_url=base, retry=NO_RETRY), _never, transport=httpx.MockTransport(answer))
        try:
            await client.request("GET", path, params=params)
        finally:
            await client.aclose()

    anyio.run(send)
    return seen[0]


def _same(ours: httpx.URL, theirs: httpx.URL) -> None:
    assert str(ours) == str(theirs)
    assert ours.raw_path == theirs.raw_path
    assert ours.netloc == theirs.netloc


@pytest.mark.parametrize("base", BASES)
def test_a_plain_request_goes_where_httpx_sends_it(base: str) -> None:
    for path, params in [
        ("/k/v1/record.json", {"app": "7", "id": 12}),
        ("/k/v1/records.json", [("app", "7"), ("query", 'Status in ("Done") and Name like "日本 &"'), ("f[0]", "$id")]),
        ("/v1.0/notable/bases/b1/sheets/s1/records", {"maxResults": 100, "nextToken": "a+b/c=="}),
        ("/integration/tables", None),
        ("/records", {}),
    ]:
        _same(_sent_by_us(base, path, params), _sent_by_httpx(base, path, params))


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(BASES), path=PATH, params=PARAMS)
@example(base=BASES[0], path="/a%2Fb/c%zz", params={"q": "100%", "": "", "x": [True, None, 3]})
@example(base=BASES[0], path="/0", params={"": []})  # no items: httpx still ends the URL with "?"
def test_any_path_and_params_go_where_httpx_sends_them(base: str, path: str, params: Any) -> None:
    _same(_sent_by_us(base, path, params), _sent_by_httpx(base, path, params))


def test_an_absolute_url_or_a_path_with_its_own_query_is_left_to_httpx() -> None:
    base = BASES[2]
    for path, params in [
        ("http://127.0.0.1:9/elsewhere", {"a": "1"}),
        ("/records?page=2", {"size": "10"}),
        ("/records#top", None),
        ("relative/path", {"a": "b"}),
    ]:
        _same(_sent_by_us(base, path, params), _sent_by_httpx(base, path, params))
