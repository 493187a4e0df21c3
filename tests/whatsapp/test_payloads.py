from __future__ import annotations

from decimal import Decimal

import pytest

from tests.whatsapp.helpers import shared_fixture
from whatsapp import payloads
from whatsapp.base import ButtonParameter, MediaHeader, TemplateMessage, TextHeader


def test_positional_template_body_matches_meta_shape():
    # given
    message = TemplateMessage(
        to="+5511999990000",
        template_name="order_update",
        language_code="pt_BR",
        body_parameters=["Maria", "A-1042"],
    )

    # when
    body = payloads.template_message_body(message)

    # then
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+5511999990000",
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "pt_BR"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Maria"},
                        {"type": "text", "text": "A-1042"},
                    ],
                }
            ],
        },
    }


def test_named_template_with_text_header_and_both_button_kinds():
    # given
    message = TemplateMessage(
        to="+16505551234",
        template_name="loyalty_offer",
        language_code="en_US",
        parameter_format="NAMED",
        header=TextHeader("Spring", parameter_name="season"),
        body_parameters={"first_name": "Jessica", "points": "1200"},
        buttons=[
            ButtonParameter(index=0, sub_type="url", value="spring-42"),
            ButtonParameter(index=1, sub_type="quick_reply", value="optout:42"),
        ],
        biz_opaque_callback_data="msg:981",
    )

    # when
    body = payloads.template_message_body(message)

    # then
    assert body["biz_opaque_callback_data"] == "msg:981"
    assert body["template"]["components"] == [
        {
            "type": "header",
            "parameters": [{"type": "text", "parameter_name": "season", "text": "Spring"}],
        },
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Jessica"},
                {"type": "text", "parameter_name": "points", "text": "1200"},
            ],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": "0",
            "parameters": [{"type": "text", "text": "spring-42"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "1",
            "parameters": [{"type": "payload", "payload": "optout:42"}],
        },
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            MediaHeader(kind="image", link="https://cdn.example.com/sale.jpg"),
            {"type": "image", "image": {"link": "https://cdn.example.com/sale.jpg"}},
        ),
        (
            MediaHeader(kind="video", media_id="1234567890"),
            {"type": "video", "video": {"id": "1234567890"}},
        ),
        (
            MediaHeader(kind="document", link="https://cdn.example.com/t.pdf", filename="t.pdf"),
            {
                "type": "document",
                "document": {"link": "https://cdn.example.com/t.pdf", "filename": "t.pdf"},
            },
        ),
    ],
)
def test_media_header_parameters(header, expected):
    # given
    message = TemplateMessage(
        to="+5511999990000",
        template_name="seasonal_sale",
        language_code="en_US",
        header=header,
        body_parameters=["25%"],
    )

    # when
    components = payloads.template_message_body(message)["template"]["components"]

    # then
    assert components[0] == {"type": "header", "parameters": [expected]}


def test_numbers_are_coerced_to_strings():
    # given
    message = TemplateMessage(
        to="+5511999990000",
        template_name="order_update",
        language_code="en_US",
        body_parameters=[42, 3.5, Decimal("19.90")],
    )

    # when
    parameters = payloads.template_message_body(message)["template"]["components"][0]["parameters"]

    # then
    assert [parameter["text"] for parameter in parameters] == ["42", "3.5", "19.90"]


@pytest.mark.parametrize("value", [None, True, ["a"], {"a": 1}])
def test_values_that_are_not_text_are_refused(value):
    # given
    message = TemplateMessage(
        to="+5511999990000",
        template_name="welcome",
        language_code="en_US",
        body_parameters=[value],
    )

    # when / then
    with pytest.raises(payloads.PayloadError, match="body parameter 1 must be text"):
        payloads.template_message_body(message)


def test_template_without_parameters_has_no_components_and_no_callback_data():
    # given
    message = TemplateMessage(to="+5511999990000", template_name="hello", language_code="en_US")

    # when
    body = payloads.template_message_body(message)

    # then
    assert body["template"] == {"name": "hello", "language": {"code": "en_US"}}
    assert "biz_opaque_callback_data" not in body


def test_message_rejects_mixed_parameter_formats():
    with pytest.raises(ValueError, match="parameter_format NAMED"):
        TemplateMessage(
            to="+1", template_name="t", language_code="en_US", body_parameters={"name": "x"}
        )
    with pytest.raises(ValueError, match="parameter_format POSITIONAL"):
        TemplateMessage(
            to="+1",
            template_name="t",
            language_code="en_US",
            parameter_format="NAMED",
            body_parameters=["x"],
        )


def test_media_header_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one of link or media_id"):
        MediaHeader(kind="image")
    with pytest.raises(ValueError, match="exactly one of link or media_id"):
        MediaHeader(kind="image", link="https://x/y.jpg", media_id="1")


def test_text_message_body():
    # when
    body = payloads.text_message_body(
        "+16505551234", "Thanks, we got your answer.", biz_opaque_callback_data="reply:7"
    )

    # then
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Thanks, we got your answer."},
        "biz_opaque_callback_data": "reply:7",
    }


def test_template_create_body_uppercases_enums():
    # given
    components = [{"type": "BODY", "text": "Hi {{1}}, welcome.", "example": {"body_text": [["A"]]}}]

    # when
    body = payloads.template_create_body(
        name="welcome_two",
        language="en_US",
        category="marketing",
        components=components,
        parameter_format="positional",
    )

    # then
    assert body == {
        "name": "welcome_two",
        "language": "en_US",
        "category": "MARKETING",
        "components": components,
        "parameter_format": "POSITIONAL",
    }


def test_failed_status_webhook_has_meta_envelope_and_error_shape():
    # when
    body = payloads.status_webhook(
        waba_id="102290129340398",
        phone_number_id="106540352242922",
        display_phone_number="15550783881",
        wamid="wamid.abc",
        status="failed",
        recipient_id="16505551234",
        timestamp=1751142888,
        biz_opaque_callback_data="msg:1",
        errors=[payloads.status_error(131049, "Not delivered", "Healthy ecosystem.")],
    )

    # then
    assert body == {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            "statuses": [
                                {
                                    "id": "wamid.abc",
                                    "status": "failed",
                                    "timestamp": "1751142888",
                                    "recipient_id": "16505551234",
                                    "biz_opaque_callback_data": "msg:1",
                                    "errors": [
                                        {
                                            "code": 131049,
                                            "title": "Not delivered",
                                            "message": "Not delivered",
                                            "error_data": {"details": "Healthy ecosystem."},
                                            "href": payloads.ERROR_CODES_HREF,
                                        }
                                    ],
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def test_sent_status_carries_pmp_pricing():
    # when
    event = payloads.status_event(
        wamid="wamid.abc",
        status="sent",
        recipient_id="16505551234",
        timestamp="1750030073",
        pricing=payloads.pricing_block("marketing"),
    )

    # then
    assert event["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "marketing",
    }
    assert event["timestamp"] == "1750030073"


def test_template_status_webhook():
    # when
    body = payloads.template_status_webhook(
        waba_id="102290129340398",
        template_id="1689556908129832",
        template_name="order_confirmation",
        language="en_US",
        event="APPROVED",
        category="UTILITY",
        time_seconds=1751247548,
    )

    # then
    assert body == {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "time": 1751247548,
                "changes": [
                    {
                        "value": {
                            "event": "APPROVED",
                            "message_template_id": 1689556908129832,
                            "message_template_name": "order_confirmation",
                            "message_template_language": "en_US",
                            "reason": "NONE",
                            "message_template_category": "UTILITY",
                        },
                        "field": "message_template_status_update",
                    }
                ],
            }
        ],
    }


def test_template_status_builder_reproduces_the_documented_example():
    # given
    documented = shared_fixture("pywa__template_status_update.json")["approved"]

    # when
    built = payloads.template_status_webhook(
        waba_id="102290129340398",
        template_id=1689556908129832,
        template_name="order_confirmation",
        language="en_US",
        event="APPROVED",
        category="UTILITY",
        time_seconds=1751247548,
    )

    # then
    assert built == documented


def test_failed_status_builder_reproduces_the_documented_example():
    # given
    documented = shared_fixture("meta-docs__status_failed_131049.json")
    error = documented["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]

    # when
    built = payloads.status_webhook(
        waba_id="102290129340398",
        phone_number_id="106540352242922",
        display_phone_number="15550783881",
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
        status="failed",
        recipient_id="16505551234",
        timestamp="1751142888",
        errors=[payloads.status_error(131049, error["title"], error["error_data"]["details"])],
    )

    # then
    assert built == documented
