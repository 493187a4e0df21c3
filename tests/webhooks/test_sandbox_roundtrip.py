"""The sandbox signs its status webhooks exactly as Meta does: our endpoint accepts them."""

from __future__ import annotations

import json
import threading

from django.test import Client

from whatsapp.base import TemplateMessage
from whatsapp.sandbox import SandboxProvider

URL = "/webhooks/whatsapp/"


def test_sandbox_status_webhooks_pass_the_endpoints_signature_check(settings, tmp_path):
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()
    client = Client()

    def post_to_endpoint(raw: bytes, headers: dict[str, str]) -> None:
        response = client.post(
            URL,
            data=raw,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=headers["X-Hub-Signature-256"],
        )
        statuses = json.loads(raw)["entry"][0]["changes"][0]["value"].get("statuses", [])
        with lock:
            answers.extend((response.status_code, status["status"]) for status in statuses)

    sandbox = SandboxProvider(
        state_dir=tmp_path,
        webhook_target=post_to_endpoint,
        app_secret=settings.WHATSAPP_APP_SECRET,
        status_delay_seconds=0.0,
        read_rate=1.0,
        failure_rate=0.0,
        seed=7,
    )
    outcome = sandbox.send_template(
        "106540352242922",
        TemplateMessage(
            to="+447911123456",
            template_name="order_update",
            language_code="en_US",
            body_parameters=("Maria", "A-1001"),
        ),
    )
    assert sandbox.wait_for_webhooks(timeout=5)
    sandbox.close()

    assert outcome.wamid.startswith("wamid.")
    assert answers == [(200, "sent"), (200, "delivered"), (200, "read")]


def test_a_sandbox_signed_with_another_secret_is_refused(settings, tmp_path):
    codes: list[int] = []
    client = Client()

    def post_to_endpoint(raw: bytes, headers: dict[str, str]) -> None:
        codes.append(
            client.post(
                URL,
                data=raw,
                content_type="application/json",
                HTTP_X_HUB_SIGNATURE_256=headers["X-Hub-Signature-256"],
            ).status_code
        )

    sandbox = SandboxProvider(
        state_dir=tmp_path,
        webhook_target=post_to_endpoint,
        app_secret="not-our-app-secret",
        status_delay_seconds=0.0,
        read_rate=0.0,
        failure_rate=0.0,
        delivery_attempts=1,
        seed=7,
    )
    sandbox.send_template(
        "106540352242922",
        TemplateMessage(
            to="+447911123456",
            template_name="order_update",
            language_code="en_US",
            body_parameters=("Maria", "A-1001"),
        ),
    )
    sandbox.wait_for_webhooks(timeout=5)
    sandbox.close()

    assert codes and set(codes) == {403}
