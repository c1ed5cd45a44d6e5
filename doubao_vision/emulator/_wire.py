"""Wire details shared by the handlers: request ids, error bodies, JSON responses.

Ark's error body is ``{"error": {"code", "message", "param", "type"}}`` with the
request id at the end of the message; 302.AI's own is
``{"error": {"err_code", "message", "message_cn", "message_jp", "type"}}``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from ._facts import MODELS

__all__ = [
    "ARK_TYPES",
    "ApiError",
    "ark_error_body",
    "bad",
    "json_response",
    "models_body",
    "new_request_id",
    "ohtwo_error_body",
]

_MODELS_CREATED = 1742256000  # a fixed date, so the model list is the same on every call

# Ark's error ``type`` for each status it documents.
ARK_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    413: "RequestEntityTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

# 302.AI's known err_codes and their three messages.
_OHTWO_MESSAGES = {
    -10003: (
        "Network error, please try again later",
        "网络错误，请稍后重试",  # noqa: RUF001 -- 302.AI's own text
        "ネットワークエラーです。しばらくしてから再試行してください",
    ),
    -10008: (
        "No available models currently, please try again later",
        "当前无可用模型，请稍后重试",  # noqa: RUF001
        "現在利用可能なモデルがありません。しばらくしてから再試行してください",
    ),
}


def new_request_id() -> str:
    """An id shaped like Ark's: ``021``, the time in ms, then 32 hex digits (48 chars)."""
    return f"021{int(time.time() * 1000)}{os.urandom(16).hex()}"


class ApiError(Exception):
    """A refusal in Ark's shape, raised by validation and turned into a response."""

    def __init__(self, status: int, code: str, message: str, param: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param


def bad(param: str, message: str, code: str = "InvalidParameter") -> ApiError:
    """A 400 refusal naming ``param``."""
    return ApiError(400, code, message, param)


def ark_error_body(
    request_id: str,
    code: str,
    message: str,
    *,
    param: str = "",
    type: str | None = None,
    status: int = 400,
) -> dict[str, Any]:
    """Ark's error body; the message ends with the request id, as Ark's does."""
    return {
        "error": {
            "code": code,
            "message": f"{message} Request id: {request_id}",
            "param": param,
            "type": type or ARK_TYPES.get(status, "InternalServerError"),
        }
    }


def ohtwo_error_body(err_code: int, message: str | None = None) -> dict[str, Any]:
    """302.AI's error body, with the three-language messages it sends."""
    en, cn, jp = _OHTWO_MESSAGES.get(err_code, (f"Upstream error {err_code}", "", ""))
    if message is not None:
        en = message
    return {
        "error": {
            "err_code": err_code,
            "message": en,
            "message_cn": cn or en,
            "message_jp": jp or en,
            "type": "api_error",
        }
    }


def json_response(
    data: Any, request_id: str, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``data`` serialized with orjson, with both request-id headers set."""
    response = web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
    response.headers["x-request-id"] = request_id
    response.headers["request-id"] = request_id
    if headers:
        response.headers.update(headers)
    return response


def models_body(extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The OpenAI list shape for ``GET /v1/models``: the Doubao vision models, then
    ``extra`` (the emulator's added ids) sorted."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": _MODELS_CREATED, "owned_by": "bytedance"}
            for name in (*MODELS, *sorted(extra - set(MODELS)))
        ],
    }
