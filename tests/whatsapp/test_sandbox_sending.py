from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.whatsapp.helpers import APP_SECRET, PHONE_NUMBER_ID, WebhookSink
from whatsapp.base import (
    ButtonParameter,
    ErrorClass,
    MediaHeader,
    ProviderError,
    SendAccepted,
    TemplateMessage,
    TextHeader,
)
from whatsapp.sandbox import SandboxProvider

WAMID = re.compile(r"^wamid\.[A-Za-z0-9+/]+=*$")


@pytest.fixture
def sink() -> WebhookSink:
    return WebhookSink()


@pytest.fixture
def sandbox(tmp_path, sink):
    provider = SandboxProvider(
        state_dir=tmp_path / "sandbox",
        webhook_target=sink,
        app_secret=APP_SECRET,
        status_delay_seconds=0.01,
        read_rate=1.0,
        failure_rate=0.0,
        template_approval_seconds=60,
        seed=7,
    )
    yield provider
    provider.close()


def order_update(**overrides) -> TemplateMessage:
    fields = {
        "to": "+5511999990000",
        "template_name": "order_update",
        "language_code": "pt_BR",
        "body_parameters": ["Maria", "A-1042"],
    }
    fields.update(overrides)
    return TemplateMessage(**fields)


def loyalty_offer(**overrides) -> TemplateMessage:
    fields = {
        "to": "+34612345678",
        "template_name": "loyalty_offer",
        "language_code": "es_ES",
        "parameter_format": "NAMED",
        "body_parameters": {"first_name": "Lucía", "points": 1200},
        "buttons": [
            ButtonParameter(index=0, sub_type="url", value="spring-42"),
            ButtonParameter(index=1, sub_type="quick_reply", value="optout:42"),
        ],
    }
    fields.update(overrides)
    return TemplateMessage(**fields)


def test_accepted_send_returns_a_meta_style_wamid(sandbox):
    # when
    outcome = sandbox.send_template(PHONE_NUMBER_ID, order_update())

    # then
    assert isinstance(outcome, SendAccepted)
    assert WAMID.match(outcome.wamid)
    assert b"5511999990000" in base64.b64decode(outcome.wamid.removeprefix("wamid."))
    assert (outcome.wa_id, outcome.input, outcome.message_status) == (
        "5511999990000",
        "+5511999990000",
        "accepted",
    )


def test_wamids_are_unique(sandbox):
    outcomes = [sandbox.send_template(PHONE_NUMBER_ID, order_update()) for _ in range(20)]

    assert len({outcome.wamid for outcome in outcomes}) == 20


def test_named_template_with_buttons_is_accepted(sandbox):
    outcome = sandbox.send_template(PHONE_NUMBER_ID, loyalty_offer())

    assert isinstance(outcome, SendAccepted)


def test_media_header_template_is_accepted(sandbox):
    # given
    message = TemplateMessage(
        to="+5511999990000",
        template_name="seasonal_sale",
        language_code="en_US",
        header=MediaHeader(kind="image", link="https://cdn.example.com/sale.jpg"),
        body_parameters=["25%"],
    )

    # when
    outcome = sandbox.send_template(PHONE_NUMBER_ID, message)

    # then
    assert isinstance(outcome, SendAccepted)


def test_text_send_inside_the_service_window_is_accepted(sandbox):
    # given: the recipient wrote an hour ago
    last_inbound_at = datetime.now(UTC) - timedelta(hours=1)

    # when
    outcome = sandbox.send_text(
        PHONE_NUMBER_ID, "+16505551234", "Thanks, we got it.", last_inbound_at=last_inbound_at
    )

    # then
    assert isinstance(outcome, SendAccepted)
    assert outcome.message_status is None


@pytest.mark.parametrize(
    "last_inbound_at",
    [None, datetime(2026, 3, 1, 12, 0, tzinfo=UTC) - timedelta(hours=24)],
    ids=["never wrote", "wrote exactly 24 hours ago"],
)
def test_text_send_outside_the_service_window_is_refused_with_131047(
    tmp_path, sink, last_inbound_at
):
    # given: the sandbox's clock says 2026-03-01 12:00 UTC
    sandbox = SandboxProvider(
        state_dir=tmp_path / "sandbox",
        webhook_target=sink,
        app_secret=APP_SECRET,
        status_delay_seconds=0.01,
        clock=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp(),
    )

    # when
    outcome = sandbox.send_text(
        PHONE_NUMBER_ID, "+16505551234", "Still there?", last_inbound_at=last_inbound_at
    )

    # then
    assert isinstance(outcome, ProviderError)
    assert (outcome.code, outcome.http_status) == (131047, 400)
    assert outcome.error_class is ErrorClass.PERMANENT
    assert outcome.outside_service_window is True
    assert outcome.details == (
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number."
    )
    assert list(sandbox.accepted_requests) == []
    assert sandbox.wait_for_webhooks(1.0) is True
    assert sink.deliveries == []
    sandbox.close()


def test_text_send_just_inside_the_window_is_accepted(tmp_path, sink):
    # given
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    sandbox = SandboxProvider(
        state_dir=tmp_path / "sandbox", webhook_target=sink, clock=lambda: now.timestamp()
    )

    # when
    outcome = sandbox.send_text(
        PHONE_NUMBER_ID,
        "+16505551234",
        "Thanks!",
        last_inbound_at=now - timedelta(hours=23, minutes=59),
    )

    # then
    assert isinstance(outcome, SendAccepted)
    sandbox.close()


@pytest.mark.parametrize(
    ("message", "code", "details"),
    [
        (
            order_update(to="+123"),
            131009,
            "'+123' is not a valid phone number in E.164 format (+ and country code).",
        ),
        (
            order_update(to="5511999990000"),
            131009,
            "'5511999990000' is not a valid phone number in E.164 format (+ and country code).",
        ),
        (
            order_update(template_name="spring_sale"),
            132001,
            "template name (spring_sale) does not exist in pt_BR",
        ),
        (
            order_update(language_code="fr_FR"),
            132001,
            "template name (order_update) does not exist in fr_FR",
        ),
        (
            order_update(body_parameters=["Maria"]),
            132000,
            "body: number of localizable_params (1) does not match the expected number of "
            "params (2)",
        ),
        (
            order_update(parameter_format="NAMED", body_parameters={"1": "Maria", "2": "A"}),
            132012,
            "template order_update uses POSITIONAL parameters.",
        ),
        (
            loyalty_offer(parameter_format="POSITIONAL", body_parameters=["Lucía", "1200"]),
            132012,
            "template loyalty_offer uses NAMED parameters.",
        ),
        (
            loyalty_offer(body_parameters={"first_name": "Lucía", "pts": "1200"}),
            132000,
            "body: missing parameters (points), unexpected parameters (pts)",
        ),
        (
            loyalty_offer(header=TextHeader("Hola", parameter_name="title")),
            132000,
            "header: number of localizable_params (1) does not match the expected number of "
            "params (0)",
        ),
        (
            order_update(body_parameters=["Maria", "  "]),
            131008,
            "A text parameter is empty.",
        ),
        (
            order_update(body_parameters=["Maria", None]),
            100,
            "body parameter 2 must be text, not None",
        ),
        (
            loyalty_offer(buttons=[ButtonParameter(index=1, sub_type="quick_reply", value="x")]),
            131008,
            "button 0 (Ver ofertas) needs its URL parameter.",
        ),
        (
            loyalty_offer(buttons=[ButtonParameter(index=0, sub_type="quick_reply", value="x")]),
            132012,
            "button 0 is URL, not quick_reply.",
        ),
        (
            TemplateMessage(
                to="+5511999990000",
                template_name="seasonal_sale",
                language_code="en_US",
                body_parameters=["25%"],
            ),
            131008,
            "template seasonal_sale needs a image header parameter.",
        ),
    ],
    ids=[
        "too-short-number",
        "missing-plus",
        "unknown-template",
        "unknown-language",
        "too-few-parameters",
        "named-for-positional",
        "positional-for-named",
        "wrong-parameter-name",
        "header-parameter-not-in-template",
        "empty-text",
        "not-text",
        "url-button-missing",
        "button-type-mismatch",
        "media-header-missing",
    ],
)
def test_invalid_sends_get_metas_error_and_nothing_is_sent(sandbox, sink, message, code, details):
    # when
    outcome = sandbox.send_template(PHONE_NUMBER_ID, message)

    # then
    assert outcome.code == code
    assert outcome.details == details
    assert list(sandbox.accepted_requests) == []
    assert sandbox.wait_for_webhooks(1.0) is True
    assert sink.deliveries == []


def test_validation_errors_are_classified_by_the_error_table(sandbox):
    # when
    unknown = sandbox.send_template(PHONE_NUMBER_ID, order_update(template_name="nope"))
    bad_number = sandbox.send_template(PHONE_NUMBER_ID, order_update(to="+1"))

    # then
    assert (unknown.error_class, unknown.http_status) == (ErrorClass.ACCOUNT, 400)
    assert unknown.message == "(#132001) Template name does not exist in the translation"
    assert bad_number.error_class is ErrorClass.PERMANENT


def test_pending_template_cannot_be_sent_yet(sandbox):
    # given
    sandbox.create_template(
        "waba-1",
        name="fresh_news",
        language="en_US",
        category="MARKETING",
        components=[{"type": "BODY", "text": "Hi {{1}}, news inside."}],
    )
    message = order_update(template_name="fresh_news", language_code="en_US", body_parameters=["A"])

    # when
    outcome = sandbox.send_template(PHONE_NUMBER_ID, message)

    # then
    assert outcome.code == 132001


def test_paused_template_gets_132015(sandbox):
    # given
    created = sandbox.create_template(
        "waba-1",
        name="paused_news",
        language="en_US",
        category="MARKETING",
        components=[{"type": "BODY", "text": "Hi {{1}}, news inside."}],
    )
    sandbox.store.set_status(created.id, "PAUSED")
    message = order_update(
        template_name="paused_news", language_code="en_US", body_parameters=["A"]
    )

    # when
    outcome = sandbox.send_template(PHONE_NUMBER_ID, message)

    # then
    assert outcome.code == 132015
    assert outcome.error_class is ErrorClass.ACCOUNT


def test_batch_keeps_order(sandbox):
    # given
    messages = [order_update(to=f"+55119999900{index:02d}") for index in range(12)]
    messages[3] = order_update(to="+1")

    # when
    outcomes = sandbox.send_template_batch(PHONE_NUMBER_ID, messages, concurrency=4)

    # then
    assert outcomes[3].code == 131009
    assert [outcome.input for index, outcome in enumerate(outcomes) if index != 3] == [
        message.to for index, message in enumerate(messages) if index != 3
    ]
