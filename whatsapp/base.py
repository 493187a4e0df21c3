"""The provider interface and the typed values that cross it.

Everything the rest of Tidings knows about Meta goes through `WhatsAppProvider` and the types in
this module. Input types (`TemplateMessage` and its parameters) are validated on construction so a
malformed message fails in the caller's code, not halfway through a batch. Send methods never raise
for Meta or transport failures: they return a `ProviderError` as a value, because a campaign sends
thousands of messages and one recipient's failure must not hide the others' outcomes.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal

logger = logging.getLogger(__name__)
_POOL_LOCK = threading.Lock()

MediaKind = Literal["image", "video", "document"]
ButtonSubType = Literal["url", "quick_reply"]


class ParameterFormat(enum.StrEnum):
    """How a template declares its variables: `{{1}}` (positional) or `{{first_name}}` (named)."""

    POSITIONAL = "POSITIONAL"
    NAMED = "NAMED"


class ErrorClass(enum.StrEnum):
    """What a sender should do about a failed request.

    * RETRYABLE: the same message may be sent again later (see the backoff hint);
    * PERMANENT: give up on this message (the recipient or its data is the problem);
    * ACCOUNT: stop sending (a campaign or the whole account), alert a human, retry nothing.
    """

    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    ACCOUNT = "account"


class StopScope(enum.StrEnum):
    """For ACCOUNT errors: how much sending has to stop.

    * ALL_SENDING: every send through this account/number will fail (token, payment, ban);
    * CAMPAIGN: every send of this campaign (its template or category) will fail the same way.
    """

    ALL_SENDING = "all_sending"
    CAMPAIGN = "campaign"


@dataclass(frozen=True)
class Backoff:
    """An exponential retry schedule: `base * factor**attempt` seconds, capped.

    `attempt` counts from 0 (the first retry). Callers add jitter themselves (see `jittered`) so
    that the schedule stays deterministic and testable.
    """

    base_seconds: float
    cap_seconds: float
    factor: float = 2.0
    max_attempts: int = 5

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        exponent = min(attempt, 64)
        return float(min(self.cap_seconds, self.base_seconds * math.pow(self.factor, exponent)))

    def jittered(self, attempt: int, fraction: float) -> float:
        """`delay(attempt)` scaled into [delay/2, delay] by `fraction` in [0, 1] (e.g. random())."""
        full = self.delay(attempt)
        return full / 2 + full / 2 * min(max(fraction, 0.0), 1.0)


# --- Send input -----------------------------------------------------------------------------

#: Meta's customer-service window: free-form messages (`send_text`) may only be sent this long
#: after the user's last message to the business; outside it Meta answers 131047.
SERVICE_WINDOW = timedelta(hours=24)


def service_window_open(last_inbound_at: datetime | None, *, now: datetime) -> bool:
    """True when a user whose last message arrived at `last_inbound_at` (None: never) can still
    be sent free-form text at `now`. Both must be timezone-aware."""
    if last_inbound_at is None:
        return False
    if last_inbound_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("the service window needs timezone-aware datetimes")
    return now - last_inbound_at < SERVICE_WINDOW


@dataclass(frozen=True)
class TextHeader:
    """A header parameter for a template whose header text has one variable.

    `parameter_name` is required for NAMED templates and must be left out for POSITIONAL ones.
    """

    text: str
    parameter_name: str | None = None


@dataclass(frozen=True)
class MediaHeader:
    """A media header parameter: exactly one of `link` (public URL) or `media_id` (uploaded).

    Meta caches a linked asset for 10 minutes; at high throughput prefer uploaded media ids.
    `filename` is only meaningful for documents.
    """

    kind: MediaKind
    link: str | None = None
    media_id: str | None = None
    filename: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("image", "video", "document"):
            raise ValueError(
                f"media header kind must be image, video or document, not {self.kind!r}"
            )
        if (self.link is None) == (self.media_id is None):
            raise ValueError("a media header needs exactly one of link or media_id")
        if self.filename is not None and self.kind != "document":
            raise ValueError("only a document header can carry a filename")


HeaderParameter = TextHeader | MediaHeader


@dataclass(frozen=True)
class ButtonParameter:
    """A send-time value for one template button.

    * `sub_type="url"`: `value` is the text appended to the button's URL (`{{1}}` in the template);
    * `sub_type="quick_reply"`: `value` is the payload that comes back when the user taps it.

    `index` is the button's 0-based position in the template.
    """

    index: int
    sub_type: ButtonSubType
    value: str

    def __post_init__(self) -> None:
        if self.sub_type not in ("url", "quick_reply"):
            raise ValueError(f"button sub_type must be url or quick_reply, not {self.sub_type!r}")
        if not 0 <= self.index < 10:
            raise ValueError("button index must be between 0 and 9")


@dataclass(frozen=True)
class TemplateMessage:
    """One template message to one recipient.

    * `to` is an E.164 number with its leading '+'. Without the '+', Meta prefixes the *business*
      number's country code, which can reach the wrong person.
    * `body_parameters` is a sequence for POSITIONAL templates (in `{{1}}, {{2}}` order) and a
      mapping name -> value for NAMED ones. Values should be strings; numbers are coerced when the
      payload is built, anything else is rejected.
    * `biz_opaque_callback_data` is echoed back by Meta in every status webhook of this message;
      Tidings puts its own message id there.
    """

    to: str
    template_name: str
    language_code: str
    parameter_format: ParameterFormat = ParameterFormat.POSITIONAL
    header: HeaderParameter | None = None
    body_parameters: Sequence[Any] | Mapping[str, Any] = ()
    buttons: Sequence[ButtonParameter] = ()
    biz_opaque_callback_data: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameter_format", ParameterFormat(self.parameter_format))
        if isinstance(self.body_parameters, Mapping):
            if self.body_parameters and self.parameter_format is not ParameterFormat.NAMED:
                raise ValueError("named body parameters need parameter_format NAMED")
            object.__setattr__(self, "body_parameters", dict(self.body_parameters))
        elif isinstance(self.body_parameters, str | bytes):
            raise ValueError("body_parameters must be a list of values, not a single string")
        else:
            if self.body_parameters and self.parameter_format is not ParameterFormat.POSITIONAL:
                raise ValueError("positional body parameters need parameter_format POSITIONAL")
            object.__setattr__(self, "body_parameters", tuple(self.body_parameters))
        object.__setattr__(self, "buttons", tuple(self.buttons))
        if isinstance(self.header, TextHeader):
            named = self.parameter_format is ParameterFormat.NAMED
            if named and not self.header.parameter_name:
                raise ValueError("a NAMED template's text header needs a parameter_name")
            if not named and self.header.parameter_name:
                raise ValueError("a POSITIONAL template's text header takes no parameter_name")


# --- Results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendAccepted:
    """Meta accepted the request. Acceptance is not delivery: that arrives by status webhook.

    * `wamid` is the key of every later status webhook for this message;
    * `wa_id` is WhatsApp's id of the recipient (digits, no '+'), `input` echoes what we sent;
    * `message_status` is `accepted`, `held_for_quality_assessment` (template pacing: the message
      may still be dropped with 132015) or None when Meta leaves it out.
    """

    wamid: str
    wa_id: str | None
    input: str | None
    message_status: str | None = None

    @property
    def held_for_quality_assessment(self) -> bool:
        return self.message_status == "held_for_quality_assessment"


class ProviderError(Exception):
    """A failed request, as an exception (management calls raise it) and as a value (sends
    return it).

    * `code`, `subcode`, `message`, `details`, `fbtrace_id` are Meta's (None when Meta was never
      reached or gave no JSON). `details` (`error_data.details`) is the human-readable cause.
    * `user_title` / `user_message` are Meta's `error_user_title` / `error_user_msg`: text meant
      for the person who wrote a template, present on many template-management errors.
    * `error_class` says what to do (see `ErrorClass`), `stop_scope` how far an ACCOUNT stop goes.
    * `ambiguous` is True when the request may have reached Meta and been acted on (read timeout,
      connection dropped after sending, 5xx). The message may or may not have been sent, so it must
      not be resent blindly: mark it uncertain and let status webhooks settle it.
    * `retry_after_seconds` is the first wait to use before retrying; `backoff` the full schedule.
    * `title` is a short description of the code from Tidings' error table.
    * `opt_out_marketing`: the user stopped marketing messages (record the opt-out);
      `recipient_unreachable`: the number cannot receive WhatsApp messages;
      `outside_service_window`: a free-form message was refused because the user has not written
      in the last 24 hours (131047): tell the sender to use a template instead;
      `pause_campaign_if_repeated`: permanent for this message, but usually the same for every
      message of the campaign (broken header media, template text too long): when it repeats,
      pause the campaign rather than fail every message one by one.
    """

    def __init__(
        self,
        *,
        message: str,
        error_class: ErrorClass,
        code: int | None = None,
        subcode: int | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        http_status: int | None = None,
        retry_after_seconds: float | None = None,
        ambiguous: bool = False,
        title: str = "",
        user_title: str | None = None,
        user_message: str | None = None,
        transient_hint: bool | None = None,
        backoff: Backoff | None = None,
        stop_scope: StopScope | None = None,
        opt_out_marketing: bool = False,
        recipient_unreachable: bool = False,
        outside_service_window: bool = False,
        pause_campaign_if_repeated: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_class = ErrorClass(error_class)
        self.code = code
        self.subcode = subcode
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.http_status = http_status
        self.retry_after_seconds = retry_after_seconds
        self.ambiguous = ambiguous
        self.title = title
        self.user_title = user_title
        self.user_message = user_message
        self.transient_hint = transient_hint
        self.backoff = backoff
        self.stop_scope = stop_scope
        self.opt_out_marketing = opt_out_marketing
        self.recipient_unreachable = recipient_unreachable
        self.outside_service_window = outside_service_window
        self.pause_campaign_if_repeated = pause_campaign_if_repeated

    @property
    def retryable(self) -> bool:
        return self.error_class is ErrorClass.RETRYABLE

    @property
    def stops_sending(self) -> bool:
        """True for ACCOUNT errors: pause the campaign or all sending and alert a human."""
        return self.error_class is ErrorClass.ACCOUNT

    @property
    def readable_message(self) -> str:
        """The best text for a person: Meta's user-facing message, else details, else message."""
        if self.user_message:
            if self.user_title:
                return f"{self.user_title}: {self.user_message}"
            return self.user_message
        return self.details or self.message

    def retry_delay(self, attempt: int) -> float | None:
        """Seconds before retry number `attempt` (0-based), or None when no retry is advised."""
        if self.backoff is not None:
            if attempt >= self.backoff.max_attempts:
                return None
            return self.backoff.delay(attempt)
        if self.retryable:
            return self.retry_after_seconds
        return None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly record of the error, for ledgers and logs."""
        return {
            "code": self.code,
            "subcode": self.subcode,
            "message": self.message,
            "details": self.details,
            "fbtrace_id": self.fbtrace_id,
            "http_status": self.http_status,
            "error_class": self.error_class.value,
            "retry_after_seconds": self.retry_after_seconds,
            "ambiguous": self.ambiguous,
            "title": self.title,
            "user_title": self.user_title,
            "user_message": self.user_message,
            "stop_scope": self.stop_scope.value if self.stop_scope else None,
            "opt_out_marketing": self.opt_out_marketing,
            "recipient_unreachable": self.recipient_unreachable,
            "outside_service_window": self.outside_service_window,
            "pause_campaign_if_repeated": self.pause_campaign_if_repeated,
        }

    def __str__(self) -> str:
        prefix = f"[{self.code}] " if self.code is not None else ""
        return f"{prefix}{self.readable_message}"

    def __repr__(self) -> str:
        return (
            f"ProviderError(code={self.code!r}, error_class={self.error_class.value!r}, "
            f"http_status={self.http_status!r}, ambiguous={self.ambiguous!r}, "
            f"message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only __init__: rebuild from the attributes so the error survives pickling
        # (leaving out dunder state such as __notes__).
        state = {key: value for key, value in self.__dict__.items() if not key.startswith("_")}
        return (_rebuild_provider_error, (state,))


def _rebuild_provider_error(state: dict[str, Any]) -> ProviderError:
    return ProviderError(**state)


SendOutcome = SendAccepted | ProviderError


# --- Templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteTemplate:
    """A message template as Meta lists it. `components` is kept raw, exactly as returned."""

    id: str
    name: str
    language: str
    status: str
    category: str
    parameter_format: str = ParameterFormat.POSITIONAL.value
    components: list[dict[str, Any]] = field(default_factory=list)
    quality_score: str | None = None
    rejected_reason: str | None = None


@dataclass(frozen=True)
class CreatedTemplate:
    """Meta's answer to a template creation: usually PENDING until review finishes."""

    id: str
    status: str
    category: str


# --- The interface --------------------------------------------------------------------------


class WhatsAppProvider(ABC):
    """The one way Tidings talks to WhatsApp. Chosen by the WHATSAPP_PROVIDER setting.

    Contract for implementations:
    * `send_template` / `send_text` return a `SendOutcome` and never raise for Meta or transport
      errors (programming errors such as a wrong argument type may still raise);
    * `list_templates` / `create_template` raise `ProviderError`;
    * instances are shared by threads (batch sends), so they must be thread-safe.
    """

    #: How many requests `send_template_batch` keeps in flight when the caller does not say.
    default_concurrency: int = 8

    @abstractmethod
    def send_template(self, phone_number_id: str, message: TemplateMessage) -> SendOutcome:
        """Send one template message from the business number `phone_number_id`."""

    @abstractmethod
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
        """Send a free-form text. Valid only inside the 24 h customer-service window; outside it
        Meta answers 131047 (synchronously or as a failed status webhook), which comes back as a
        ProviderError with `outside_service_window` set.

        `last_inbound_at` is when the recipient last wrote to us, as far as the caller knows
        (None: never). Meta keeps its own record and decides; a provider without one (the
        sandbox) uses this to answer as Meta would."""

    def send_template_batch(
        self,
        phone_number_id: str,
        messages: Sequence[TemplateMessage],
        concurrency: int | None = None,
    ) -> list[SendOutcome]:
        """Send many template messages concurrently; outcomes come back in input order.

        Throughput is requests in flight divided by latency, so sending one at a time cannot reach
        Meta's 80 msg/s per number. An unexpected exception for one message is turned into an
        ambiguous ProviderError for that message only, so the others' wamids are never lost.
        """
        if not messages:
            return []
        workers = max(1, min(concurrency or self.default_concurrency, len(messages)))
        if workers == 1:
            return [self._send_guarded(phone_number_id, message) for message in messages]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whatsapp-send") as pool:
            return list(
                pool.map(lambda message: self._send_guarded(phone_number_id, message), messages)
            )

    def _send_guarded(self, phone_number_id: str, message: TemplateMessage) -> SendOutcome:
        try:
            return self.send_template(phone_number_id, message)
        except Exception as exc:
            logger.exception("unexpected error sending template %r", message.template_name)
            return ProviderError(
                message=f"unexpected error while sending: {exc!r}",
                error_class=ErrorClass.PERMANENT,
                ambiguous=True,
                title="Unexpected error while sending",
            )

    def submit_template(
        self,
        phone_number_id: str,
        message: TemplateMessage,
        *,
        not_before: float,
        cancelled: threading.Event,
    ) -> Future[SendOutcome | None]:
        """Send `message` no earlier than `not_before` (a `time.monotonic()` instant).

        For paced sending: the caller hands out send slots from a rate limiter and collects the
        futures. The result is None when `cancelled` was set before the message left (it was
        not sent, so it may be queued again as it was). This default runs each send on a pool
        thread; providers with an event loop override it to keep many more requests in flight.
        """
        pool = self._scheduling_pool()

        def send_at_slot() -> SendOutcome | None:
            delay = not_before - time.monotonic()
            if (delay > 0 and cancelled.wait(delay)) or cancelled.is_set():
                return None
            return self._send_guarded(phone_number_id, message)

        return pool.submit(send_at_slot)

    def submit_templates(
        self,
        phone_number_id: str,
        scheduled: Sequence[tuple[TemplateMessage, float]],
        *,
        cancelled: threading.Event,
    ) -> list[Future[SendOutcome | None]]:
        """`submit_template` for a batch of (message, not_before) pairs, in order."""
        return [
            self.submit_template(
                phone_number_id, message, not_before=not_before, cancelled=cancelled
            )
            for message, not_before in scheduled
        ]

    def _scheduling_pool(self) -> ThreadPoolExecutor:
        with _POOL_LOCK:
            pool = getattr(self, "_paced_pool", None)
            if pool is None or getattr(self, "_paced_pool_pid", None) != os.getpid():
                pool = ThreadPoolExecutor(
                    max_workers=self.default_concurrency, thread_name_prefix="whatsapp-paced"
                )
                self._paced_pool, self._paced_pool_pid = pool, os.getpid()
            return pool

    @abstractmethod
    def list_templates(self, waba_id: str) -> Iterator[RemoteTemplate]:
        """Every template of the WhatsApp Business Account, following paging to the end."""

    @abstractmethod
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
        """Submit a new template for review. Raises ProviderError with Meta's readable message."""

    def close(self) -> None:  # noqa: B027 - optional hook, most providers hold nothing
        """Release connections and background threads."""

    def __enter__(self) -> WhatsAppProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
