"""Rendering: the preview shows exactly what the recipient sees, mismatched values are caught
before any send, and the send input carries the values where Meta expects them."""

from __future__ import annotations

import pytest

from templates_app.rendering import (
    RenderedButton,
    RenderedTemplate,
    TemplateValuesError,
    render,
    template_message_for,
    validate_values,
)
from tests.templates_app.factories import MessageTemplateFactory
from whatsapp.base import ButtonParameter, MediaHeader, ParameterFormat, TemplateMessage, TextHeader
from whatsapp.payloads import template_message_body

ORDER_VALUES = {
    "header.1": "B-7",
    "body.1": "Ana",
    "body.2": "B-7",
    "body.3": "Monday",
    "button.0": "B-7?ref=wa",
}
LOYALTY_VALUES = {"header.first_name": "Ana", "body.first_name": "Ana", "body.points": "350"}


def media_template():
    return MessageTemplateFactory.build(
        name="seasonal_sale",
        components=[
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW"]}},
            {"type": "BODY", "text": "Our seasonal sale is on: {{1}} off everything this week."},
        ],
    )


def test_render_fills_every_component_as_the_recipient_sees_it():
    template = MessageTemplateFactory.build()

    rendered = render(template, ORDER_VALUES)

    assert rendered == RenderedTemplate(
        header="Order B-7",
        body="Hi Ana, your order B-7 is on its way and arrives on Monday.",
        footer="Tidings demo store",
        buttons=(
            RenderedButton(
                index=0,
                type="URL",
                text="Track order",
                url="https://shop.example.com/track/B-7?ref=wa",
            ),
            RenderedButton(index=1, type="QUICK_REPLY", text="Stop updates"),
        ),
    )
    assert rendered.text == (
        "Order B-7\n\nHi Ana, your order B-7 is on its way and arrives on Monday.\n\n"
        "Tidings demo store"
    )


def test_render_of_a_named_template_uses_names():
    template = MessageTemplateFactory.build(named=True)

    rendered = render(template, LOYALTY_VALUES)

    assert rendered.header == "A reward for Ana"
    assert rendered.body == "Hi Ana, you have 350 points. Use them before Sunday."


def test_render_leaves_placeholders_without_a_value_visible():
    template = MessageTemplateFactory.build()

    rendered = render(template, {"body.1": "Ana", "body.2": ""})

    assert rendered.header == "Order {{1}}"
    assert rendered.body == "Hi Ana, your order {{2}} is on its way and arrives on {{3}}."
    assert rendered.buttons[0].url == "https://shop.example.com/track/{{1}}"


def test_render_of_a_media_header_names_the_media():
    rendered = render(media_template(), {"header.media": "https://cdn.example.com/sale.jpg"})

    assert rendered.header is None
    assert rendered.header_media_kind == "image"
    assert rendered.header_media == "https://cdn.example.com/sale.jpg"


def test_a_repeated_variable_shows_its_value_at_every_occurrence():
    positional = MessageTemplateFactory.build(
        components=[{"type": "BODY", "text": "Hi {{1}}, order {{2}} is ready. Bye {{1}}!"}]
    )
    named = MessageTemplateFactory.build(
        named=True,
        components=[{"type": "BODY", "text": "Hi {{name}}, see you soon, {{name}}."}],
    )

    assert render(positional, {"body.1": "Ana", "body.2": "B-7"}).body == (
        "Hi Ana, order B-7 is ready. Bye Ana!"
    )
    assert render(named, {"body.name": "Ana"}).body == "Hi Ana, see you soon, Ana."


def test_a_repeated_variable_is_sent_as_one_parameter():
    template = MessageTemplateFactory.build(
        components=[{"type": "BODY", "text": "Hi {{1}}, order {{2}} is ready. Bye {{1}}!"}]
    )
    values = {"body.1": "Ana", "body.2": "B-7"}

    assert validate_values(template, values) == []
    message = template_message_for(template, to="+447700900123", values=values)
    assert message.body_parameters == ("Ana", "B-7")


# --- Values checked before a send -------------------------------------------------------------


def test_complete_values_pass():
    assert validate_values(MessageTemplateFactory.build(), ORDER_VALUES) == []
    assert validate_values(MessageTemplateFactory.build(named=True), LOYALTY_VALUES) == []


def test_missing_and_unknown_values_are_reported_by_key():
    template = MessageTemplateFactory.build()
    values = {**ORDER_VALUES, "body.4": "extra"}
    del values["body.3"]
    del values["button.0"]

    assert validate_values(template, values) == [
        "body.3: a value is required ({{3}} in the body).",
        "button.0: a value is required (the end of button 1's URL).",
        "body.4: not a variable of this template (its variables: body.1, body.2, body.3, "
        "button.0, header.1).",
    ]


def test_positional_values_for_a_named_template_are_a_name_mismatch():
    template = MessageTemplateFactory.build(named=True)

    problems = validate_values(template, {"body.1": "Ana", "body.2": "350"})

    assert problems == [
        "header.first_name: a value is required ({{first_name}} in the header).",
        "body.first_name: a value is required ({{first_name}} in the body).",
        "body.points: a value is required ({{points}} in the body).",
        "body.1: not a variable of this template (its variables: body.first_name, "
        "body.points, header.first_name).",
        "body.2: not a variable of this template (its variables: body.first_name, "
        "body.points, header.first_name).",
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("   ", "body.1: a value is required ({{1}} in the body)."),
        (
            "Ana\nSmith",
            "body.1: the value must not contain new lines, tabs or more than 4 consecutive spaces.",
        ),
        (
            "Ana\tSmith",
            "body.1: the value must not contain new lines, tabs or more than 4 consecutive spaces.",
        ),
        (
            "Ana     Smith",
            "body.1: the value must not contain new lines, tabs or more than 4 consecutive spaces.",
        ),
        (None, "body.1: a value is required ({{1}} in the body)."),
        (["Ana"], "body.1: the value must be text."),
    ],
)
def test_values_meta_would_refuse(value, problem):
    assert validate_values(MessageTemplateFactory.build(), {**ORDER_VALUES, "body.1": value}) == [
        problem
    ]


def test_a_body_too_long_once_filled_in_is_refused():
    problems = validate_values(
        MessageTemplateFactory.build(), {**ORDER_VALUES, "body.1": "a" * 1000}
    )

    assert problems == [
        "body: with these values the body is 1056 characters long; the limit is 1024."
    ]


def test_a_media_header_needs_a_link_or_a_media_id():
    assert validate_values(media_template(), {"header.media": "sale.jpg", "body.1": "25%"}) == [
        "header.media: the image header needs a public https:// link or an uploaded media id."
    ]
    assert validate_values(media_template(), {"header.media": "1234567", "body.1": "25%"}) == []


# --- Send input -------------------------------------------------------------------------------


def test_send_input_of_a_positional_template_matches_metas_format():
    template = MessageTemplateFactory.build()

    message = template_message_for(
        template,
        to="+447700900123",
        values=ORDER_VALUES,
        biz_opaque_callback_data="msg-42",
        quick_reply_payloads={1: "camp:1:stop"},
    )

    assert message == TemplateMessage(
        to="+447700900123",
        template_name="order_update",
        language_code="en_US",
        parameter_format=ParameterFormat.POSITIONAL,
        header=TextHeader(text="B-7"),
        body_parameters=("Ana", "B-7", "Monday"),
        buttons=(
            ButtonParameter(index=0, sub_type="url", value="B-7?ref=wa"),
            ButtonParameter(index=1, sub_type="quick_reply", value="camp:1:stop"),
        ),
        biz_opaque_callback_data="msg-42",
    )
    components = template_message_body(message)["template"]["components"]
    assert components[1] == {
        "type": "body",
        "parameters": [
            {"type": "text", "text": "Ana"},
            {"type": "text", "text": "B-7"},
            {"type": "text", "text": "Monday"},
        ],
    }


def test_send_input_of_a_named_template_carries_parameter_names():
    template = MessageTemplateFactory.build(named=True)

    message = template_message_for(template, to="+447700900123", values=LOYALTY_VALUES)

    assert message.parameter_format is ParameterFormat.NAMED
    assert message.header == TextHeader(text="Ana", parameter_name="first_name")
    assert message.body_parameters == {"first_name": "Ana", "points": "350"}
    assert message.buttons == ()


def test_send_input_of_a_media_header_uses_a_link_or_a_media_id():
    by_link = template_message_for(
        media_template(),
        to="+447700900123",
        values={"header.media": "https://cdn.example.com/sale.jpg", "body.1": "25%"},
    )
    by_id = template_message_for(
        media_template(), to="+447700900123", values={"header.media": "998877", "body.1": "25%"}
    )

    assert by_link.header == MediaHeader(kind="image", link="https://cdn.example.com/sale.jpg")
    assert by_id.header == MediaHeader(kind="image", media_id="998877")


def test_no_send_input_is_built_from_mismatched_values():
    template = MessageTemplateFactory.build()

    with pytest.raises(TemplateValuesError) as raised:
        template_message_for(template, to="+447700900123", values={"body.1": "Ana"})

    assert "body.2: a value is required ({{2}} in the body)." in raised.value.problems


def test_a_quick_reply_payload_for_a_button_that_is_not_a_quick_reply_is_refused():
    template = MessageTemplateFactory.build()

    with pytest.raises(TemplateValuesError) as raised:
        template_message_for(
            template, to="+447700900123", values=ORDER_VALUES, quick_reply_payloads={0: "x"}
        )

    assert raised.value.problems == ["button.0: not a quick-reply button of this template."]


def test_values_mapped_for_a_whole_family_may_hold_keys_this_variant_does_not_use():
    template = MessageTemplateFactory.build(named=True)
    family_values = {**LOYALTY_VALUES, "body.expiry_date": "Sunday"}

    assert validate_values(template, family_values, allow_extra=True) == []
    message = template_message_for(template, to="+447700900123", values=family_values)
    assert message.body_parameters == {"first_name": "Ana", "points": "350"}
