"""The runtime's errors: each becomes an answer in OpenAI's error shape, never a crash.

An error that tells the caller to come back (429 queue full, 503 busy, loading, draining or
unhealthy) carries ``retry_after`` in seconds, sent as the Retry-After header: the OpenAI
SDKs and most HTTP clients wait that long before they retry.
"""

from __future__ import annotations

import math
from typing import Any


class ServingError(Exception):
    """An error that becomes an OpenAI-style error response (never a crash)."""

    status = 500
    error_type = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.error_type,
                          "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        # whole seconds (RFC 9110 delay-seconds); never 0, which invites a retry storm
        return {"retry-after": str(max(1, math.ceil(self.retry_after)))}


class RequestError(ServingError):
    """The request is wrong; the message says what and what is allowed (HTTP 400)."""

    status = 400
    error_type = "invalid_request_error"


class NotFoundError(ServingError):
    status = 404
    error_type = "not_found_error"


class MethodNotAllowed(ServingError):
    status = 405
    error_type = "invalid_request_error"


class RequestTimeout(ServingError):
    """The request did not arrive in time (HTTP 408): a slow or stalled sender."""

    status = 408
    error_type = "invalid_request_error"


class LengthRequired(ServingError):
    """A request body with no length and no chunked framing (HTTP 411)."""

    status = 411
    error_type = "invalid_request_error"


class PayloadTooLarge(ServingError):
    status = 413
    error_type = "invalid_request_error"


class NotImplementedFraming(ServingError):
    """A transfer coding this server does not decode (HTTP 501, RFC 9112 section 6.1)."""

    status = 501
    error_type = "invalid_request_error"


class Overloaded(ServingError):
    """The queue in front of the model is full, in requests or in expected waiting time (HTTP 429)."""

    status = 429
    error_type = "rate_limit_error"


class Unavailable(ServingError):
    """The runtime cannot take this request now: it waited too long for the model, the
    container is draining, or the model is stuck (HTTP 503)."""

    status = 503
    error_type = "overloaded_error"


class ModelUnavailable(ServingError):
    """The model could not be found, fetched or loaded at cold start (HTTP 503)."""

    status = 503
    error_type = "model_unavailable"


class ConfigError(ModelUnavailable):
    """An environment variable has a value the runtime cannot use."""


class ClientGone(Exception):
    """The caller hung up while its request waited or generated: nothing is left to answer."""
