"""Typed errors of the emulator.

Every failure a client can see is one of these classes. Each surface maps them to its own wire body and
HTTP status in exactly one function (``api/responses.py``, ``api/chat.py``, ``api/dashscope.py``); nothing
here knows about HTTP bodies. ``kind`` is the neutral name each surface translates.
"""

from __future__ import annotations


class EmulatorError(Exception):
    """Base class: a failure with a stable, client-facing message."""

    kind: str = "internal_error"
    status: int = 500
    #: whether a retry of the same request can succeed (sent as ``x-should-retry``)
    retryable: bool = False

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidParameter(EmulatorError):
    """The request is malformed or breaks a service rule (400)."""

    kind = "invalid_parameter"
    status = 400


class AuthenticationFailed(EmulatorError):
    """Missing or wrong API key, only when a key is configured (401)."""

    kind = "invalid_api_key"
    status = 401


class ModelNotFound(EmulatorError):
    """The requested model name is not served here (404)."""

    kind = "model_not_found"
    status = 404


class ResourceNotFound(EmulatorError):
    """A referenced object (e.g. ``previous_response_id``) does not exist (404)."""

    kind = "not_found"
    status = 404


class RequestTooLarge(EmulatorError):
    """The request body is over the size limit (413)."""

    kind = "request_too_large"
    status = 413


class RateLimited(EmulatorError):
    """The model refused for load (429); injected by fault scripts or passed on from an upstream."""

    kind = "rate_limited"
    status = 429
    retryable = True


class SandboxUnavailable(EmulatorError):
    """No sandbox could be had within the wait budget (503 + Retry-After)."""

    kind = "service_unavailable"
    status = 503
    retryable = True

    def __init__(self, message: str, *, retry_after: int = 1, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class ModelUnavailable(EmulatorError):
    """The model backend is down or overloaded (503)."""

    kind = "service_unavailable"
    status = 503
    retryable = True


class ModelFailed(EmulatorError):
    """The model backend failed while producing a turn (500): upstream error, malformed output."""

    kind = "internal_error"
    status = 500
    retryable = True


class UpstreamTimeout(EmulatorError):
    """The upstream model did not answer in time (504)."""

    kind = "timeout"
    status = 504
    retryable = True
