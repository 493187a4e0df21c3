"""What a recipient will see, and the send input for one recipient.

Values are given by variable key (`header.1`, `body.first_name`, `button.0`, `header.media`; see
`templates_app.placeholders`). The same values drive the preview (`render`), the pre-send check
(`validate_values`) and the message handed to the provider (`template_message_for`), so what a
marketer previews is exactly what is sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from whatsapp.base import (
    ButtonParameter,
    MediaHeader,
    ParameterFormat,
    TemplateMessage,
    TextHeader,
)

from . import placeholders
from .placeholders import Variable

# Meta refuses a send whose body, once the values are filled in, is longer than this (132005).
RENDERED_BODY_MAX_LENGTH = placeholders.BODY_MAX_LENGTH
# Button types whose send needs a parameter the send input cannot carry (coupon code, OTP code).
_UNSENDABLE_BUTTON_TYPES = {"COPY_CODE": "copy-code", "OTP": "one-time-password"}


class TemplateLike(Protocol):
    """What rendering needs from a template (a `MessageTemplate` has all of it)."""

    name: str
    language: str
    parameter_format: str
    components: Any


class TemplateValuesError(ValueError):
    """The values cannot make a valid message for this template; `problems` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RenderedButton:
    """A button as shown: its label, and for URL buttons the URL it opens."""

    index: int
    type: str
    text: str
    url: str | None = None
    phone_number: str | None = None


@dataclass(frozen=True)
class RenderedTemplate:
    """The message as the recipient sees it. Placeholders without a value are left as written.

    `header` is the header text (None for media or no header); a media header is described by
    `header_media_kind` and, when a value was given, `header_media` (its link or media id).
    """

    header: str | None
    body: str
    footer: str | None
    buttons: tuple[RenderedButton, ...] = ()
    header_media_kind: str | None = None
    header_media: str | None = None

    @property
    def text(self) -> str:
        """Header, body and footer as one text, separated by blank lines."""
        return "\n\n".join(part for part in (self.header, self.body, self.footer) if part)


def variables(template: TemplateLike) -> list[Variable]:
    """The variables of `template`, in send order (header, body, URL buttons).

    Remembered on the template object for as long as its components and format are unchanged:
    a campaign renders the same variant for thousands of recipients.
    """
    components, parameter_format = template.components, template.parameter_format
    cached = getattr(template, "_tidings_variables", None)
    if cached is not None and cached[0] is components and cached[1] == parameter_format:
        return list(cached[2])
    found = placeholders.extract_variables(components, parameter_format)
    # A read-only template-like object simply isn't remembered.
    with contextlib.suppress(AttributeError):
        template._tidings_variables = (components, parameter_format, tuple(found))  # type: ignore[attr-defined]
    return found


def render(template: TemplateLike, values: Mapping[str, Any]) -> RenderedTemplate:
    """The header, body, footer and buttons of `template` with `values` filled in."""
    components = template.components
    header = placeholders.component_of(components, "HEADER")
    header_kind = placeholders.header_format(components)
    header_text: str | None = None
    media_kind: str | None = None
    media_value: str | None = None
    if header is not None and header_kind == "TEXT" and isinstance(header.get("text"), str):
        header_text = placeholders.substitute(header["text"], values, "header")
    elif header_kind in placeholders.MEDIA_HEADER_FORMATS:
        media_kind = header_kind.lower()
        given = values.get("header.media")
        media_value = str(given) if given not in (None, "") else None

    body = placeholders.component_of(components, "BODY")
    body_text = body.get("text") if body else None
    footer = placeholders.component_of(components, "FOOTER")
    footer_text = footer.get("text") if footer else None

    buttons = []
    for index, button in enumerate(placeholders.buttons_of(components)):
        kind = str(button.get("type", "")).upper()
        url = button.get("url") if isinstance(button.get("url"), str) else None
        if url is not None and kind == "URL":
            url = placeholders.fill_url(url, values.get(f"button.{index}"))
        buttons.append(
            RenderedButton(
                index=index,
                type=kind,
                text=str(button.get("text") or ""),
                url=url,
                phone_number=button.get("phone_number"),
            )
        )
    return RenderedTemplate(
        header=header_text,
        body=placeholders.substitute(body_text, values, "body")
        if isinstance(body_text, str)
        else "",
        footer=footer_text if isinstance(footer_text, str) else None,
        buttons=tuple(buttons),
        header_media_kind=media_kind,
        header_media=media_value,
    )


def validate_values(
    template: TemplateLike, values: Mapping[str, Any], *, allow_extra: bool = False
) -> list[str]:
    """Why `values` would not make a message Meta accepts for `template`; empty when they would.

    Catches before any send what Meta answers with 132000 (parameter count or names do not match),
    132012 (wrong parameter kind), 131008 (empty value), 100 (new lines or tabs in a value) and
    132005 (text too long once filled in).

    Keys that are not variables of the template are errors too (a preview should show a mapping
    made for another template), unless `allow_extra`: values mapped for a whole family may hold
    keys that only some language variants use, and keys that are not sent cannot upset Meta.
    """
    problems: list[str] = []
    expected = variables(template)
    expected_keys = {variable.key for variable in expected}

    if placeholders.header_format(template.components) == "LOCATION":
        problems.append("header: location headers cannot be sent by Tidings.")
    for position, button in enumerate(placeholders.buttons_of(template.components), start=1):
        kind = str(button.get("type", "")).upper()
        if kind in _UNSENDABLE_BUTTON_TYPES:
            problems.append(
                f"buttons: button {position} is a {_UNSENDABLE_BUTTON_TYPES[kind]} button, "
                "which Tidings cannot send."
            )

    for variable in expected:
        value = values.get(variable.key)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(f"{variable.key}: a value is required ({_describe(variable)}).")
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.append(f"{variable.key}: the value must be text.")
            continue
        text = str(value)
        if variable.is_media:
            if not _is_media_reference(text):
                problems.append(
                    f"{variable.key}: the {variable.media_kind} header needs a public https:// "
                    "link or an uploaded media id."
                )
        elif variable.component == "button":
            url = placeholders.fill_url(
                _button_at(template, variable.button_index).get("url"), text
            )
            if len(url) > placeholders.BUTTON_URL_MAX_LENGTH:
                problems.append(
                    f"{variable.key}: the button's URL would be {len(url)} characters long; "
                    f"the limit is {placeholders.BUTTON_URL_MAX_LENGTH}."
                )
        else:
            reason = placeholders.value_problem(text)
            if reason:
                problems.append(f"{variable.key}: the value {reason}.")

    for key in [] if allow_extra else sorted(set(values) - expected_keys):
        listed = ", ".join(sorted(expected_keys)) or "none"
        problems.append(f"{key}: not a variable of this template (its variables: {listed}).")

    if not problems:
        rendered = render(template, values)
        if len(rendered.body) > RENDERED_BODY_MAX_LENGTH:
            problems.append(
                f"body: with these values the body is {len(rendered.body)} characters long; "
                f"the limit is {RENDERED_BODY_MAX_LENGTH}."
            )
        if rendered.header and len(rendered.header) > placeholders.HEADER_TEXT_MAX_LENGTH:
            problems.append(
                f"header: with these values the header is {len(rendered.header)} characters "
                f"long; the limit is {placeholders.HEADER_TEXT_MAX_LENGTH}."
            )
    return problems


def template_message_for(
    template: TemplateLike,
    *,
    to: str,
    values: Mapping[str, Any],
    biz_opaque_callback_data: str | None = None,
    quick_reply_payloads: Mapping[int, str] | None = None,
) -> TemplateMessage:
    """The provider's send input for one recipient.

    `to` is the recipient's E.164 number; `quick_reply_payloads` optionally sets, by button index,
    the payload Meta returns when that quick reply is tapped (to correlate the tap with a send).
    A media header's value is a link when it is an http(s) URL, an uploaded media id otherwise.

    Raises `TemplateValuesError` when `validate_values` finds a problem, so nothing Meta would
    refuse for a mismatch is ever handed to the provider. Values for keys the template does not
    have are left out (see `validate_values(allow_extra=True)`).
    """
    problems = validate_values(template, values, allow_extra=True)
    if problems:
        raise TemplateValuesError(problems)
    parameter_format = ParameterFormat(str(template.parameter_format).upper())
    named = parameter_format is ParameterFormat.NAMED

    header: TextHeader | MediaHeader | None = None
    body_named: dict[str, str] = {}
    body_positional: list[str] = []
    buttons: list[ButtonParameter] = []
    for variable in variables(template):
        value = str(values[variable.key])
        if variable.is_media:
            kind = variable.media_kind
            if _is_link(value):
                header = MediaHeader(kind=kind, link=value)  # type: ignore[arg-type]
            else:
                header = MediaHeader(kind=kind, media_id=value)  # type: ignore[arg-type]
        elif variable.component == "header":
            header = TextHeader(text=value, parameter_name=variable.name if named else None)
        elif variable.component == "body":
            if named:
                body_named[variable.name] = value
            else:
                body_positional.append(value)
        else:
            assert variable.button_index is not None
            buttons.append(
                ButtonParameter(index=variable.button_index, sub_type="url", value=value)
            )

    for index, payload in sorted((quick_reply_payloads or {}).items()):
        button = _button_at(template, index)
        if str(button.get("type", "")).upper() != "QUICK_REPLY":
            raise TemplateValuesError(
                [f"button.{index}: not a quick-reply button of this template."]
            )
        buttons.append(ButtonParameter(index=index, sub_type="quick_reply", value=payload))
    buttons.sort(key=lambda button: button.index)

    return TemplateMessage(
        to=to,
        template_name=template.name,
        language_code=template.language,
        parameter_format=parameter_format,
        header=header,
        body_parameters=body_named if named else body_positional,
        buttons=buttons,
        biz_opaque_callback_data=biz_opaque_callback_data,
    )


def _describe(variable: Variable) -> str:
    if variable.is_media:
        return f"the {variable.media_kind} header's link"
    if variable.component == "button":
        return f"the end of button {variable.button_index + 1}'s URL"  # type: ignore[operator]
    return f"{{{{{variable.name}}}}} in the {variable.component}"


def _is_link(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def _is_media_reference(value: str) -> bool:
    if _is_link(value):
        return len(value) > len("https://") and " " not in value
    return value.isdigit()


def _button_at(template: TemplateLike, index: int | None) -> dict[str, Any]:
    buttons = placeholders.buttons_of(template.components)
    return buttons[index] if index is not None and 0 <= index < len(buttons) else {}
