"""Meta's webhook endpoint: the verification handshake and signed event delivery.

The POST's answer is decided by `webhooks.acknowledgement.acknowledge`; in production the web server
usually answers it on the WSGI fast path (`webhooks.wsgi`) before this view is reached.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .acknowledgement import acknowledge

logger = logging.getLogger(__name__)


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
        answer = acknowledge(
            stream=request,
            declared_length=request.META.get("CONTENT_LENGTH"),
            signature=request.META.get("HTTP_X_HUB_SIGNATURE_256"),
        )
        if answer.stored:
            return HttpResponse(status=200)
        return JsonResponse({"detail": answer.detail}, status=answer.status)
