"""The checks Meta applies to a send, applied by the sandbox to the JSON body it would POST.

Checking the built JSON (not the Python input) keeps the sandbox honest: it sees exactly what Meta
would see. Each failure is Meta's code, message and a details text, classified by errors.py.
Meta's order is followed: request shape (100), recipient (131009), template existence and status
(132001 / 132015 / 132016), parameter format (132012), counts (132000), empty values (131008).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers

from whatsapp import errors
from whatsapp.base import ProviderError
from whatsapp.sandbox.catalogue import SandboxTemplate
from whatsapp.template_components import TemplateVariables, placeholders, template_variables

TemplateLookup = Callable[[str, str], SandboxTemplate | None]

TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
MEDIA_TYPES = frozenset({"image", "video", "document"})
# Meta answers request-validation failures with HTTP 400.
HTTP_BAD_REQUEST = 400


def meta_error(code: int, message: str, details: str, **extra: Any) -> ProviderError:
    """A ProviderError shaped like Meta's answer for `code`, classified by errors.py."""
    return errors.build_error(
        message=f"(#{code}) {message}",
        code=code,
        http_status=HTTP_BAD_REQUEST,
        details=details,
        **extra,
    )


def recipient_digits(to: str) -> str:
    return "".join(character for character in to if character.isdigit())


def check_envelope(payload: Mapping[str, Any]) -> ProviderError | None:
    """`messaging_product` and a valid E.164 `to` (with its '+')."""
    if payload.get("messaging_product") != "whatsapp":
        return meta_error(100, "Invalid parameter", "The parameter messaging_product is required.")
    to = payload.get("to")
    if not isinstance(to, str) or not to.strip():
        return meta_error(100, "Invalid parameter", "The parameter to is required.")
    if not _valid_e164(to):
        return meta_error(
            131009,
            "Parameter value is not valid",
            f"'{to}' is not a valid phone number in E.164 format (+ and country code).",
        )
    return None


def _valid_e164(to: str) -> bool:
    if not to.strip().startswith("+"):
        return False
    try:
        number = phonenumbers.parse(to, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def check_text_send(payload: Mapping[str, Any]) -> ProviderError | None:
    """A free-form text needs a non-empty body. The 24 h window is checked by the provider."""
    problem = check_envelope(payload)
    if problem is not None:
        return problem
    text = payload.get("text")
    body = text.get("body") if isinstance(text, Mapping) else None
    if not isinstance(body, str):
        return meta_error(100, "Invalid parameter", "text.body must be a string.")
    if not body.strip():
        return meta_error(131008, "Required parameter is missing", "text.body is empty.")
    if len(body) > 4096:
        return meta_error(100, "Invalid parameter", "text.body is longer than 4096 characters.")
    return None


def outside_service_window_error() -> ProviderError:
    """Meta's answer to free-form text for a user who has not written in the last 24 hours."""
    return meta_error(
        131047,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    )


def check_template_send(
    payload: Mapping[str, Any], find_template: TemplateLookup
) -> ProviderError | None:
    """Every rule Meta applies to a template send that the sandbox can know about."""
    problem = check_envelope(payload)
    if problem is not None:
        return problem
    template = payload.get("template")
    if not isinstance(template, Mapping) or not isinstance(template.get("name"), str):
        return meta_error(100, "Invalid parameter", "The parameter template.name is required.")
    language = template.get("language")
    code = language.get("code") if isinstance(language, Mapping) else None
    if not isinstance(code, str):
        return meta_error(100, "Invalid parameter", "The parameter template.language is required.")
    components = template.get("components") or []
    if not isinstance(components, list):
        return meta_error(100, "Invalid parameter", "template.components must be a list.")
    problem = _check_parameter_types(components)
    if problem is not None:
        return problem

    name = template["name"]
    stored = find_template(name, code)
    if stored is None or stored.status not in ("APPROVED", "PAUSED", "DISABLED"):
        return meta_error(
            132001,
            "Template name does not exist in the translation",
            f"template name ({name}) does not exist in {code}",
        )
    if stored.status == "PAUSED":
        return meta_error(132015, "Template is Paused", f"template {name} is paused.")
    if stored.status == "DISABLED":
        return meta_error(132016, "Template is Disabled", f"template {name} is disabled.")
    variables = template_variables(stored.components)
    return _check_against_template(components, stored, variables)


def _text_parameters(components: list[Any]) -> list[Mapping[str, Any]]:
    found = []
    for component in components:
        if isinstance(component, Mapping):
            for parameter in component.get("parameters") or []:
                if isinstance(parameter, Mapping):
                    found.append(parameter)
    return found


def _check_parameter_types(components: list[Any]) -> ProviderError | None:
    # Meta rejects non-string values before looking at the template (100), then empty ones.
    parameters = _text_parameters(components)
    for parameter in parameters:
        if parameter.get("type") == "text" and not isinstance(parameter.get("text"), str):
            return meta_error(100, "Invalid parameter", "Parameter text must be a string.")
        if parameter.get("type") == "payload" and not isinstance(parameter.get("payload"), str):
            return meta_error(100, "Invalid parameter", "Button payload must be a string.")
    return None


def _check_against_template(
    components: list[Any], stored: SandboxTemplate, variables: TemplateVariables
) -> ProviderError | None:
    named = stored.parameter_format.upper() == "NAMED"
    header_parameters: list[Mapping[str, Any]] = []
    body_parameters: list[Mapping[str, Any]] = []
    buttons: list[Mapping[str, Any]] = []
    for component in components:
        kind = str(component.get("type", "")).lower()
        parameters = [p for p in component.get("parameters") or [] if isinstance(p, Mapping)]
        if kind == "header":
            header_parameters.extend(parameters)
        elif kind == "body":
            body_parameters.extend(parameters)
        elif kind == "button":
            buttons.append(component)

    text_values = [
        parameter
        for parameter in [*header_parameters, *body_parameters]
        if parameter.get("type") == "text"
    ]
    for parameter in text_values:
        if bool(parameter.get("parameter_name")) != named:
            return meta_error(
                132012,
                "Parameter format does not match format in the created template",
                f"template {stored.name} uses {stored.parameter_format} parameters.",
            )

    problem = _check_header(header_parameters, stored, variables)
    if problem is None:
        problem = _check_section("body", body_parameters, variables.body, named)
    if problem is None:
        problem = _check_buttons(buttons, variables)
    if problem is None:
        for parameter in text_values:
            if not parameter["text"].strip():
                return meta_error(
                    131008, "Required parameter is missing", "A text parameter is empty."
                )
    return problem


def _check_header(
    parameters: list[Mapping[str, Any]], stored: SandboxTemplate, variables: TemplateVariables
) -> ProviderError | None:
    if variables.media_header:
        expected = str(variables.header_format).lower()
        if not parameters:
            return meta_error(
                131008,
                "Required parameter is missing",
                f"template {stored.name} needs a {expected} header parameter.",
            )
        kinds = {str(parameter.get("type")) for parameter in parameters}
        if len(parameters) != 1 or kinds != {expected}:
            return meta_error(
                132012,
                "Parameter format does not match format in the created template",
                f"header: expected one {expected} parameter.",
            )
        media = parameters[0].get(expected)
        if not isinstance(media, Mapping) or not (media.get("link") or media.get("id")):
            return meta_error(
                131008, "Required parameter is missing", "header media needs a link or an id."
            )
        return None
    if any(parameter.get("type") in MEDIA_TYPES for parameter in parameters):
        return meta_error(
            132012,
            "Parameter format does not match format in the created template",
            "header: this template has no media header.",
        )
    named = stored.parameter_format.upper() == "NAMED"
    return _check_section("header", parameters, variables.header, named)


def _check_section(
    section: str, parameters: list[Mapping[str, Any]], expected: tuple[str, ...], named: bool
) -> ProviderError | None:
    if len(parameters) != len(expected):
        return meta_error(
            132000,
            "Number of parameters does not match the expected number of params",
            f"{section}: number of localizable_params ({len(parameters)}) does not match the "
            f"expected number of params ({len(expected)})",
        )
    if named:
        given = {str(parameter.get("parameter_name")) for parameter in parameters}
        if given != set(expected):
            missing = ", ".join(sorted(set(expected) - given)) or "none"
            unexpected = ", ".join(sorted(given - set(expected))) or "none"
            return meta_error(
                132000,
                "Number of parameters does not match the expected number of params",
                f"{section}: missing parameters ({missing}), unexpected parameters ({unexpected})",
            )
    return None


def _check_buttons(
    buttons: list[Mapping[str, Any]], variables: TemplateVariables
) -> ProviderError | None:
    slots = {slot.index: slot for slot in variables.buttons}
    given_indexes: set[int] = set()
    for button in buttons:
        index_text = str(button.get("index", ""))
        slot = slots.get(int(index_text)) if index_text.isdigit() else None
        sub_type = str(button.get("sub_type", "")).lower()
        if slot is None:
            return meta_error(
                132000,
                "Number of parameters does not match the expected number of params",
                f"button at index {index_text} does not exist in the template.",
            )
        expected_sub_type = {"URL": "url", "QUICK_REPLY": "quick_reply"}.get(slot.type)
        if sub_type != expected_sub_type:
            return meta_error(
                132012,
                "Parameter format does not match format in the created template",
                f"button {slot.index} is {slot.type}, not {sub_type}.",
            )
        if sub_type == "url" and not slot.variables:
            return meta_error(
                132000,
                "Number of parameters does not match the expected number of params",
                f"button {slot.index} has no variable.",
            )
        given_indexes.add(slot.index)
    for slot in variables.url_buttons_with_variable:
        if slot.index not in given_indexes:
            return meta_error(
                131008,
                "Required parameter is missing",
                f"button {slot.index} ({slot.text}) needs its URL parameter.",
            )
    return None


def check_template_create(
    *, name: str, language: str, category: str, components: list[dict[str, Any]]
) -> ProviderError | None:
    """The creation rules the sandbox enforces: name, category, a body, no dangling variables."""
    if not TEMPLATE_NAME.match(name or ""):
        return _create_error(
            "Invalid template name",
            "Template names may only contain lowercase letters, numbers and underscores.",
        )
    if not language:
        return _create_error("Invalid language", "A template needs a language code.")
    if category.upper() not in CATEGORIES:
        return _create_error(
            "Invalid category", "Category must be MARKETING, UTILITY or AUTHENTICATION."
        )
    body = next((c for c in components if str(c.get("type", "")).upper() == "BODY"), None)
    if body is None or not str(body.get("text") or "").strip():
        return _create_error("Body required", "A template needs a body with text.", subcode=2388072)
    text = str(body["text"]).strip()
    if placeholders(text) and (text.startswith("{{") or text.endswith("}}")):
        return _create_error(
            "Variables can't be at the start or end of the template",
            "Variable parameters can't be at the start or end of the template. Add text before "
            "the first variable and after the last one.",
            subcode=2388299,
        )
    return None


def duplicate_template_error(name: str, language: str) -> ProviderError:
    return _create_error(
        "Content in This Language Already Exists",
        f"There is already {language} content for the template {name}. Create a new template "
        "or edit the existing one.",
        subcode=2388024,
    )


def _create_error(
    user_title: str, user_message: str, *, subcode: int | None = None
) -> ProviderError:
    return errors.build_error(
        message="Invalid parameter",
        code=100,
        subcode=subcode,
        http_status=HTTP_BAD_REQUEST,
        user_title=user_title,
        user_message=user_message,
        transient_hint=False,
    )
