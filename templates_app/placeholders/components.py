"""Reading template components: variables and their keys, examples, and substitution."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

POSITIONAL = "POSITIONAL"
NAMED = "NAMED"

HEADER_TEXT_MAX_LENGTH = 60
BODY_MAX_LENGTH = 1024
FOOTER_MAX_LENGTH = 60
BUTTON_LABEL_MAX_LENGTH = 25
BUTTON_URL_MAX_LENGTH = 2000
BUTTON_PHONE_MAX_LENGTH = 20
COPY_CODE_EXAMPLE_MAX_LENGTH = 15
MAX_BUTTONS = 10
MAX_BUTTONS_BY_TYPE = {"QUICK_REPLY": 10, "URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1}
MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
HEADER_FORMATS = ("TEXT", *MEDIA_HEADER_FORMATS, "LOCATION")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP")
COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")

# Anything between double braces is a placeholder candidate; the name rules are checked separately
# so that `{{First-Name}}` gets a precise message instead of being silently treated as text.
PLACEHOLDER_PATTERN = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
POSITIONAL_NAME = re.compile(r"[1-9][0-9]*\Z")
# Meta: named parameters are lowercase letters and underscores (cloud-api.md 4.2); a name made of
# underscores alone (`{{_}}`) names nothing a person could map, so a name starts with a letter.
NAMED_NAME = re.compile(r"[a-z][a-z_]*\Z")
# Meta rejects text parameters with new lines, tabs or more than 4 consecutive spaces.
_FORBIDDEN_IN_VALUE = re.compile(r"[\n\r\t]| {5,}")


@dataclass(frozen=True)
class Variable:
    """One value a send of the template has to supply.

    * `component` is `header`, `body` or `button`; `name` is the placeholder's name (`"1"`,
      `"first_name"`, `"media"` for a media header);
    * `button_index` is set for URL buttons, `media_kind` (`image`, `video`, `document`) for media
      headers;
    * `example` is the template's example value, when the template has one.
    """

    key: str
    component: str
    name: str
    button_index: int | None = None
    media_kind: str | None = None
    example: str | None = None

    @property
    def is_media(self) -> bool:
        return self.media_kind is not None


@dataclass(frozen=True)
class Problem:
    """One broken rule, attached to the component it is about (`header`, `body`, `footer`,
    `buttons` or `components` for the template as a whole)."""

    component: str
    message: str

    def __str__(self) -> str:
        return f"{self.component}: {self.message}"


# --- Reading components -----------------------------------------------------------------------


def component_of(components: Any, kind: str) -> dict[str, Any] | None:
    """The first component of `kind` (HEADER, BODY, FOOTER, BUTTONS), or None."""
    if not isinstance(components, list):
        return None
    for component in components:
        if isinstance(component, dict) and upper_text(component.get("type")) == kind:
            return component
    return None


def buttons_of(components: Any) -> list[dict[str, Any]]:
    """The buttons of the BUTTONS component, in Meta's order (their index is their position)."""
    component = component_of(components, "BUTTONS")
    buttons = component.get("buttons") if component else None
    if not isinstance(buttons, list):
        return []
    return [button if isinstance(button, dict) else {} for button in buttons]


def header_format(components: Any) -> str | None:
    """TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION..., or None for a template without a header."""
    header = component_of(components, "HEADER")
    if header is None:
        return None
    return upper_text(header.get("format")) or "TEXT"


def placeholder_names(text: Any) -> list[str]:
    """The names between double braces in `text`, in order, repeats included."""
    if not isinstance(text, str):
        return []
    return [match.group(1) for match in PLACEHOLDER_PATTERN.finditer(text)]


def distinct(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _ordered(names: Iterable[str], parameter_format: str) -> list[str]:
    # Positional values are sent in {{1}}, {{2}} order wherever they appear in the text.
    unique = distinct(names)
    if upper_text(parameter_format) == NAMED:
        return unique
    return sorted(unique, key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0))


def extract_variables(components: Any, parameter_format: str) -> list[Variable]:
    """Every variable of the template, header first, then body, then URL buttons.

    Tolerant of malformed components (as Meta may list them): what cannot be read is skipped.
    """
    named = upper_text(parameter_format) == NAMED
    variables: list[Variable] = []

    header = component_of(components, "HEADER")
    if header is not None:
        kind = header_format(components)
        if kind in MEDIA_HEADER_FORMATS:
            variables.append(
                Variable(
                    key="header.media", component="header", name="media", media_kind=kind.lower()
                )
            )
        elif kind == "TEXT":
            examples = header_examples(header, named)
            for position, name in enumerate(
                _ordered(placeholder_names(header.get("text")), parameter_format)
            ):
                example = examples.get(name) if named else _at(examples.get(""), position)
                variables.append(
                    Variable(key=f"header.{name}", component="header", name=name, example=example)
                )

    body = component_of(components, "BODY")
    if body is not None:
        examples = body_examples(body, named)
        for name in _ordered(placeholder_names(body.get("text")), parameter_format):
            if named:
                example = examples.get(name)
            else:
                example = _at(examples.get(""), int(name) - 1) if name.isdigit() else None
            variables.append(
                Variable(key=f"body.{name}", component="body", name=name, example=example)
            )

    for index, button in enumerate(buttons_of(components)):
        if upper_text(button.get("type")) != "URL":
            continue
        names = distinct(placeholder_names(button.get("url")))
        if names:
            variables.append(
                Variable(
                    key=f"button.{index}",
                    component="button",
                    name=names[0],
                    button_index=index,
                    example=url_suffix_example(button),
                )
            )
    return variables


def example_values(components: Any, parameter_format: str) -> dict[str, str]:
    """The template's own example value for each variable that has one, by key."""
    return {
        variable.key: variable.example
        for variable in extract_variables(components, parameter_format)
        if variable.example is not None
    }


def header_examples(header: Mapping[str, Any], named: bool) -> dict[str, Any]:
    example = header.get("example")
    if not isinstance(example, dict):
        return {}
    if named:
        return _named_examples(example.get("header_text_named_params"))
    values = example.get("header_text")
    return {"": values if isinstance(values, list) else []}


def body_examples(body: Mapping[str, Any], named: bool) -> dict[str, Any]:
    example = body.get("example")
    if not isinstance(example, dict):
        return {}
    if named:
        return _named_examples(example.get("body_text_named_params"))
    # Meta nests positional body examples one level deeper: {"body_text": [["v1", "v2"]]}.
    rows = example.get("body_text")
    first = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], list) else []
    return {"": first}


def _named_examples(entries: Any) -> dict[str, Any]:
    if not isinstance(entries, list):
        return {}
    return {
        str(entry.get("param_name")): entry.get("example")
        for entry in entries
        if isinstance(entry, dict) and entry.get("param_name") is not None
    }


def _at(values: Any, position: int) -> str | None:
    if isinstance(values, list) and 0 <= position < len(values) and values[position] is not None:
        return str(values[position])
    return None


def url_suffix_example(button: Mapping[str, Any]) -> str | None:
    # A URL button's example is the whole URL; the variable's example is what follows the prefix.
    example = button.get("example")
    full = example[0] if isinstance(example, list) and example else example
    url = button.get("url")
    if not isinstance(full, str) or not isinstance(url, str) or "{{" not in url:
        return None
    prefix = url.split("{{", 1)[0]
    return full[len(prefix) :] if full.startswith(prefix) else None


def upper_text(value: Any) -> str:
    return str(value).strip().upper() if isinstance(value, str) else ""


# --- Substitution -----------------------------------------------------------------------------


def substitute(text: str, values: Mapping[str, Any], prefix: str) -> str:
    """`text` with each `{{name}}` replaced by `values[f"{prefix}.{name}"]`; placeholders without a
    value are left as written, so a preview shows what is still missing."""

    def replace(match: re.Match[str]) -> str:
        value = values.get(f"{prefix}.{match.group(1)}")
        if value is None or (isinstance(value, str) and value == ""):
            return match.group(0)
        return str(value)

    return PLACEHOLDER_PATTERN.sub(replace, text)


def fill_url(url: Any, value: Any) -> str:
    """A URL button's address with its variable replaced by `value` (left as written if None)."""
    if not isinstance(url, str):
        return ""
    if value is None or value == "":
        return url
    return PLACEHOLDER_PATTERN.sub(lambda match: str(value), url)


def value_problem(value: str) -> str | None:
    """Why Meta would refuse `value` as a text parameter, or None."""
    if not value.strip():
        return "must not be empty"
    if _FORBIDDEN_IN_VALUE.search(value):
        return "must not contain new lines, tabs or more than 4 consecutive spaces"
    return None
