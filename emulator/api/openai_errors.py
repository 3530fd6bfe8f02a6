"""Error bodies of the OpenAI-compatible surfaces (Responses and Chat Completions share one shape).

``{"error":{"code","param","message","type"},"id":…,"request_id":…}``: the openai SDK exposes the inner
``error`` object as ``exc.body``. The status comes from the typed error; the codes follow the hosted
compatible mode (``invalid_parameter_error``, ``model_not_found``, ``invalid_api_key``, …).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from emulator.api.http import error_headers
from emulator.core.errors import EmulatorError

#: error kind -> (error.code, error.type); test_openai_error_map_is_complete keeps this total
OPENAI_ERROR_CODES: dict[str, tuple[str, str]] = {
    "invalid_parameter": ("invalid_parameter_error", "invalid_request_error"),
    "invalid_api_key": ("invalid_api_key", "invalid_request_error"),
    "model_not_found": ("model_not_found", "invalid_request_error"),
    "not_found": ("not_found", "invalid_request_error"),
    "request_too_large": ("request_too_large", "invalid_request_error"),
    "rate_limited": ("limit_requests", "limit_requests"),
    "service_unavailable": ("service_unavailable", "service_unavailable_error"),
    "internal_error": ("internal_error", "internal_error"),
    "timeout": ("timeout", "timeout"),
}


def openai_error(exc: EmulatorError) -> dict[str, Any]:
    """The inner ``error`` object for ``exc``."""
    code, kind = OPENAI_ERROR_CODES[exc.kind]
    return {"code": code, "param": exc.param, "message": exc.message, "type": kind}


def openai_error_response(
    exc: EmulatorError, *, request_id: str, object_id: str | None = None
) -> JSONResponse:
    """A complete HTTP error answer of the compatible-mode surfaces."""
    body: dict[str, Any] = {"error": openai_error(exc)}
    if object_id is not None:
        body["id"] = object_id
    body["request_id"] = request_id
    headers = error_headers(exc)
    headers["x-request-id"] = request_id
    return JSONResponse(body, status_code=exc.status, headers=headers)
