"""Placeholders: every variable gets a stable key, and Meta's authoring rules are checked per
component with a message a template author can act on."""

from __future__ import annotations

import pytest

from templates_app.placeholders import (
    ComponentCheck,
    Problem,
    Variable,
    check_components,
    example_values,
    extract_variables,
    validate_components,
)
from tests.templates_app.factories import loyalty_offer_components, order_update_components

LONG_ENOUGH = "Thanks for shopping with us today, see you again soon."


def body(text: str, **extra) -> dict:
    return {"type": "BODY", "text": text, **extra}


def positional_problems(*components: dict, require_examples: bool = False) -> list[Problem]:
    return validate_components(list(components), "POSITIONAL", require_examples=require_examples)


def named_problems(*components: dict, require_examples: bool = False) -> list[Problem]:
    return validate_components(list(components), "NAMED", require_examples=require_examples)


# --- Extraction -------------------------------------------------------------------------------


def test_positional_variables_are_keyed_by_component_and_number_with_their_examples():
    variables = extract_variables(order_update_components(), "POSITIONAL")

    assert variables == [
        Variable(key="header.1", component="header", name="1", example="A-1042"),
        Variable(key="body.1", component="body", name="1", example="Maria"),
        Variable(key="body.2", component="body", name="2", example="A-1042"),
        Variable(key="body.3", component="body", name="3", example="Friday"),
        Variable(key="button.0", component="button", name="1", button_index=0, example="A-1042"),
    ]


def test_named_variables_are_keyed_by_name_in_order_of_appearance():
    variables = extract_variables(loyalty_offer_components(), "NAMED")

    assert [(v.key, v.example) for v in variables] == [
        ("header.first_name", "Maria"),
        ("body.first_name", "Maria"),
        ("body.points", "1200"),
    ]


def test_positional_body_variables_are_in_number_order_wherever_they_appear():
    variables = extract_variables(
        [body("Pay {{2}} before {{1}}, thank you for your order.")], "POSITIONAL"
    )

    assert [variable.key for variable in variables] == ["body.1", "body.2"]


def test_a_media_header_is_one_variable_for_its_link():
    components = [
        {"type": "header", "format": "image", "example": {"header_handle": ["4::aW"]}},
        body("Our sale is on: {{1}} off everything this week."),
    ]

    variables = extract_variables(components, "POSITIONAL")

    assert variables[0] == Variable(
        key="header.media", component="header", name="media", media_kind="image"
    )
    assert [variable.key for variable in variables] == ["header.media", "body.1"]


def test_a_url_button_without_a_variable_and_quick_replies_need_no_value():
    components = [
        body("Hello there, welcome to the shop."),
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "URL", "text": "Shop", "url": "https://shop.example.com/"},
                {"type": "QUICK_REPLY", "text": "Stop promotions"},
            ],
        },
    ]

    assert extract_variables(components, "POSITIONAL") == []


def test_example_values_are_given_by_key():
    assert example_values(order_update_components(), "POSITIONAL") == {
        "header.1": "A-1042",
        "body.1": "Maria",
        "body.2": "A-1042",
        "body.3": "Friday",
        "button.0": "A-1042",
    }


def test_malformed_components_yield_no_variables_instead_of_failing():
    assert extract_variables("not a list", "POSITIONAL") == []
    assert extract_variables([None, {"type": "BODY", "text": 42}], "POSITIONAL") == []


# --- Valid templates --------------------------------------------------------------------------


def test_a_complete_positional_template_is_valid_for_submission():
    assert positional_problems(*order_update_components(), require_examples=True) == []


def test_a_complete_named_template_is_valid_for_submission():
    assert named_problems(*loyalty_offer_components(), require_examples=True) == []


def test_lowercase_component_types_are_accepted_as_meta_does():
    assert (
        positional_problems({"type": "body", "text": "Hello {{1}}, welcome aboard our service."})
        == []
    )


def test_a_variable_may_end_a_sentence_that_is_not_the_end_of_the_body():
    assert positional_problems(body("Hi {{1}}. Your order is ready for pick-up today.")) == []


# --- Invalid variables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"Hi {{{{1}}}}, order {{{{3}}}} is ready. {LONG_ENOUGH}",
            "Variables must be numbered from {{1}} without gaps (found {{1}}, {{3}}).",
        ),
        (
            f"Hi {{{{2}}}}, your order is ready. {LONG_ENOUGH}",
            "Variables must be numbered from {{1}} without gaps (found {{2}}).",
        ),
        (
            f"Hi {{{{first_name}}}}, your order is ready. {LONG_ENOUGH}",
            "{{first_name}} is a named variable, but this template uses positional variables "
            "({{1}}, {{2}}...).",
        ),
        (
            f"Hi {{{{0}}}}, your order is ready. {LONG_ENOUGH}",
            "{{0}} is not a valid variable: positional variables are whole numbers from 1, "
            "written without spaces, like {{1}}.",
        ),
        (
            f"Hi {{{{1}}, your order is ready. {LONG_ENOUGH}",
            "Unbalanced braces: write each variable as {{name}}.",
        ),
    ],
    ids=["gap", "not-from-one", "named-in-positional", "zero", "unbalanced"],
)
def test_invalid_positional_body_variables_are_explained(text, message):
    assert positional_problems(body(text)) == [Problem("body", message)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"Hi {{{{1}}}}, your order is ready. {LONG_ENOUGH}",
            "{{1}} is a positional variable, but this template uses named variables such as "
            "{{first_name}}.",
        ),
        *(
            (
                f"Hi {{{{{name}}}}}, your order is ready. {LONG_ENOUGH}",
                f"{{{{{name}}}}} is not a valid variable name: start with a lowercase letter and "
                "use only lowercase letters and underscores, without spaces, like "
                "{{first_name}}.",
            )
            for name in ("First_Name", "first-name", "$amount", "_", "_name", "first_name2")
        ),
    ],
    ids=[
        "positional-in-named",
        "uppercase",
        "hyphen",
        "special-character",
        "underscore-only",
        "leading-underscore",
        "digit",
    ],
)
def test_invalid_named_body_variables_are_explained(text, message):
    assert named_problems(body(text)) == [Problem("body", message)]


# --- Body rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{{1}}, your order is ready for pick-up at the store today.",
            "The body cannot start with a variable; add text before it.",
        ),
        (
            "Your order is ready for pick-up at the store, {{1}}",
            "The body cannot end with a variable; add text after it.",
        ),
        (
            "Hi {{1}}{{2}}, your order is ready for pick-up at the store today.",
            "The variable {{1}} is right next to the following one; put text between variables.",
        ),
        (
            "Hi {{1}} {{2}}, your order is ready for pick-up at the store today.",
            "The variable {{1}} is right next to the following one; put text between variables.",
        ),
    ],
    ids=["starts-with-variable", "ends-with-variable", "adjacent", "adjacent-spaced"],
)
def test_body_layout_rules(text, message):
    assert positional_problems(body(text)) == [Problem("body", message)]


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (
            "Hi {{1}}, welcome!",
            "1 variable in 2 words of text: Meta may refuse the template on submission for "
            "having too many variables for its length (error 2388293). If it does, add text or "
            "remove a variable.",
        ),
        (
            "Order {{1}} shipped to {{2}} today.",
            "2 variables in 4 words of text: Meta may refuse the template on submission for "
            "having too many variables for its length (error 2388293). If it does, add text or "
            "remove a variable.",
        ),
        (
            "Dear {{1}}, your {{2}} appointment is on {{3}} at {{4}}. See you!",
            "4 variables in 8 words of text: Meta may refuse the template on submission for "
            "having too many variables for its length (error 2388293). If it does, add text or "
            "remove a variable.",
        ),
    ],
    ids=["greeting", "shipping", "appointment"],
)
def test_a_short_body_with_variables_is_valid_with_a_warning(text, warning):
    examples = {"body_text": [[f"v{number}" for number in range(1, text.count("{{") + 1)]]}

    check = check_components([body(text, example=examples)], "POSITIONAL", require_examples=True)

    assert check == ComponentCheck(errors=[], warnings=[Problem("body", warning)])
    assert positional_problems(body(text, example=examples), require_examples=True) == []


def test_a_body_with_enough_text_around_its_variables_has_no_warning():
    check = check_components([body("Order {{1}} shipped to {{2}} today, thanks.")], "POSITIONAL")

    assert check == ComponentCheck(errors=[], warnings=[])


def test_a_body_without_variables_has_no_warning_however_short():
    assert check_components([body("Hi!")], "POSITIONAL") == ComponentCheck()


# --- Repeated variables -----------------------------------------------------------------------


def test_a_positional_variable_may_be_repeated_and_is_one_value():
    component = body(
        "Hi {{1}}, your order {{2}} is ready. Thanks again, {{1}}, see you soon.",
        example={"body_text": [["Maria", "A-1042"]]},
    )

    assert positional_problems(component, require_examples=True) == []
    assert [(v.key, v.example) for v in extract_variables([component], "POSITIONAL")] == [
        ("body.1", "Maria"),
        ("body.2", "A-1042"),
    ]


def test_a_repeated_positional_variable_still_counts_for_the_numbering():
    component = body("Hi {{1}}, order {{3}} is ready. Thanks again, {{1}}, see you soon.")

    assert positional_problems(component) == [
        Problem("body", "Variables must be numbered from {{1}} without gaps (found {{1}}, {{3}}).")
    ]


def test_a_named_variable_may_be_repeated_with_one_example():
    component = body(
        "Hi {{first_name}}, your points are waiting. See you soon, {{first_name}}!",
        example={"body_text_named_params": [{"param_name": "first_name", "example": "Maria"}]},
    )

    assert named_problems(component, require_examples=True) == []
    assert [v.key for v in extract_variables([component], "NAMED")] == ["body.first_name"]


def test_a_named_variable_declared_twice_in_the_examples_is_refused():
    component = body(
        "Hi {{first_name}}, your points are waiting. See you soon, {{first_name}}!",
        example={
            "body_text_named_params": [
                {"param_name": "first_name", "example": "Maria"},
                {"param_name": "first_name", "example": "Ana"},
            ]
        },
    )

    assert named_problems(component) == [
        Problem(
            "body",
            "{{first_name}} is declared more than once in example.body_text_named_params; give "
            "each variable one example.",
        )
    ]


def test_the_body_is_required():
    assert positional_problems({"type": "FOOTER", "text": "Footer"}) == [
        Problem("body", "A template needs a body.")
    ]
    assert positional_problems(body("   ")) == [Problem("body", "The body needs text.")]


def test_the_body_is_limited_to_1024_characters():
    assert positional_problems(body("x" * 1025)) == [
        Problem("body", "The body is 1025 characters long; the limit is 1024.")
    ]
    assert positional_problems(body("x" * 1024)) == []


# --- Header and footer ------------------------------------------------------------------------


def test_the_header_is_limited_to_60_characters_and_one_variable():
    header = {"type": "HEADER", "format": "TEXT", "text": "Order {{1}} for {{2}} " + "x" * 50}

    assert positional_problems(header, body(LONG_ENOUGH)) == [
        Problem("header", "The header is 72 characters long; the limit is 60."),
        Problem("header", "A header can have at most 1 variable."),
    ]


def test_the_footer_is_limited_to_60_characters_without_variables():
    assert positional_problems(body(LONG_ENOUGH), {"type": "FOOTER", "text": "y" * 61}) == [
        Problem("footer", "The footer is 61 characters long; the limit is 60.")
    ]
    assert positional_problems(body(LONG_ENOUGH), {"type": "FOOTER", "text": "Bye {{1}}"}) == [
        Problem("footer", "A footer cannot contain variables.")
    ]


def test_unknown_and_repeated_components_are_refused():
    problems = positional_problems(body(LONG_ENOUGH), body(LONG_ENOUGH), {"type": "CAROUSEL"})

    assert problems == [
        Problem("components", "A template has at most one BODY component."),
        Problem(
            "components",
            "Unknown component type 'CAROUSEL': use HEADER, BODY, FOOTER or BUTTONS.",
        ),
    ]


def test_an_unsupported_header_format_is_refused():
    header = {"type": "HEADER", "format": "GIF"}

    assert positional_problems(header, body(LONG_ENOUGH)) == [
        Problem(
            "header",
            "Unsupported header format 'GIF': use TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION.",
        )
    ]


# --- Buttons ----------------------------------------------------------------------------------


def buttons(*items: dict) -> dict:
    return {"type": "BUTTONS", "buttons": list(items)}


def quick_reply(text: str = "Yes") -> dict:
    return {"type": "QUICK_REPLY", "text": text}


def url_button(url: str = "https://shop.example.com/{{1}}", text: str = "Open") -> dict:
    return {"type": "URL", "text": text, "url": url}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            [quick_reply()] * 10 + [url_button()],
            "A template has at most 10 buttons (11 given).",
        ),
        (
            [url_button(), url_button(), url_button()],
            "At most 2 URL button(s) are allowed (3 given).",
        ),
        (
            [quick_reply(), url_button(), quick_reply()],
            "Quick-reply buttons must be grouped together, not separated by other buttons.",
        ),
        (
            [quick_reply("x" * 26)],
            "Button 1's label is 26 characters long; the limit is 25.",
        ),
        (
            [url_button("https://shop.example.com/{{1}}/details")],
            "Button 1's URL can have one variable, written {{1}}, at the very end.",
        ),
        (
            [url_button("https://shop.example.com/{{2}}")],
            "Button 1's URL can have one variable, written {{1}}, at the very end.",
        ),
        (
            [url_button("shop.example.com")],
            "Button 1's URL must start with https:// or http://.",
        ),
        (
            [{"type": "PHONE_NUMBER", "text": "Call us"}],
            "Button 1 needs a phone_number.",
        ),
        (
            [{"type": "FLOW", "text": "Start"}],
            "Button 1 has an unsupported type 'FLOW': use QUICK_REPLY, URL, PHONE_NUMBER or "
            "COPY_CODE.",
        ),
        ([], "A BUTTONS component needs at least one button."),
    ],
    ids=[
        "too-many",
        "too-many-urls",
        "quick-replies-split",
        "long-label",
        "url-variable-not-at-end",
        "url-variable-not-1",
        "url-without-scheme",
        "phone-missing",
        "unsupported-type",
        "empty",
    ],
)
def test_button_rules(items, message):
    assert positional_problems(body(LONG_ENOUGH), buttons(*items)) == [Problem("buttons", message)]


def test_quick_replies_grouped_before_a_url_are_valid():
    assert (
        positional_problems(
            body(LONG_ENOUGH), buttons(quick_reply("Yes"), quick_reply("No"), url_button())
        )
        == []
    )


# --- Examples on submission -------------------------------------------------------------------


def test_drafts_may_leave_examples_out_but_submissions_may_not():
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        body("Hi {{1}}, your order {{2}} is on its way to you."),
        buttons(url_button()),
    ]

    assert positional_problems(*components) == []
    assert positional_problems(*components, require_examples=True) == [
        Problem(
            "header",
            "Every variable needs an example value: 1 expected in example.header_text, 0 given.",
        ),
        Problem(
            "body",
            "Every variable needs an example value: 2 expected in example.body_text, 0 given.",
        ),
        Problem(
            "buttons",
            "Button 1's URL variable needs an example: the full URL as a recipient would open it.",
        ),
    ]


def test_positional_examples_must_match_the_number_of_variables():
    component = body(
        "Hi {{1}}, your order {{2}} is on its way to you.", example={"body_text": [["Maria"]]}
    )

    assert positional_problems(component, require_examples=True) == [
        Problem(
            "body",
            "Every variable needs an example value: 2 expected in example.body_text, 1 given.",
        )
    ]


def test_named_examples_must_cover_exactly_the_variables():
    component = body(
        "Hi {{first_name}}, you have {{points}} points waiting for you.",
        example={
            "body_text_named_params": [
                {"param_name": "first_name", "example": "Maria"},
                {"param_name": "order", "example": "A-1"},
            ]
        },
    )

    assert named_problems(component, require_examples=True) == [
        Problem("body", "{{points}} needs an example value."),
        Problem("body", "An example is given for {{order}}, which is not in the text."),
    ]


def test_a_media_header_needs_an_uploaded_example_on_submission():
    header = {"type": "HEADER", "format": "VIDEO"}

    assert positional_problems(header, body(LONG_ENOUGH)) == []
    assert positional_problems(header, body(LONG_ENOUGH), require_examples=True) == [
        Problem(
            "header",
            "A video header needs an example media handle (example.header_handle, from Meta's "
            "resumable upload).",
        )
    ]


def test_an_unknown_parameter_format_is_refused():
    assert validate_components([body(LONG_ENOUGH)], "MIXED") == [
        Problem("components", "The parameter format must be POSITIONAL or NAMED.")
    ]
