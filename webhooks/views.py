"""Meta's webhook endpoint: the verification handshake and signed event delivery.

A validly signed POST is stored durably (one INSERT) and acknowledged with 200 straight away —
even when it does not parse, because Meta redelivers anything else for days; processing happens
in Celery after commit. The only other answers are 401/403 (signature), 413 (over Meta's 3 MB)
and 503 when the body could not be stored, so that Meta delivers it again. Never a 500.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from whatsapp import signatures

from .services import webhook_delivery_store

logger = logging.getLogger(__name__)

# Meta's documented maximum webhook payload.
MAX_BODY_BYTES = 3 * 1024 * 1024
SIGNATURE_HEADER = "HTTP_X_HUB_SIGNATURE_256"


@method_decorator(csrf_exempt, name="dispatch")
class WhatsAppWebhookView(View):
    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> HttpResponse:
        """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
        mode = request.GET.get("hub.mode", "")
        token = request.GET.get("hub.verify_token", "")
        challenge = request.GET.get("hub.challenge", "")
        if mode == "subscribe" and constant_time_compare(token, settings.WHATSAPP_VERIFY_TOKEN):
            return HttpResponse(challenge, content_type="text/plain")
        logger.warning("webhook verification refused (mode=%r)", mode)
        return HttpResponse("verification failed", status=403, content_type="text/plain")

    def post(self, request: HttpRequest) -> HttpResponse:
        declared_length = request.META.get("CONTENT_LENGTH") or "0"
        if declared_length.isdigit() and int(declared_length) > MAX_BODY_BYTES:
            return JsonResponse({"detail": "payload too large"}, status=413)
        # Read the stream directly: request.body would apply DATA_UPLOAD_MAX_MEMORY_SIZE, which is
        # smaller than Meta's 3 MB maximum.
        body = request.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return JsonResponse({"detail": "payload too large"}, status=413)
        header = request.META.get(SIGNATURE_HEADER)
        if not header:
            logger.warning("webhook without X-Hub-Signature-256 refused (%d bytes)", len(body))
            return JsonResponse({"detail": "missing signature"}, status=401)
        if not signatures.verify(body, header, settings.WHATSAPP_APP_SECRET):
            logger.warning("webhook with a wrong signature refused (%d bytes)", len(body))
            return JsonResponse({"detail": "invalid signature"}, status=403)
        return self.accept(body)

    def accept(self, body: bytes) -> HttpResponse:
        """Store a validly signed delivery and acknowledge it; Meta redelivers anything that is
        not a 200, so only a failure to store answers otherwise (503: please retry)."""
        try:
            webhook_delivery_store(body=body)
        except Exception:
            logger.exception(
                "could not store a webhook delivery (%d bytes); answering 503", len(body)
            )
            return JsonResponse({"detail": "temporarily unavailable, retry"}, status=503)
        return HttpResponse(status=200)
