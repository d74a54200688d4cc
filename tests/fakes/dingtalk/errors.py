"""Errors of the fake DingTalk API: the ``{"code", "requestid", "message"}`` body and every code the fake answers.

Codes and messages come from seed 002 (the InsertRecords error table) and BACKENDS.md Part 2 §1.6/§3b; the
ones no source confirms are marked "unconfirmed" next to their definition.
"""

from __future__ import annotations

import uuid
from typing import Any

INPUT_INVALID = "invalidRequest.inputArgs.invalid"
RESOURCE_NOT_FOUND = "invalidRequest.resource.notFound"
DOCUMENT_NOT_FOUND = "invalidRequest.document.notFound"
DUPLICATE_CLIENT_TOKEN = "invalidRequest.duplicateClientToken"
OPERATION_ILLEGAL = "forbidden.operationIllegal"
PERMISSION_DENIED = "Forbidden.AccessDenied.AccessTokenPermissionDenied"
QPS_LIMIT_APP_AND_API = "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"
QPS_LIMIT_API = "Forbidden.AccessDenied.QpsLimitForApi"
ORG_QUOTA = "Forbidden.AccessDenied.ApiCountLimitForOrg"

# Codes fail_next() may answer with: code -> (HTTP status, message), verbatim from seed 002.
SERVER_ERRORS: dict[str, tuple[int, str]] = {
    "internalError": (
        500,
        "The server encountered an internal error and was unable to complete your request. Please try again later.",
    ),
    "unknownError": (500, "Unknown Error"),
    "service.timeout": (504, "The server is busy and unable to complete your request. Please try again later."),
    "invalidRequest.document.stillInitializing": (
        400,
        "The document is under initialization. Please try again later",
    ),
    "invalidRequest.document.broken": (
        400,
        "The document is broken and the server is unable to complete your request.",
    ),
}

# Throttling answers (§3b): always 403; the messages are unconfirmed.
THROTTLE_MESSAGES: dict[str, str] = {
    QPS_LIMIT_APP_AND_API: "调用频率超过限制 (QPS limit for this appKey and API exceeded)",
    QPS_LIMIT_API: "调用频率超过限制 (QPS limit for this API exceeded)",
    ORG_QUOTA: "调用次数超过限制 (the organisation's monthly API quota is used up)",
}


class DingTalkError(Exception):
    """An API error: HTTP status plus the JSON body's code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self, request_id: str) -> dict[str, Any]:
        return {"code": self.code, "requestid": request_id, "message": self.message}


def new_request_id() -> str:
    """An id shaped like DingTalk's ("30EE8654-..."): an upper-case UUID."""
    return str(uuid.uuid4()).upper()


def invalid_args(message: str) -> DingTalkError:
    return DingTalkError(400, INPUT_INVALID, message)


def resource_not_found(message: str) -> DingTalkError:
    return DingTalkError(404, RESOURCE_NOT_FOUND, message)


def document_not_found() -> DingTalkError:
    message = (
        "Fail to find the requested resource by the given baseId. Please make sure the given baseId is valid, "
        "and the operatorId has permission to access it."
    )
    return DingTalkError(404, DOCUMENT_NOT_FOUND, message)


def operation_illegal(message: str) -> DingTalkError:
    return DingTalkError(403, OPERATION_ILLEGAL, message)


def duplicate_client_token() -> DingTalkError:
    message = "Duplicate ClientToken detected. Please generate a new client token and retry."
    return DingTalkError(409, DUPLICATE_CLIENT_TOKEN, message)


def missing_parameter(name: str) -> DingTalkError:
    """The API gateway's answer to a missing required parameter, as seen for ``body`` (``Missingbody``, §1.6)."""
    return DingTalkError(400, f"Missing{name}", f"{name} is mandatory for this action.")


def missing_token() -> DingTalkError:
    return DingTalkError(
        400, "AuthenticationFailed.MissingParameter", "缺少参数 x-acs-dingtalk-access-token"
    )  # msg unconfirmed


def invalid_token() -> DingTalkError:
    return DingTalkError(400, "InvalidAuthentication", "不合法的access_token")


def invalid_client() -> DingTalkError:
    return DingTalkError(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")  # message unconfirmed


def permission_denied(permission: str) -> DingTalkError:
    # Message unconfirmed; it names the permission the token lacks, as the brief for this fake asks.
    message = f"没有调用该接口的权限 (the app lacks the permission {permission})"
    return DingTalkError(403, PERMISSION_DENIED, message)


def unknown_action(method: str, path: str) -> DingTalkError:
    # Alibaba API gateway style for a path it does not route; unconfirmed for api.dingtalk.com.
    return DingTalkError(404, "InvalidAction.NotFound", f"Specified api is not found: {method} {path}")
