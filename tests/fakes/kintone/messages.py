"""Error codes, their English and Japanese messages, and the error bodies of the fake Kintone (BACKENDS.md §4)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Lang = Literal["en", "ja"]

# key -> (English, Japanese). Top-level messages are keyed by error code.
_MESSAGES: dict[str, tuple[str, str]] = {
    "CB_VA01": ("Missing or invalid input.", "入力内容が正しくありません。"),
    "CB_AU01": ("Please login.", "ログインしてください。"),
    "CB_WA01": (
        "Password authentication failed. The value in http header of X-Cybozu-Authorization is not valid.",
        "ユーザーのパスワード認証に失敗しました。「X-Cybozu-Authorization」ヘッダーの値が正しくありません。",
    ),
    "CB_IJ01": ("Invalid JSON string.", "不正なJSON文字列です。"),  # en unconfirmed
    "CB_NO02": ("No privilege to proceed.", "権限がありません。"),
    "CB_IL02": ("Illegal request.", "不正なリクエストです。"),  # kintone-js-sdk fixture; ja unconfirmed
    "GAIA_IA02": (
        "The specified API token does not match the API token generated via an app.",
        "指定したAPIトークンが、アプリで生成したAPIトークンと一致しません。",  # ja unconfirmed
    ),
    "GAIA_DA03": (
        "You cannot specify a duplicate API token for the same app.",
        "同じアプリのAPIトークンを重複して指定することはできません。",  # ja unconfirmed
    ),
    "GAIA_NO01": (
        "Using this API token, you cannot run the specified API.",
        "このAPIトークンでは、指定したAPIを実行できません。",
    ),
    "GAIA_IL23": (
        "When you operate an app in a guest space, please send the request to '/k/guest/(guest space ID)/v1/...'.",
        "ゲストスペース内のアプリを操作する場合は、リクエストの送信先を「/k/guest/（ゲストスペースのID）/v1/...」にします。",
    ),
    "GAIA_AP01": (
        "The app (ID: {id}) not found. The app may have been deleted.",
        "指定したアプリ（id: {id}）が見つかりません。削除されている可能性があります。",
    ),
    "GAIA_RE01": ("The specified record (ID: {id}) is not found.", "指定したレコード（id: {id}）が見つかりません。"),
    "GAIA_RE20": (  # updateKey matched nothing: code and both messages unconfirmed
        "The record to update (updateKey {field}: {value}) is not found.",
        "更新するレコード（updateKey {field}: {value}）が見つかりません。",
    ),
    "GAIA_BL01": ("The specified file (id: {id}) not found.", "指定したファイル（id: {id}）が見つかりません。"),
    "GAIA_CO02": (
        "The revision is not the latest. Someone may update a record.",
        "指定したrevisionは最新ではありません。ほかのユーザーがレコードを更新した可能性があります。",
    ),
    "GAIA_IL26": ("The specified user (code: {code}) not found.", "指定したユーザー(code:{code})が見つかりません。"),
    "GAIA_TO04": (
        "The number of concurrent API requests exceeds the limit.",
        "同時に実行できるAPIリクエスト数の上限を超えています。",  # ja unconfirmed
    ),
    "GAIA_TM12": (  # en unconfirmed
        "The cursor cannot be created because the maximum number of cursors has been reached. "
        "Delete unnecessary cursors or try again later.",
        "作成できるカーソルの上限に達しているため、カーソルを作成できません。"
        "不要なカーソルを削除するか、しばらく経ってから再実行してください。",
    ),
    "GAIA_IQ03": (  # en unconfirmed
        "The operator {op} cannot be used for the field type of the {code} field.",
        "{code}フィールドのフィールドタイプには演算子{op}を使用できません。",
    ),
    "GAIA_IQ07": (  # en unconfirmed
        "Cannot read records. The operator {op} cannot be used for the {code} field in a table.",
        "レコードを読み込めません。テーブルに設定している場合、{code}フィールドのフィールドタイプには、演算子{op}を使用できません。",
    ),
    "GAIA_IQ11": ("The specified field ({code}) not found.", "指定されたフィールド（{code}）が見つかりません。"),
    "GAIA_QU01": ("Specify a value of 500 or less for limit.", "limit には 500 以下の値を指定してください。"),
    "GAIA_QU02": ("Specify a value of 10,000 or less for offset.", "offset には 10,000 以下の値を指定してください。"),
    "FAKE_NOT_IMPLEMENTED": (
        "The fake kintone server does not implement {what}.",
        "The fake kintone server does not implement {what}.",
    ),
    # Messages inside "errors".
    "required_field": ("Required field.", "必須です。"),
    "required": ("Required.", "必須です。"),
    "ge": ("must be greater than or equal to {n}", "最小でも{n}以上です。"),
    "le": ("must be less than or equal to {n}", "最大でも{n}以下です。"),  # unconfirmed
    "integer": ("must be an integer", "整数でなければなりません。"),  # unconfirmed
    "invalid_value": ("The value is invalid.", "値が正しくありません。"),  # unconfirmed
    "unique": ("This value already exists in another record.", "値がほかのレコードと重複しています。"),
    "max_length": ("Enter less than {n} characters.", "{n}文字より短くなければなりません。"),
    "min_length": ("Enter more than {n} characters.", "{n}文字より長くなければなりません。"),
    "max_value": ("The value must be {v} or less.", "{v}以下である必要があります。"),
    "min_value": ("The value must be {v} or more.", "{v}以上である必要があります。"),
    "nan": ("Only numbers are allowed.", "数字でなければなりません。"),
    "not_in_options": ('The value, "{v}", is not in options.', '"{v}"は選択肢にありません。'),
    "max_add": ("A maximum of 100 records can be added at one time.", "一度に100件までのレコードを追加できます。"),
    "max_update": ("A maximum of 100 records can be updated at one time.", "一度に100件までのレコードを更新できます。"),
    "delete_range": (
        "Between 1 and 100 records can be deleted at one time.",
        "一度に1件から100件までのレコードを削除できます。",
    ),
    "revisions_length": (  # unconfirmed
        "The number of revisions must match the number of ids.",
        "revisionsの数はidsの数と一致する必要があります。",
    ),
    "max_bulk": ("A maximum of 20 requests can be sent at one time.", "一度に20件までのリクエストを送信できます。"),
    "bulk_api": ("This API cannot be used in a bulk request.", "このAPIは一括リクエストで使用できません。"),
    "update_key": (  # unconfirmed
        "updateKey must name a SINGLE_LINE_TEXT or NUMBER field with unique values.",
        "updateKeyには値の重複を禁止した文字列（1行）または数値フィールドを指定してください。",
    ),
    "query_syntax": ("The query is invalid.", "クエリ記法が間違っています。"),  # en unconfirmed
    "cursor_query": (  # unconfirmed
        "limit and offset cannot be specified in the query of a cursor.",
        "カーソルのクエリにはlimitとoffsetを指定できません。",
    ),
}


@dataclass(frozen=True)
class Msg:
    """A message key and its parameters, rendered in the caller's language when the reply is built."""

    key: str
    params: tuple[tuple[str, Any], ...] = ()

    def render(self, lang: Lang) -> str:
        english, japanese = _MESSAGES[self.key]
        return (japanese if lang == "ja" else english).format(**dict(self.params))


def msg(key: str, **params: Any) -> Msg:
    return Msg(key, tuple(params.items()))


FieldErrors = dict[str, list[Msg]]


class KintoneError(Exception):
    """An error reply: HTTP status, kintone error code, message and optional ``errors`` map."""

    def __init__(
        self,
        status: int,
        code: str,
        message: Msg | None = None,
        *,
        errors: FieldErrors | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or Msg(code)
        self.errors = errors
        self.headers = dict(headers or {})

    def __str__(self) -> str:
        errors = [f"{key}: {msgs[0].render('en')}" for key, msgs in (self.errors or {}).items()]
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        return f"[{self.status}] [{self.code}] {self.message.render('en')} {'; '.join(errors[:3])}{more}".rstrip()

    def body(self, lang: Lang) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "id": secrets.token_urlsafe(15),
            "message": self.message.render(lang),
        }
        if self.errors is not None:
            body["errors"] = {key: {"messages": [m.render(lang) for m in msgs]} for key, msgs in self.errors.items()}
        return body


class _BulkError(KintoneError):
    """A failed bulkRequest: ``{"results": [{}, <error body>, {}...]}`` with the failing request's status."""

    def __init__(self, failed: KintoneError, index: int, count: int) -> None:
        super().__init__(failed.status, failed.code, failed.message, headers=failed.headers)
        self.failed = failed
        self.index = index
        self.count = count

    def body(self, lang: Lang) -> dict[str, Any]:
        results: list[dict[str, Any]] = [{} for _ in range(self.count)]
        results[self.index] = self.failed.body(lang)
        return {"results": results}


def _add_error(errors: FieldErrors, key: str, message: Msg) -> None:
    errors.setdefault(key, []).append(message)


def _invalid(errors: FieldErrors) -> KintoneError:
    return KintoneError(400, "CB_VA01", errors=errors)


def _invalid_param(key: str, *messages: Msg) -> KintoneError:
    return _invalid({key: list(messages)})


def _record_not_found(record_id: int) -> KintoneError:
    return KintoneError(404, "GAIA_RE01", msg("GAIA_RE01", id=record_id))


def _not_implemented(what: str) -> KintoneError:
    return KintoneError(404, "FAKE_NOT_IMPLEMENTED", msg("FAKE_NOT_IMPLEMENTED", what=what))
