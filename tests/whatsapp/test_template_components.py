from __future__ import annotations

from whatsapp.template_components import ButtonSlot, placeholders, template_variables


def test_placeholders_are_distinct_and_ordered():
    assert placeholders("Hi {{1}}, {{ 2 }} and {{1}} again") == ("1", "2")
    assert placeholders("Hi {{first_name}}") == ("first_name",)
    assert placeholders(None) == ()


def test_variables_of_a_full_template():
    # given
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{order_number}}"},
        {"type": "BODY", "text": "Thanks {{first_name}}, order {{order_number}}."},
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Stop promotions"},
                {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}"},
                {"type": "URL", "text": "Shop", "url": "https://x.example/shop"},
            ],
        },
    ]

    # when
    variables = template_variables(components)

    # then
    assert variables.header_format == "TEXT"
    assert variables.header == ("order_number",)
    assert variables.body == ("first_name", "order_number")
    assert variables.media_header is False
    assert variables.url_buttons_with_variable == (
        ButtonSlot(index=1, type="URL", text="Track", variables=("1",)),
    )


def test_media_header_and_lowercase_types():
    variables = template_variables(
        [{"type": "header", "format": "image"}, {"type": "body", "text": "Sale: {{1}} off"}]
    )

    assert (variables.header_format, variables.media_header, variables.header) == (
        "IMAGE",
        True,
        (),
    )
    assert variables.body == ("1",)
