"""Meta's error codes and what a sender does about each: the one table, and `classify`.

Logic is built on `error.code`; Meta says titles will be deprecated and that the code beats
subcodes and HTTP statuses. Only when a response carries no code (no JSON, a proxy's 502, a
timeout) does the HTTP status or the kind of transport failure decide. Unknown codes are logged, so
the table can be extended, and treated as PERMANENT for the message (never retried blindly), except
inside a 5xx answer: a server failure is transient and may have sent the message, whatever code
it carries.

Sources: Meta's "Error codes" page and the per-topic pages, as summarised in cloud-api.md 2.4.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from whatsapp.base import Backoff, ErrorClass, ProviderError, StopScope

logger = logging.getLogger(__name__)

RETRYABLE = ErrorClass.RETRYABLE
PERMANENT = ErrorClass.PERMANENT
ACCOUNT = ErrorClass.ACCOUNT
ALL_SENDING = StopScope.ALL_SENDING
CAMPAIGN = StopScope.CAMPAIGN

# Meta's per-user marketing limit: "wait at least 24 h" before resending to that user.
MARKETING_LIMIT_WAIT_SECONDS = 24 * 60 * 60

# The transient set (2, 131000, 131016, 133004, 5xx, timeouts): exponential from 2 s, capped at
# 5 minutes, at most 5 attempts; after that the message is failed and webhooks reconcile.
TRANSIENT = Backoff(base_seconds=2, cap_seconds=300, max_attempts=5)
# 130429 throughput: not the recipient's fault, short backoff (1 s, 2 s, 4 s... cap 60 s).
THROUGHPUT = Backoff(base_seconds=1, cap_seconds=60, max_attempts=8)
# 131056 pair rate: Meta's rule is 4^X seconds (X = 0, 1, 2...) for that recipient only.
PAIR_RATE = Backoff(base_seconds=1, factor=4, cap_seconds=1024, max_attempts=6)
# 131057 maintenance (e.g. a throughput upgrade, up to a minute): retry after ~1-2 minutes.
MAINTENANCE = Backoff(base_seconds=60, cap_seconds=120, max_attempts=4)
# 4 / 80007 management rate limits: back off by minutes.
MANAGEMENT_RATE = Backoff(base_seconds=60, cap_seconds=900, max_attempts=5)
# 1 "invalid request or possible server error": a few retries, then fail.
FEW_RETRIES = Backoff(base_seconds=2, cap_seconds=60, max_attempts=3)
# 135000 "unknown error with request parameters": permanent after 1-2 retries.
ONE_OR_TWO_RETRIES = Backoff(base_seconds=2, cap_seconds=30, max_attempts=2)
# 132069 flow throttled: 10 messages per hour.
FLOW_THROTTLE = Backoff(base_seconds=360, cap_seconds=3600, max_attempts=3)


@dataclass(frozen=True)
class ErrorSpec:
    """One row of the table: the class, a short description, and hints for the sender."""

    code: int
    error_class: ErrorClass
    title: str
    backoff: Backoff | None = None
    retry_after_seconds: float | None = None
    stop_scope: StopScope | None = None
    opt_out_marketing: bool = False
    recipient_unreachable: bool = False
    outside_service_window: bool = False
    pause_campaign_if_repeated: bool = False


def _spec(code: int, error_class: ErrorClass, title: str, **hints: object) -> ErrorSpec:
    return ErrorSpec(code, error_class, title, **hints)  # type: ignore[arg-type]


_SPECS: tuple[ErrorSpec, ...] = (
    # Authorisation and account state: nothing will succeed until a human acts.
    _spec(0, ACCOUNT, "Token expired/invalidated or app access blocked", stop_scope=ALL_SENDING),
    _spec(3, ACCOUNT, "Capability or permission issue", stop_scope=ALL_SENDING),
    _spec(10, ACCOUNT, "Permission not granted or removed", stop_scope=ALL_SENDING),
    _spec(190, ACCOUNT, "Access token expired", stop_scope=ALL_SENDING),
    _spec(33, ACCOUNT, "Business phone number deleted", stop_scope=ALL_SENDING),
    _spec(
        368,
        ACCOUNT,
        "Account restricted or disabled for a policy violation",
        stop_scope=ALL_SENDING,
    ),
    _spec(131005, ACCOUNT, "Permission not granted or removed", stop_scope=ALL_SENDING),
    _spec(131031, ACCOUNT, "Business account locked", stop_scope=ALL_SENDING),
    _spec(131037, ACCOUNT, "Phone number has no approved display name", stop_scope=ALL_SENDING),
    _spec(131042, ACCOUNT, "Payment method problem", stop_scope=ALL_SENDING),
    _spec(131045, ACCOUNT, "Phone number registration error", stop_scope=ALL_SENDING),
    _spec(
        131048,
        ACCOUNT,
        "Spam rate limit: number restricted after blocks or flags",
        stop_scope=ALL_SENDING,
    ),
    _spec(
        131064,
        ACCOUNT,
        "Messaging limit reached for template classification violations",
        stop_scope=ALL_SENDING,
    ),
    _spec(133010, ACCOUNT, "Phone number not registered on the platform", stop_scope=ALL_SENDING),
    _spec(133016, ACCOUNT, "Too many register/deregister attempts", stop_scope=ALL_SENDING),
    # Systemic template or campaign problems: every message of the campaign fails the same way.
    _spec(
        131063,
        ACCOUNT,
        "Marketing templates disabled for the Cloud API on this account",
        stop_scope=CAMPAIGN,
    ),
    _spec(132000, ACCOUNT, "Parameter count does not match the template", stop_scope=CAMPAIGN),
    _spec(
        132001,
        ACCOUNT,
        "Template does not exist in this language or is not approved",
        stop_scope=CAMPAIGN,
    ),
    _spec(132007, ACCOUNT, "Template content violates a WhatsApp policy", stop_scope=CAMPAIGN),
    _spec(132012, ACCOUNT, "Parameter format does not match the template", stop_scope=CAMPAIGN),
    _spec(132015, ACCOUNT, "Template paused for low quality", stop_scope=CAMPAIGN),
    _spec(132016, ACCOUNT, "Template disabled (paused too many times)", stop_scope=CAMPAIGN),
    # Transient: the same request may succeed later.
    _spec(1, RETRYABLE, "Invalid request or possible server error", backoff=FEW_RETRIES),
    _spec(2, RETRYABLE, "Temporary downtime or overload", backoff=TRANSIENT),
    _spec(4, RETRYABLE, "App reached its API call rate limit", backoff=MANAGEMENT_RATE),
    _spec(80007, RETRYABLE, "Account reached its API rate limit", backoff=MANAGEMENT_RATE),
    _spec(130429, RETRYABLE, "Cloud API throughput reached for this number", backoff=THROUGHPUT),
    _spec(131000, RETRYABLE, "Unknown error", backoff=TRANSIENT),
    _spec(131016, RETRYABLE, "Service temporarily unavailable", backoff=TRANSIENT),
    _spec(
        131056, RETRYABLE, "Pair rate limit: too many messages to this recipient", backoff=PAIR_RATE
    ),
    _spec(131057, RETRYABLE, "Business account in maintenance mode", backoff=MAINTENANCE),
    _spec(132069, RETRYABLE, "Flow throttled", backoff=FLOW_THROTTLE),
    _spec(133004, RETRYABLE, "Server temporarily unavailable", backoff=TRANSIENT),
    _spec(135000, RETRYABLE, "Unknown error with request parameters", backoff=ONE_OR_TWO_RETRIES),
    # Permanent for this message: the recipient or the message data is the problem.
    _spec(100, PERMANENT, "Invalid parameter"),
    _spec(130403, PERMANENT, "Business has blocked this user"),
    _spec(130472, PERMANENT, "Recipient is part of a marketing experiment"),
    _spec(130497, PERMANENT, "Account cannot message users in this country"),
    _spec(131008, PERMANENT, "Required parameter is missing"),
    _spec(131009, PERMANENT, "Parameter value is not valid"),
    _spec(
        131021, PERMANENT, "Sender and recipient are the same number", recipient_unreachable=True
    ),
    _spec(131026, PERMANENT, "Message undeliverable", recipient_unreachable=True),
    _spec(131030, PERMANENT, "Recipient not in the test number's allowed list"),
    _spec(
        131047,
        PERMANENT,
        "More than 24 hours since the user last replied",
        outside_service_window=True,
    ),
    _spec(
        131049,
        PERMANENT,
        "Not delivered to maintain healthy ecosystem engagement",
        retry_after_seconds=MARKETING_LIMIT_WAIT_SECONDS,
    ),
    _spec(
        131050,
        PERMANENT,
        "User stopped marketing messages from this business",
        opt_out_marketing=True,
    ),
    _spec(131051, PERMANENT, "Unsupported message type"),
    _spec(131052, PERMANENT, "Could not download the media the user sent"),
    # Permanent for the message, but usually the same for every message of a campaign (one header
    # media for all, one template's text): pause the campaign when it repeats (cloud-api.md 2.4).
    _spec(
        131053,
        PERMANENT,
        "Could not upload or fetch the media of this message",
        pause_campaign_if_repeated=True,
    ),
    _spec(131062, PERMANENT, "Business-scoped user id recipient not supported"),
    _spec(132005, PERMANENT, "Translated text too long", pause_campaign_if_repeated=True),
    _spec(132008, PERMANENT, "Parameter values formatted incorrectly"),
    _spec(132068, PERMANENT, "Flow is blocked"),
    # Template creation (arrive as code 100 with these subcodes): shown to the template author.
    _spec(2388019, PERMANENT, "Template limit reached for this account"),
    _spec(2388024, PERMANENT, "Content in this language already exists"),
    _spec(2388040, PERMANENT, "A component exceeds its character limit"),
    _spec(2388047, PERMANENT, "Header format is invalid"),
    _spec(2388072, PERMANENT, "Body format is invalid"),
    _spec(2388073, PERMANENT, "Footer format is invalid"),
    _spec(2388293, PERMANENT, "Too many variables for the text length"),
    _spec(2388299, PERMANENT, "Variables at the start or end of the text"),
)

ERROR_TABLE: dict[int, ErrorSpec] = {spec.code: spec for spec in _SPECS}

# 200-299: "API permission missing" (200 is also "no token" on some GETs).
_PERMISSION_RANGE = range(200, 300)
_PERMISSION_SPEC_TITLE = "API permission missing"

# Template-creation errors arrive as code 100 with one of these as `error_subcode`; only these
# subcodes refine a generic 100 (other subcodes, e.g. 33 "object does not exist", do not).
_REFINING_SUBCODES = frozenset(code for code in ERROR_TABLE if 2388000 <= code < 2389000)
_GENERIC_CODES = frozenset({100})


class TransportFailure(enum.Enum):
    """How a request failed below the HTTP level.

    * CONNECT: no connection was made (refused, DNS, TLS handshake, connect timeout): Meta never
      saw the request, so resending is safe;
    * AFTER_SEND: the request may have been sent and processed (read timeout, connection dropped
      mid-response, unreadable body): resending may duplicate the message;
    * CONFIGURATION: the request could not even be prepared (bad URL, no token).
    """

    CONNECT = "connect"
    AFTER_SEND = "after_send"
    CONFIGURATION = "configuration"


@dataclass(frozen=True)
class Classification:
    """What `classify` decided, ready to be copied onto a ProviderError."""

    error_class: ErrorClass
    title: str
    ambiguous: bool = False
    backoff: Backoff | None = None
    retry_after_seconds: float | None = None
    stop_scope: StopScope | None = None
    opt_out_marketing: bool = False
    recipient_unreachable: bool = False
    outside_service_window: bool = False
    pause_campaign_if_repeated: bool = False
    known_code: bool = False


def lookup(code: int | None, subcode: int | None = None) -> ErrorSpec | None:
    """The table row for `code` (or, for a generic code like 100, a known `subcode`)."""
    if code is None:
        return None
    if code in _GENERIC_CODES and subcode in _REFINING_SUBCODES:
        return ERROR_TABLE[subcode]  # type: ignore[index]
    spec = ERROR_TABLE.get(code)
    if spec is None and code in _PERMISSION_RANGE:
        return ErrorSpec(code, ACCOUNT, _PERMISSION_SPEC_TITLE, stop_scope=ALL_SENDING)
    return spec


def classify(
    code: int | None,
    http_status: int | None = None,
    transport_failure: TransportFailure | None = None,
    *,
    subcode: int | None = None,
    transient_hint: bool | None = None,
) -> Classification:
    """Decide what a sender should do about a failed request.

    Order of precedence:
    1. a known `code` (or generic code + known subcode) from the table;
    2. an unknown code (logged): PERMANENT for this message, unless Meta itself flagged the error
       `is_transient` or it came in a 5xx answer, in which case it is retried on the transient
       schedule (and, for a 5xx, ambiguous);
    3. no code: the transport failure, then the HTTP status (5xx = retryable and ambiguous,
       429 = retryable, other 4xx = permanent).

    A 5xx answer is ambiguous even with a code: the server failed while handling a request that it
    had received, so the message may have gone out.
    """
    server_failed = http_status is not None and http_status >= 500
    spec = lookup(code, subcode)
    if spec is not None:
        first_wait = spec.retry_after_seconds
        if first_wait is None and spec.backoff is not None:
            first_wait = spec.backoff.delay(0)
        return Classification(
            error_class=spec.error_class,
            title=spec.title,
            ambiguous=server_failed,
            backoff=spec.backoff,
            retry_after_seconds=first_wait,
            stop_scope=spec.stop_scope,
            opt_out_marketing=spec.opt_out_marketing,
            recipient_unreachable=spec.recipient_unreachable,
            outside_service_window=spec.outside_service_window,
            pause_campaign_if_repeated=spec.pause_campaign_if_repeated,
            known_code=True,
        )
    if code is not None:
        if server_failed:
            treatment = "retryable and ambiguous (a server error)"
        elif transient_hint:
            treatment = "retryable (Meta flagged it transient)"
        else:
            treatment = "permanent"
        logger.warning(
            "unknown WhatsApp error code %s (subcode %s, HTTP %s): treated as %s",
            code,
            subcode,
            http_status,
            treatment,
        )
        if server_failed or transient_hint:
            return Classification(
                RETRYABLE,
                "Unknown server error" if server_failed else "Unknown transient error",
                ambiguous=server_failed,
                backoff=TRANSIENT,
                retry_after_seconds=TRANSIENT.delay(0),
            )
        return Classification(PERMANENT, "Unknown error code")
    return _classify_without_code(http_status, transport_failure)


def _classify_without_code(
    http_status: int | None, transport_failure: TransportFailure | None
) -> Classification:
    if transport_failure is TransportFailure.CONNECT:
        return Classification(
            RETRYABLE,
            "Could not connect to the WhatsApp API",
            backoff=TRANSIENT,
            retry_after_seconds=TRANSIENT.delay(0),
        )
    if transport_failure is TransportFailure.CONFIGURATION:
        return Classification(
            ACCOUNT, "WhatsApp API client is misconfigured", stop_scope=ALL_SENDING
        )
    if transport_failure is TransportFailure.AFTER_SEND or (
        http_status is not None and http_status >= 500
    ):
        return Classification(
            RETRYABLE,
            "No usable answer from the WhatsApp API (the message may have been sent)",
            ambiguous=True,
            backoff=TRANSIENT,
            retry_after_seconds=TRANSIENT.delay(0),
        )
    if http_status == 429:
        # Too Many Requests means the request was refused, not processed: safe to retry.
        return Classification(
            RETRYABLE, "Rate limited", backoff=THROUGHPUT, retry_after_seconds=THROUGHPUT.delay(0)
        )
    if http_status is not None and 400 <= http_status < 500:
        return Classification(PERMANENT, f"Request rejected with HTTP {http_status}")
    return Classification(PERMANENT, "Unrecognised failure")


def build_error(
    *,
    message: str,
    code: int | None = None,
    http_status: int | None = None,
    transport_failure: TransportFailure | None = None,
    subcode: int | None = None,
    details: str | None = None,
    fbtrace_id: str | None = None,
    user_title: str | None = None,
    user_message: str | None = None,
    transient_hint: bool | None = None,
) -> ProviderError:
    """A ProviderError whose class and hints come from `classify`. Every provider builds its
    errors here, so the sandbox and the real client can never disagree on what a code means."""
    verdict = classify(
        code, http_status, transport_failure, subcode=subcode, transient_hint=transient_hint
    )
    return ProviderError(
        message=message,
        error_class=verdict.error_class,
        code=code,
        subcode=subcode,
        details=details,
        fbtrace_id=fbtrace_id,
        http_status=http_status,
        retry_after_seconds=verdict.retry_after_seconds,
        ambiguous=verdict.ambiguous,
        title=verdict.title,
        user_title=user_title,
        user_message=user_message,
        transient_hint=transient_hint,
        backoff=verdict.backoff,
        stop_scope=verdict.stop_scope,
        opt_out_marketing=verdict.opt_out_marketing,
        recipient_unreachable=verdict.recipient_unreachable,
        outside_service_window=verdict.outside_service_window,
        pause_campaign_if_repeated=verdict.pause_campaign_if_repeated,
    )


def invalid_parameter(details: str) -> ProviderError:
    """Meta's 100 "Invalid parameter", raised locally for a message that cannot be built (a value
    that is not text). `http_status` stays None: nothing was sent."""
    return build_error(message="(#100) Invalid parameter", code=100, details=details)
