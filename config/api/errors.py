"""One error format for every API error: `{"type", "errors": [{"code", "detail", "attr"}]}`.

drf-standardized-errors formats what DRF raises. This module adds what it does not know: the
Django request errors a client can provoke (a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413,
other suspicious requests a 400, never a 500), the 409 and 413 exceptions the views raise, and
JSON answers for URLs under /api/ that match no route (Django would answer them with HTML).
"""

from __future__ import annotations

import math

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status

API_PREFIX = "/api/"


class Conflict(exceptions.APIException):
    """The request clashes with the current state (an Idempotency-Key reused with another body)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class ApiExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, RequestDataTooBig):
            return PayloadTooLarge()
        if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
            return exceptions.ParseError(str(exc) or "The request has too many fields.")
        if isinstance(exc, SuspiciousOperation):
            return exceptions.ParseError("The request is malformed.")
        return super().convert_known_exceptions(exc)

    def get_headers(self, exc: exceptions.APIException) -> dict:
        headers = super().get_headers(exc)
        if getattr(exc, "wait", None):
            # Whole seconds, rounded up: "0" would invite an immediate retry that fails again.
            headers["Retry-After"] = str(math.ceil(exc.wait))
        return headers


def _error_body(*, code: str, detail: str, error_type: str = "client_error") -> dict:
    return {"type": error_type, "errors": [{"code": code, "detail": detail, "attr": None}]}


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 handler: JSON in the API's format under /api/, the usual page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(_error_body(code="not_found", detail="Not found."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler, for errors raised outside DRF's views (middleware, URL routing)."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            _error_body(code="error", detail="Server Error (500)", error_type="server_error"),
            status=500,
        )
    return defaults.server_error(request)
