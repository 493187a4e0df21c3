"""`SandboxProvider`: behaves like Meta's Cloud API for local use and demos, without Meta.

* Sends are validated with Meta's rules (see validation.py) and answered with Meta-style wamids;
* free-form text is refused with 131047 unless the caller says the recipient wrote in the last
  24 hours (the sandbox sees no inbound messages of its own);
* a moment later it POSTs signed status webhooks to the app, like Meta: `sent`, `delivered` and,
  for a share of messages, `read`; or, for a share, one `failed` status with a real error code;
* created templates are stored on disk (shared by the web and worker processes), stay PENDING for
  a while, then become APPROVED with a signed `message_template_status_update` webhook.

Randomness (read and failure shares, which error) comes from one seeded generator so demos and
tests can be reproduced.
"""

from __future__ import annotations

import base64
import collections
import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from whatsapp import errors, payloads
from whatsapp.base import (
    CreatedTemplate,
    ParameterFormat,
    RemoteTemplate,
    SendAccepted,
    SendOutcome,
    TemplateMessage,
    WhatsAppProvider,
    service_window_open,
)
from whatsapp.sandbox import validation
from whatsapp.sandbox.catalogue import BUILTIN_TEMPLATES, SandboxTemplate, builtin_template
from whatsapp.sandbox.delivery import WebhookDeliverer, WebhookTarget
from whatsapp.sandbox.store import DuplicateTemplateError, TemplateStore

logger = logging.getLogger(__name__)

DEFAULT_WABA_ID = "100000000000001"
DEFAULT_DISPLAY_PHONE_NUMBER = "15550001234"

# (code, title, details) of failures Meta reports by webhook after accepting a message.
UNDELIVERABLE = (
    131026,
    "Message undeliverable",
    "Message Undeliverable.",
)
MARKETING_LIMIT = (
    131049,
    "This message was not delivered to maintain healthy ecosystem engagement.",
    "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
)
MARKETING_STOPPED = (
    131050,
    "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
    "messages on WhatsApp from your business.",
    "The recipient stopped marketing messages from this business.",
)
MARKETING_FAILURES = (UNDELIVERABLE, MARKETING_LIMIT, MARKETING_STOPPED)
OTHER_FAILURES = (UNDELIVERABLE,)


def new_wamid(recipient_digits: str) -> str:
    """A message id in Meta's shape: `wamid.` + base64 of a small binary record holding the
    recipient's number and a random hex id (as Meta's own ids decode)."""
    digits = recipient_digits.encode("ascii")[:255]
    record = (
        b"\x1c\x18"
        + bytes([len(digits)])
        + digits
        + b"\x15\x02\x00\x11\x18\x12"
        + secrets.token_hex(9).upper().encode("ascii")
        + b"\x00"
    )
    return "wamid." + base64.b64encode(record).decode("ascii")


class SandboxProvider(WhatsAppProvider):
    """A stand-in for Meta, configured explicitly (the provider factory reads settings).

    * `webhook_target`: URL to POST webhooks to, or a callable `(body: bytes, headers) -> None`;
      None drops them;
    * `status_delay_seconds`: gap between sending and each following status (sent at 1x,
      delivered at 2x, read at 3x);
    * `read_rate` / `failure_rate`: shares of messages that get `read` / a `failed` status;
    * `template_approval_seconds`: how long a created template stays PENDING;
    * `state_dir`: where created templates are stored (shared between processes).
    """

    default_concurrency = 16

    def __init__(
        self,
        *,
        state_dir: str | os.PathLike[str] = "var/sandbox",
        webhook_target: WebhookTarget | None = None,
        app_secret: str = "",
        status_delay_seconds: float = 2.0,
        read_rate: float = 0.6,
        failure_rate: float = 0.05,
        template_approval_seconds: float = 10.0,
        seed: int | None = None,
        waba_id: str = DEFAULT_WABA_ID,
        display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
        delivery_attempts: int = 3,
        delivery_retry_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, rate in (("read_rate", read_rate), ("failure_rate", failure_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate}")
        self.store = TemplateStore(state_dir)
        self.status_delay_seconds = max(0.0, status_delay_seconds)
        self.read_rate = read_rate
        self.failure_rate = failure_rate
        self.template_approval_seconds = max(0.0, template_approval_seconds)
        self.waba_id = waba_id
        self.display_phone_number = display_phone_number
        self.clock = clock
        self.deliverer = WebhookDeliverer(
            target=webhook_target,
            app_secret=app_secret,
            attempts=delivery_attempts,
            retry_delay_seconds=delivery_retry_seconds,
        )
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        #: The most recent request bodies the sandbox accepted, newest last (for demos/tests).
        self.accepted_requests: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)

    # --- Sending ------------------------------------------------------------------------

    def send_template(self, phone_number_id: str, message: TemplateMessage) -> SendOutcome:
        try:
            payload = payloads.template_message_body(message)
        except payloads.PayloadError as exc:
            return errors.invalid_parameter(str(exc))
        problem = validation.check_template_send(payload, self.find_template)
        if problem is not None:
            return problem
        template = self.find_template(message.template_name, message.language_code)
        assert template is not None  # validated above
        category = template.category.lower()
        return self._accept(
            phone_number_id,
            payload,
            pricing=payloads.pricing_block(category),
            failures=MARKETING_FAILURES if category == "marketing" else OTHER_FAILURES,
            message_status="accepted",
        )

    def send_text(
        self,
        phone_number_id: str,
        to: str,
        body: str,
        *,
        preview_url: bool = False,
        biz_opaque_callback_data: str | None = None,
        last_inbound_at: datetime | None = None,
    ) -> SendOutcome:
        try:
            payload = payloads.text_message_body(
                to,
                body,
                preview_url=preview_url,
                biz_opaque_callback_data=biz_opaque_callback_data,
            )
        except payloads.PayloadError as exc:
            return errors.invalid_parameter(str(exc))
        problem = validation.check_text_send(payload)
        if problem is not None:
            return problem
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        if not service_window_open(last_inbound_at, now=now):
            return validation.outside_service_window_error()
        # Service messages inside the customer-service window are free.
        pricing = payloads.pricing_block(
            "service", billable=False, pricing_type="free_customer_service"
        )
        return self._accept(
            phone_number_id, payload, pricing=pricing, failures=OTHER_FAILURES, message_status=None
        )

    def _accept(
        self,
        phone_number_id: str,
        payload: dict[str, Any],
        *,
        pricing: dict[str, Any],
        failures: tuple[tuple[int, str, str], ...],
        message_status: str | None,
    ) -> SendAccepted:
        to = str(payload["to"])
        digits = validation.recipient_digits(to)
        wamid = new_wamid(digits)
        self.accepted_requests.append(payload)
        self._schedule_statuses(
            phone_number_id=phone_number_id,
            wamid=wamid,
            recipient_id=digits,
            callback_data=payload.get("biz_opaque_callback_data"),
            pricing=pricing,
            failures=failures,
        )
        return SendAccepted(wamid=wamid, wa_id=digits, input=to, message_status=message_status)

    def _schedule_statuses(
        self,
        *,
        phone_number_id: str,
        wamid: str,
        recipient_id: str,
        callback_data: str | None,
        pricing: dict[str, Any],
        failures: tuple[tuple[int, str, str], ...],
    ) -> None:
        with self._random_lock:
            fails = self._random.random() < self.failure_rate
            reads = self._random.random() < self.read_rate
            failure = self._random.choice(failures)
        step = self.status_delay_seconds
        now = self.clock()
        if fails:
            code, title, details = failure
            events: list[tuple[str, dict[str, Any] | None, list[dict[str, Any]]]] = [
                ("failed", None, [payloads.status_error(code, title, details)])
            ]
        else:
            events = [("sent", pricing, []), ("delivered", pricing, [])]
            if reads:
                events.append(("read", None, []))
        for position, (status, event_pricing, event_errors) in enumerate(events, start=1):
            delay = step * position
            body = payloads.status_webhook(
                waba_id=self.waba_id,
                phone_number_id=phone_number_id,
                display_phone_number=self.display_phone_number,
                wamid=wamid,
                status=status,
                recipient_id=recipient_id,
                timestamp=now + delay,
                biz_opaque_callback_data=callback_data,
                pricing=event_pricing,
                errors=event_errors,
            )
            self.deliverer.deliver_later(delay, body)

    # --- Templates ----------------------------------------------------------------------

    def find_template(self, name: str, language: str) -> SandboxTemplate | None:
        """A built-in or created template (created ones are shared across WABAs here, since a
        send names only the phone number)."""
        self.approve_due_templates()
        return builtin_template(name, language) or self.store.find(name, language)

    def list_templates(self, waba_id: str) -> Iterator[RemoteTemplate]:
        self.approve_due_templates()
        for template in BUILTIN_TEMPLATES:
            yield template.to_remote()
        for template in self.store.all():
            if template.waba_id == waba_id:
                yield template.to_remote()

    def create_template(
        self,
        waba_id: str,
        *,
        name: str,
        language: str,
        category: str,
        components: list[dict[str, Any]],
        parameter_format: ParameterFormat | str | None = None,
    ) -> CreatedTemplate:
        problem = validation.check_template_create(
            name=name, language=language, category=category, components=components
        )
        if problem is not None:
            raise problem
        if builtin_template(name, language) is not None:
            raise validation.duplicate_template_error(name, language)
        body = payloads.template_create_body(
            name=name,
            language=language,
            category=category,
            components=components,
            parameter_format=parameter_format,
        )
        now = self.clock()
        template = SandboxTemplate(
            id=str(10**15 + secrets.randbelow(9 * 10**15)),
            name=name,
            language=language,
            category=body["category"],
            parameter_format=body.get("parameter_format", ParameterFormat.POSITIONAL.value),
            components=body["components"],
            status="PENDING",
            waba_id=waba_id,
            approve_at=now + self.template_approval_seconds,
            created_at=now,
        )
        try:
            self.store.add(template)
        except DuplicateTemplateError:
            raise validation.duplicate_template_error(name, language) from None
        # A small margin so the check runs after approve_at even with a coarse clock.
        self.deliverer.call_later(
            self.template_approval_seconds + 0.001, self.approve_due_templates
        )
        return CreatedTemplate(id=template.id, status=template.status, category=template.category)

    def approve_due_templates(self) -> list[SandboxTemplate]:
        """Approve every PENDING template whose review time has passed and report each approval
        by webhook. Any process may call it; the store guarantees one report per template."""
        approved = self.store.approve_due(self.clock())
        for template in approved:
            logger.info("sandbox template %s (%s) approved", template.name, template.language)
            self.deliverer.deliver_later(
                0.0,
                payloads.template_status_webhook(
                    waba_id=template.waba_id or self.waba_id,
                    template_id=template.id,
                    template_name=template.name,
                    language=template.language,
                    event="APPROVED",
                    reason="NONE",
                    category=template.category,
                    time_seconds=int(self.clock()),
                ),
            )
        return approved

    # --- Lifecycle ----------------------------------------------------------------------

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Block until every scheduled webhook was delivered (or given up); False on timeout."""
        return self.deliverer.wait_until_idle(timeout)

    def close(self) -> None:
        self.deliverer.close()
