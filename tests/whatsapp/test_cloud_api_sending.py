from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.meta_api import MetaAPIStandIn
from tests.whatsapp.helpers import ACCESS_TOKEN, PHONE_NUMBER_ID, shared_fixture
from whatsapp import errors, payloads
from whatsapp.base import (
    ErrorClass,
    ProviderError,
    SendAccepted,
    StopScope,
    TemplateMessage,
)
from whatsapp.cloud_api import CloudAPIProvider
from whatsapp.responses import parse_error_response, parse_send_response


def order_update(to: str = "+5511999990000", **overrides) -> TemplateMessage:
    fields = {
        "to": to,
        "template_name": "order_update",
        "language_code": "en_US",
        "body_parameters": ["Maria", "A-1042"],
        "biz_opaque_callback_data": "msg:1",
    }
    fields.update(overrides)
    return TemplateMessage(**fields)


@pytest.fixture
def catalogue(meta_api: MetaAPIStandIn) -> MetaAPIStandIn:
    meta_api.add_template("order_update", "en_US", body_text="Hi {{1}}, order {{2}} shipped.")
    return meta_api


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose listen queue is full, so a new connection attempt is never answered
    (the kernel drops its SYN): the client's connect timeout fires, as with an unreachable host."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    with socket.socket() as probe:
        probe.settimeout(0.2)
        try:
            probe.connect(("127.0.0.1", port))
        except TimeoutError:
            pass
        else:
            pytest.skip("this kernel answers connections beyond the listen queue")
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


# --- Success --------------------------------------------------------------------------------


def test_template_send_is_accepted_with_wamid(cloud, catalogue):
    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert outcome == SendAccepted(
        wamid="wamid.STANDIN000000000001",
        wa_id="5511999990000",
        input="+5511999990000",
        message_status="accepted",
    )
    [request] = catalogue.requests
    assert request.method == "POST"
    assert request.path == f"/v23.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.body == payloads.template_message_body(order_update())


def test_text_send_is_accepted_without_message_status(cloud, meta_api):
    # when
    outcome = cloud.send_text(PHONE_NUMBER_ID, "+16505551234", "Thanks!", preview_url=True)

    # then
    assert outcome == SendAccepted(
        wamid="wamid.STANDIN000000000001",
        wa_id="16505551234",
        input="+16505551234",
        message_status=None,
    )
    assert meta_api.sent_bodies[0]["text"] == {"preview_url": True, "body": "Thanks!"}


def test_success_response_fixture_is_parsed_and_trimmed():
    # given: the public fixture's wa_id has a trailing space
    data = shared_fixture("javaapi__send_success_response.json")

    # when
    outcome = parse_send_response(200, data)

    # then
    assert outcome == SendAccepted(
        wamid="wamid.gBGGSFcCNEOPAgkO_KJ55r4w_ww",
        wa_id="48XXXXXXXXX",
        input="48XXXXXXXXX",
        message_status=None,
    )


def test_held_for_quality_assessment_is_reported():
    outcome = parse_send_response(
        200,
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+1650", "wa_id": "1650"}],
            "messages": [{"id": "wamid.X", "message_status": "held_for_quality_assessment"}],
        },
    )

    assert isinstance(outcome, SendAccepted)
    assert outcome.held_for_quality_assessment is True


# --- Meta's errors --------------------------------------------------------------------------


def test_throughput_error_is_parsed_and_retryable(cloud, catalogue):
    # given
    catalogue.fail_next(
        130429,
        message="(#130429) Rate limit hit",
        details="Cloud API message throughput has been reached.",
        subcode=2494055,
    )

    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, ProviderError)
    assert (outcome.code, outcome.subcode, outcome.http_status) == (130429, 2494055, 400)
    assert outcome.message == "(#130429) Rate limit hit"
    assert outcome.details == "Cloud API message throughput has been reached."
    assert outcome.fbtrace_id == "AStandInTraceId"
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is False
    assert outcome.retry_after_seconds == 1
    assert catalogue.send_count == 1
    assert catalogue.accepted_messages == []


def test_error_without_error_data_has_no_details(cloud, catalogue):
    # given
    catalogue.fail_next(131026, message="Message undeliverable", error_data=None)

    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, ProviderError)
    assert outcome.details is None
    assert outcome.recipient_unreachable is True
    assert outcome.error_class is ErrorClass.PERMANENT


def test_error_data_as_a_string_becomes_the_details(cloud, catalogue):
    # given
    catalogue.fail_next(132000, error_data="Number of parameters does not match")

    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, ProviderError)
    assert outcome.details == "Number of parameters does not match"
    assert outcome.stop_scope is StopScope.CAMPAIGN


def test_graph_error_fixture_code_100_without_error_data():
    # given
    data = shared_fixture("javaapi__graph_error_response_100.json")

    # when
    error = parse_error_response(400, data)

    # then
    assert (error.code, error.subcode, error.details) == (100, 33, None)
    assert error.fbtrace_id == "AeadGx6xI8M9EVqcy11ynej"
    assert error.message.startswith("Unsupported get request.")
    assert error.error_class is ErrorClass.PERMANENT


def test_documented_throughput_error_fixture():
    # given
    data = shared_fixture("meta-docs__error_response_130429.json")

    # when
    error = parse_error_response(400, data)

    # then
    assert (error.code, error.subcode) == (130429, 2494055)
    assert error.details == "Cloud API message throughput has been reached."
    assert error.fbtrace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert error.error_class is ErrorClass.RETRYABLE


def test_unknown_template_and_wrong_count_are_campaign_stoppers(cloud, catalogue):
    # when
    unknown = cloud.send_template(PHONE_NUMBER_ID, order_update(template_name="nope"))
    wrong_count = cloud.send_template(PHONE_NUMBER_ID, order_update(body_parameters=["Maria"]))

    # then
    assert (unknown.code, unknown.stop_scope) == (132001, StopScope.CAMPAIGN)
    assert unknown.details == "template name (nope) does not exist in en_US"
    assert (wrong_count.code, wrong_count.stop_scope) == (132000, StopScope.CAMPAIGN)
    assert catalogue.accepted_messages == []


def test_wrong_token_is_an_account_error(meta_api, catalogue):
    # given
    provider = CloudAPIProvider(access_token="stale-token", base_url=meta_api.base_url)

    # when
    outcome = provider.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert (outcome.code, outcome.http_status) == (190, 401)
    assert outcome.error_class is ErrorClass.ACCOUNT
    assert outcome.stop_scope is StopScope.ALL_SENDING
    provider.close()


def test_rotated_token_is_used_without_a_new_provider(meta_api, catalogue):
    # given
    current = {"token": ACCESS_TOKEN}
    provider = CloudAPIProvider(access_token=lambda: current["token"], base_url=meta_api.base_url)
    assert isinstance(provider.send_template(PHONE_NUMBER_ID, order_update()), SendAccepted)

    # when
    meta_api.access_token = current["token"] = "rotated-token"
    outcome = provider.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, SendAccepted)
    assert meta_api.requests[-1].headers["authorization"] == "Bearer rotated-token"
    provider.close()


def test_missing_token_sends_nothing(meta_api):
    # given
    provider = CloudAPIProvider(access_token=lambda: "", base_url=meta_api.base_url)

    # when
    outcome = provider.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert outcome.error_class is ErrorClass.ACCOUNT
    assert outcome.message == "no WhatsApp access token is configured"
    assert meta_api.request_count == 0
    provider.close()


def test_parameter_that_is_not_text_is_refused_before_sending(cloud, meta_api):
    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update(body_parameters=["Maria", None]))

    # then
    assert (outcome.code, outcome.http_status) == (100, None)
    assert outcome.details == "body parameter 2 must be text, not None"
    assert outcome.error_class is ErrorClass.PERMANENT
    assert meta_api.request_count == 0


# --- Transport failures ---------------------------------------------------------------------


def test_read_timeout_is_retryable_and_ambiguous(meta_api, catalogue):
    # given: Meta processes the message but answers after the client gave up
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN, base_url=meta_api.base_url, read_timeout=0.1
    )
    meta_api.delay_next(0.4)

    # when
    outcome = provider.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, ProviderError)
    assert outcome.code is None
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is True
    assert "ReadTimeout" in outcome.message
    assert meta_api.send_count == 1
    assert len(meta_api.accepted_messages) == 1
    provider.close()


def test_connection_refused_is_retryable_and_not_ambiguous():
    # given
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN, base_url=f"http://127.0.0.1:{free_port()}", connect_timeout=0.5
    )

    # when
    outcome = provider.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, ProviderError)
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is False
    assert outcome.http_status is None
    provider.close()


def test_server_error_is_ambiguous_and_sent_exactly_once(cloud, catalogue):
    # given
    catalogue.server_error_next(http_status=503, body="<html>Service Unavailable</html>")

    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, ProviderError)
    assert (outcome.code, outcome.http_status) == (None, 503)
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is True
    assert outcome.message == "HTTP 503: <html>Service Unavailable</html>"
    assert catalogue.send_count == 1


@pytest.mark.parametrize(
    ("code", "message"),
    [(131000, "(#131000) Something went wrong"), (2, "(#2) Service temporarily unavailable")],
)
def test_server_error_with_metas_error_body_keeps_the_code_and_is_ambiguous(
    cloud, catalogue, code, message
):
    # given: Meta fails with a 500 but still sends its JSON error envelope
    catalogue.fail_next(code, http_status=500, message=message, details="Please try again.")

    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, ProviderError)
    assert (outcome.code, outcome.http_status) == (code, 500)
    assert outcome.message == message
    assert outcome.details == "Please try again."
    assert outcome.fbtrace_id == "AStandInTraceId"
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is True
    assert outcome.backoff is errors.TRANSIENT
    assert catalogue.send_count == 1


def test_server_error_with_an_unknown_code_is_retryable_and_ambiguous(cloud, catalogue):
    # given
    catalogue.fail_next(987654, http_status=500, message="(#987654) Brand new failure")

    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert (outcome.code, outcome.http_status) == (987654, 500)
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is True
    assert outcome.title == "Unknown server error"


def test_connect_timeout_is_retryable_and_not_ambiguous(unanswered_port):
    # given
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN,
        base_url=f"http://127.0.0.1:{unanswered_port}",
        connect_timeout=0.2,
        read_timeout=5.0,
    )

    # when
    started = time.monotonic()
    outcome = provider.send_template(PHONE_NUMBER_ID, order_update())
    elapsed = time.monotonic() - started

    # then: the connect timeout, not the read timeout, ended the attempt; Meta never saw it
    assert isinstance(outcome, ProviderError)
    assert "ConnectTimeout" in outcome.message
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is False
    assert outcome.http_status is None
    assert 0.2 <= elapsed < 2.0
    provider.close()


def test_paced_send_connect_timeout_is_retryable_and_not_ambiguous(unanswered_port):
    # given
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN,
        base_url=f"http://127.0.0.1:{unanswered_port}",
        connect_timeout=0.2,
        read_timeout=5.0,
    )

    # when
    future = provider.submit_template(
        PHONE_NUMBER_ID,
        order_update(),
        not_before=time.monotonic(),
        cancelled=threading.Event(),
    )
    outcome = future.result(timeout=3)

    # then
    assert isinstance(outcome, ProviderError)
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is False
    provider.close()


def test_dropped_connection_is_ambiguous_and_sent_exactly_once(cloud, catalogue):
    # given
    catalogue.drop_next()

    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, ProviderError)
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is True
    assert catalogue.send_count == 1


def test_unreadable_success_answer_is_ambiguous(cloud, catalogue):
    # given
    catalogue.respond_next(200, "OK", content_type="text/plain")

    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert outcome.error_class is ErrorClass.RETRYABLE
    assert outcome.ambiguous is True
    assert outcome.http_status == 200


def test_non_json_client_error_is_permanent(cloud, catalogue):
    # given
    catalogue.respond_next(404, "Not Found")

    # when
    outcome = cloud.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert (outcome.error_class, outcome.ambiguous) == (ErrorClass.PERMANENT, False)
    assert outcome.message == "HTTP 404: Not Found"


# --- Connection pool ------------------------------------------------------------------------


def test_pool_is_sized_to_the_concurrency_and_never_retries():
    # given
    provider = CloudAPIProvider(access_token=ACCESS_TOKEN, concurrency=48)

    # when
    adapter = provider.session.get_adapter("https://graph.facebook.com/v23.0/1/messages")

    # then
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 48
    assert adapter.max_retries.total == 0
    assert adapter.max_retries.read is False
    assert provider.timeout == (3.05, 15.0)
    provider.close()


def test_batch_keeps_input_order_and_sends_concurrently(meta_api, catalogue):
    # given
    meta_api.latency_seconds = 0.03
    provider = CloudAPIProvider(access_token=ACCESS_TOKEN, base_url=meta_api.base_url)
    messages = [order_update(to=f"+55119999900{index:02d}") for index in range(16)]
    messages[5] = order_update(to="+5511999990005", template_name="missing")

    # when
    outcomes = provider.send_template_batch(PHONE_NUMBER_ID, messages, concurrency=8)

    # then
    assert len(outcomes) == 16
    assert outcomes[5].code == 132001
    accepted = [outcome for index, outcome in enumerate(outcomes) if index != 5]
    assert [outcome.input for outcome in accepted] == [
        message.to for index, message in enumerate(messages) if index != 5
    ]
    assert 1 < meta_api.max_in_flight <= 8
    assert meta_api.send_count == 16
    provider.close()


def test_batch_never_exceeds_the_connection_pool(meta_api, catalogue):
    # given
    meta_api.latency_seconds = 0.02
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN, base_url=meta_api.base_url, concurrency=3
    )
    messages = [order_update(to=f"+55119999900{index:02d}") for index in range(12)]

    # when
    outcomes = provider.send_template_batch(PHONE_NUMBER_ID, messages, concurrency=50)

    # then
    assert all(isinstance(outcome, SendAccepted) for outcome in outcomes)
    assert meta_api.max_in_flight <= 3
    provider.close()
