from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from whatsapp import errors
from whatsapp.base import (
    SERVICE_WINDOW,
    Backoff,
    ErrorClass,
    ProviderError,
    SendAccepted,
    StopScope,
    TemplateMessage,
    WhatsAppProvider,
    service_window_open,
)


class FlakyProvider(WhatsAppProvider):
    """Accepts every message except the one addressed to +10000000000, which blows up."""

    def send_template(self, phone_number_id, message):
        if message.to == "+10000000000":
            raise RuntimeError("bug in a provider")
        return SendAccepted(wamid=f"wamid.{message.to}", wa_id=None, input=message.to)

    def send_text(self, phone_number_id, to, body, *, preview_url=False,
                  biz_opaque_callback_data=None, last_inbound_at=None):  # fmt: skip
        raise NotImplementedError

    def list_templates(self, waba_id):
        return iter(())

    def create_template(self, waba_id, *, name, language, category, components,
                        parameter_format=None):  # fmt: skip
        raise NotImplementedError


def message_to(to: str) -> TemplateMessage:
    return TemplateMessage(to=to, template_name="t", language_code="en_US")


def test_default_batch_isolates_an_unexpected_exception():
    # given
    messages = [message_to("+1555"), message_to("+10000000000"), message_to("+1666")]

    # when
    outcomes = FlakyProvider().send_template_batch("1", messages, concurrency=3)

    # then
    assert outcomes[0] == SendAccepted(wamid="wamid.+1555", wa_id=None, input="+1555")
    assert isinstance(outcomes[1], ProviderError)
    assert (outcomes[1].error_class, outcomes[1].ambiguous) == (ErrorClass.PERMANENT, True)
    assert outcomes[2] == SendAccepted(wamid="wamid.+1666", wa_id=None, input="+1666")


def test_empty_batch_sends_nothing():
    assert FlakyProvider().send_template_batch("1", []) == []


def test_provider_error_survives_pickling():
    # given
    error = errors.build_error(
        message="(#131042) Payment problem", code=131042, http_status=400, details="No card"
    )
    error.add_note("seen in a test")

    # when
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

    # then
    assert copy.as_dict() == error.as_dict()
    assert copy.stop_scope is StopScope.ALL_SENDING
    assert str(copy) == "[131042] No card"


def test_service_window_flag_survives_pickling():
    error = errors.build_error(message="(#131047) Re-engagement message", code=131047)

    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

    assert copy.outside_service_window is True


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last_inbound_at", "open_"),
    [
        (NOW - timedelta(minutes=5), True),
        (NOW - SERVICE_WINDOW + timedelta(seconds=1), True),
        (NOW - SERVICE_WINDOW, False),
        (NOW - timedelta(days=3), False),
        (None, False),
    ],
    ids=["five minutes ago", "just inside", "exactly 24 h ago", "three days ago", "never"],
)
def test_service_window_is_open_for_24_hours_after_the_last_inbound_message(last_inbound_at, open_):
    assert service_window_open(last_inbound_at, now=NOW) is open_


def test_service_window_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        service_window_open(datetime(2026, 3, 1, 11, 0), now=NOW)


def test_retry_delay_follows_the_backoff_until_attempts_run_out():
    error = errors.build_error(message="(#130429) Rate limit hit", code=130429, http_status=400)

    assert [error.retry_delay(attempt) for attempt in (0, 1, 7, 8)] == [1, 2, 60, None]


def test_permanent_errors_advise_no_retry():
    error = errors.build_error(message="(#131049) Not delivered", code=131049)

    assert error.retry_delay(0) is None
    assert error.retry_after_seconds == 86400


def test_jitter_stays_within_half_and_full_delay():
    backoff = Backoff(base_seconds=2, cap_seconds=300)

    assert (backoff.jittered(3, 0.0), backoff.jittered(3, 1.0)) == (8.0, 16.0)
