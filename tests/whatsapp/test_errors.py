from __future__ import annotations

import logging

import pytest

from whatsapp import errors
from whatsapp.base import ErrorClass, StopScope
from whatsapp.errors import TransportFailure, classify

# Every code of the reference error table (cloud-api.md 2.4) and the class it must get.
EXPECTED_CLASSES = {
    **dict.fromkeys(
        [0, 3, 10, 190, 33, 368, 131005, 131031, 131037, 131042, 131045, 131048, 131064,
         133010, 133016, 131063, 132000, 132001, 132007, 132012, 132015, 132016],
        ErrorClass.ACCOUNT,
    ),
    **dict.fromkeys(
        [1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057, 133004, 135000],
        ErrorClass.RETRYABLE,
    ),
    **dict.fromkeys(
        [100, 130403, 130472, 130497, 131008, 131009, 131021, 131026, 131030, 131047, 131049,
         131050, 131051, 131053, 131062, 132005, 132008, 2388019, 2388040, 2388047, 2388072,
         2388073, 2388293, 2388299],
        ErrorClass.PERMANENT,
    ),
}  # fmt: skip


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED_CLASSES.items()))
def test_every_reference_code_is_in_the_table_with_its_class(code, expected):
    # when
    verdict = classify(code, 400)

    # then
    assert verdict.known_code is True
    assert verdict.error_class is expected
    assert verdict.title


@pytest.mark.parametrize("code", [200, 250, 299])
def test_permission_range_stops_all_sending(code):
    # when
    verdict = classify(code, 403)

    # then
    assert verdict.error_class is ErrorClass.ACCOUNT
    assert verdict.stop_scope is StopScope.ALL_SENDING


def test_throughput_limit_retries_with_short_exponential_backoff():
    # when
    verdict = classify(130429, 400)

    # then
    assert verdict.error_class is ErrorClass.RETRYABLE
    assert verdict.ambiguous is False
    assert [verdict.backoff.delay(attempt) for attempt in range(8)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        60,
        60,
    ]


def test_unknown_error_131000_is_retryable():
    verdict = classify(131000, 400)

    assert verdict.error_class is ErrorClass.RETRYABLE
    assert verdict.retry_after_seconds == 2


def test_undeliverable_is_permanent_and_flags_the_recipient():
    verdict = classify(131026, 400)

    assert verdict.error_class is ErrorClass.PERMANENT
    assert verdict.recipient_unreachable is True
    assert verdict.opt_out_marketing is False


def test_marketing_limit_is_permanent_now_with_a_24h_hint():
    verdict = classify(131049, None)

    assert verdict.error_class is ErrorClass.PERMANENT
    assert verdict.retry_after_seconds == 86400


def test_marketing_stop_flags_an_opt_out():
    verdict = classify(131050, None)

    assert verdict.error_class is ErrorClass.PERMANENT
    assert verdict.opt_out_marketing is True


def test_pair_rate_limit_waits_four_to_the_x_seconds():
    verdict = classify(131056, 400)

    assert verdict.error_class is ErrorClass.RETRYABLE
    assert [verdict.backoff.delay(attempt) for attempt in range(5)] == [1, 4, 16, 64, 256]


def test_maintenance_waits_one_to_two_minutes():
    verdict = classify(131057, 503)

    assert verdict.error_class is ErrorClass.RETRYABLE
    assert [verdict.backoff.delay(attempt) for attempt in range(3)] == [60, 120, 120]


@pytest.mark.parametrize("code", [132000, 132001, 132012, 132015, 132016])
def test_template_problems_stop_the_campaign(code):
    verdict = classify(code, 400)

    assert verdict.error_class is ErrorClass.ACCOUNT
    assert verdict.stop_scope is StopScope.CAMPAIGN


@pytest.mark.parametrize("code", [190, 131042])
def test_token_and_payment_problems_stop_all_sending(code):
    verdict = classify(code, 400)

    assert verdict.error_class is ErrorClass.ACCOUNT
    assert verdict.stop_scope is StopScope.ALL_SENDING


def test_unknown_code_is_permanent_and_logged(caplog):
    # when
    with caplog.at_level(logging.WARNING, logger="whatsapp.errors"):
        verdict = classify(999999, 400)

    # then
    assert verdict.error_class is ErrorClass.PERMANENT
    assert verdict.known_code is False
    assert verdict.ambiguous is False
    assert [record.getMessage() for record in caplog.records] == [
        "unknown WhatsApp error code 999999 (subcode None, HTTP 400): treated as permanent"
    ]


@pytest.mark.parametrize("http_status", [500, 502, 503])
def test_unknown_code_in_a_server_error_is_retryable_and_ambiguous(caplog, http_status):
    # when
    with caplog.at_level(logging.WARNING, logger="whatsapp.errors"):
        verdict = classify(999999, http_status)

    # then: the server failed while handling the request, so the message may have gone out
    assert verdict.error_class is ErrorClass.RETRYABLE
    assert verdict.ambiguous is True
    assert verdict.known_code is False
    assert verdict.backoff is errors.TRANSIENT
    assert verdict.retry_after_seconds == 2
    assert [record.getMessage() for record in caplog.records] == [
        f"unknown WhatsApp error code 999999 (subcode None, HTTP {http_status}): "
        "treated as retryable and ambiguous (a server error)"
    ]


def test_known_permanent_code_in_a_server_error_stays_permanent_but_ambiguous():
    # given: the code decides the class (cloud-api.md 2.3), the 5xx only says it may have gone out
    verdict = classify(131026, 500)

    assert verdict.error_class is ErrorClass.PERMANENT
    assert verdict.ambiguous is True


def test_outside_the_service_window_is_flagged_for_the_caller():
    # when
    error = errors.build_error(message="(#131047) Re-engagement message", code=131047)

    # then
    assert error.error_class is ErrorClass.PERMANENT
    assert error.outside_service_window is True
    assert error.as_dict()["outside_service_window"] is True
    assert classify(131047, 400).outside_service_window is True


@pytest.mark.parametrize("code", sorted(set(EXPECTED_CLASSES) - {131047}))
def test_no_other_code_is_flagged_outside_the_service_window(code):
    assert classify(code, 400).outside_service_window is False


# Permanent for the message, but "pause the campaign if ... broken for everyone" / "pause if
# systemic" in the reference table (cloud-api.md 2.4).
PAUSE_IF_REPEATED = {131053, 132005}


@pytest.mark.parametrize("code", sorted(PAUSE_IF_REPEATED))
def test_media_and_text_length_errors_suggest_pausing_the_campaign_when_repeated(code):
    # when
    error = errors.build_error(message=f"(#{code}) error", code=code, http_status=400)

    # then: each message fails on its own, but a campaign that keeps hitting it should pause
    assert error.error_class is ErrorClass.PERMANENT
    assert error.stops_sending is False
    assert error.pause_campaign_if_repeated is True
    assert error.as_dict()["pause_campaign_if_repeated"] is True


@pytest.mark.parametrize("code", sorted(set(EXPECTED_CLASSES) - PAUSE_IF_REPEATED))
def test_other_codes_do_not_suggest_pausing_on_repetition(code):
    assert classify(code, 400).pause_campaign_if_repeated is False


def test_unknown_code_flagged_transient_by_meta_is_retried():
    verdict = classify(999999, 400, transient_hint=True)

    assert verdict.error_class is ErrorClass.RETRYABLE


def test_template_creation_subcode_gives_the_precise_title():
    verdict = classify(100, 400, subcode=2388299)

    assert verdict.error_class is ErrorClass.PERMANENT
    assert verdict.title == "Variables at the start or end of the text"


@pytest.mark.parametrize(
    ("http_status", "failure", "expected_class", "ambiguous"),
    [
        (None, TransportFailure.CONNECT, ErrorClass.RETRYABLE, False),
        (None, TransportFailure.AFTER_SEND, ErrorClass.RETRYABLE, True),
        (500, None, ErrorClass.RETRYABLE, True),
        (503, None, ErrorClass.RETRYABLE, True),
        (429, None, ErrorClass.RETRYABLE, False),
        (400, None, ErrorClass.PERMANENT, False),
        (404, None, ErrorClass.PERMANENT, False),
        (None, TransportFailure.CONFIGURATION, ErrorClass.ACCOUNT, False),
    ],
)
def test_without_a_code_the_transport_and_http_status_decide(
    http_status, failure, expected_class, ambiguous
):
    verdict = classify(None, http_status, failure)

    assert verdict.error_class is expected_class
    assert verdict.ambiguous is ambiguous


def test_a_known_code_in_a_5xx_answer_is_ambiguous():
    verdict = classify(2, 503)

    assert verdict.error_class is ErrorClass.RETRYABLE
    assert verdict.ambiguous is True


def test_build_error_copies_the_classification():
    # when
    error = errors.build_error(message="(#131056) Pair rate", code=131056, http_status=400)

    # then
    assert error.retryable is True
    assert error.retry_after_seconds == 1
    assert [error.retry_delay(attempt) for attempt in range(7)] == [1, 4, 16, 64, 256, 1024, None]
    assert error.as_dict()["error_class"] == "retryable"


def test_other_subcodes_do_not_refine_code_100():
    verdict = classify(100, 400, subcode=33)

    assert verdict.error_class is ErrorClass.PERMANENT
    assert verdict.title == "Invalid parameter"
