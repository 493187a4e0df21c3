"""`POST /webhooks/crm/invalidate/`: a customer's CRM tells us cached data changed.

The CRM signs the raw body like Meta does, with a secret shared with us instead of Meta's app
secret: ``X-Tidings-Signature: sha256=<hex HMAC-SHA256 of the body>`` keyed with
``TIDINGS_CRM_WEBHOOK_SECRET``. Bodies::

    {"source": "loyalty", "keys": ["C-1", "C-2"]}   # forget these customers' cached values
    {"source": "loyalty", "all": true}              # forget every cached value of the source

Answers: 200 with what was forgotten; 401 without a signature; 403 with a wrong one, and for
every request while the secret is unset (an endpoint that anyone could call to flush the cache
and stampede the CRM is worse than one that is off); 400 naming what is wrong with the body.
Errors use the API's format: ``{"type": ..., "errors": [{"code", "detail", "attr"}]}``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from campaigns.personalisation import UnknownDataSource, invalidate
from whatsapp import signatures

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP_X_TIDINGS_SIGNATURE"
MAX_BODY_BYTES = 1024 * 1024
MAX_KEYS = 10_000
MAX_KEY_LENGTH = 200


def _error(status: int, code: str, detail: str, attr: str | None = None) -> JsonResponse:
    kind = "validation_error" if status == 400 else "client_error"
    return JsonResponse(
        {"type": kind, "errors": [{"code": code, "detail": detail, "attr": attr}]}, status=status
    )


@method_decorator(csrf_exempt, name="dispatch")
class CRMInvalidationView(View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        secret = settings.TIDINGS_CRM_WEBHOOK_SECRET
        if not secret:
            logger.warning("CRM invalidation refused: TIDINGS_CRM_WEBHOOK_SECRET is not set")
            return _error(403, "permission_denied", "CRM invalidation is not configured.")
        declared_length = request.META.get("CONTENT_LENGTH") or "0"
        if declared_length.isdigit() and int(declared_length) > MAX_BODY_BYTES:
            return _error(413, "too_large", "The body is larger than 1 MB.")
        body = request.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "too_large", "The body is larger than 1 MB.")
        header = request.META.get(SIGNATURE_HEADER)
        if not header:
            return _error(401, "not_authenticated", "Missing X-Tidings-Signature header.")
        if not signatures.verify(body, header, secret):
            logger.warning("CRM invalidation with a wrong signature refused")
            return _error(403, "permission_denied", "Invalid signature.")

        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "parse_error", "The body is not valid JSON.")
        problem = _problem(payload)
        if problem is not None:
            return _error(400, "invalid", *problem)
        keys = None if payload.get("all") is True else [str(key) for key in payload["keys"]]
        try:
            outcome = invalidate(source_name=payload["source"], keys=keys)
        except UnknownDataSource as error:
            return _error(400, "unknown_source", str(error), "source")
        logger.info(
            "CRM invalidation of %s: %s",
            outcome.source,
            "all keys" if outcome.all_keys else f"{outcome.keys} key(s)",
        )
        return JsonResponse(
            {
                "source": outcome.source,
                "all": outcome.all_keys,
                "invalidated": outcome.keys,
                "cache_version": outcome.cache_version,
            }
        )


def _problem(payload: Any) -> tuple[str, str | None] | None:
    """What is wrong with a parsed body, as (detail, attribute), or None."""
    if not isinstance(payload, dict):
        return 'The body must be a JSON object such as {"source": "loyalty", "keys": [...]}.', None
    unknown = sorted(set(payload) - {"source", "keys", "all"})
    if unknown:
        return f"Unknown field(s): {', '.join(unknown)}.", unknown[0]
    source = payload.get("source")
    if not isinstance(source, str) or not source:
        return "Give the data source's name.", "source"
    has_keys, everything = "keys" in payload, payload.get("all")
    if "all" in payload and everything is not True:
        return '"all" can only be true.', "all"
    if has_keys == (everything is True):
        return 'Give either "keys" (a list of keys) or "all": true.', "keys"
    if everything:
        return None
    keys = payload["keys"]
    if not isinstance(keys, list) or not keys:
        return '"keys" must be a non-empty list.', "keys"
    if len(keys) > MAX_KEYS:
        return f'At most {MAX_KEYS} keys per request; use "all": true for more.', "keys"
    for key in keys:
        valid = (isinstance(key, str) and key.strip()) or (
            isinstance(key, int) and not isinstance(key, bool)
        )
        if not valid or len(str(key)) > MAX_KEY_LENGTH:
            return f"Every key must be a non-empty string or an integer; got {key!r}."[:300], "keys"
    return None
