"""Template variables: finding them, naming them, and checking a template against Meta's rules.

A pure module (no database, no Django) so it can be used by services, forms, serializers and
campaigns alike. Components are Meta's JSON (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`); the case of
`type` and `format` is ignored because Meta accepts lowercase on creation and lists uppercase.

Every variable has a stable **key** that campaigns map values to:

* `header.<name>` for the header text's variable, `header.media` for a media header's link or id;
* `body.<name>` for each body variable;
* `button.<index>` for the variable at the end of a URL button (`index` is Meta's 0-based
  button position);

where `<name>` is `1`, `2`... in POSITIONAL templates and `first_name`... in NAMED ones.

The authoring rules follow Meta's template documentation (cloud-api.md 4.2-4.3). Two rules have no
published numbers and use what template authors observe instead: "too many variables for the
length" needs at least `2 * variables + 1` words of fixed body text, and variables separated only by
whitespace count as adjacent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
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
_CANDIDATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_POSITIONAL_NAME = re.compile(r"^[1-9][0-9]*$")
_NAMED_NAME = re.compile(r"^[a-z_]+$")
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
        if isinstance(component, dict) and _upper(component.get("type")) == kind:
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
    return _upper(header.get("format")) or "TEXT"


def placeholder_names(text: Any) -> list[str]:
    """The names between double braces in `text`, in order, repeats included."""
    if not isinstance(text, str):
        return []
    return [match.group(1) for match in _CANDIDATE.finditer(text)]


def _distinct(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _ordered(names: Iterable[str], parameter_format: str) -> list[str]:
    # Positional values are sent in {{1}}, {{2}} order wherever they appear in the text.
    distinct = _distinct(names)
    if _upper(parameter_format) == NAMED:
        return distinct
    return sorted(
        distinct, key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0)
    )


def extract_variables(components: Any, parameter_format: str) -> list[Variable]:
    """Every variable of the template, header first, then body, then URL buttons.

    Tolerant of malformed components (as Meta may list them): what cannot be read is skipped.
    """
    named = _upper(parameter_format) == NAMED
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
            examples = _header_examples(header, named)
            for position, name in enumerate(
                _ordered(placeholder_names(header.get("text")), parameter_format)
            ):
                example = examples.get(name) if named else _at(examples.get(""), position)
                variables.append(
                    Variable(key=f"header.{name}", component="header", name=name, example=example)
                )

    body = component_of(components, "BODY")
    if body is not None:
        examples = _body_examples(body, named)
        for name in _ordered(placeholder_names(body.get("text")), parameter_format):
            if named:
                example = examples.get(name)
            else:
                example = _at(examples.get(""), int(name) - 1) if name.isdigit() else None
            variables.append(
                Variable(key=f"body.{name}", component="body", name=name, example=example)
            )

    for index, button in enumerate(buttons_of(components)):
        if _upper(button.get("type")) != "URL":
            continue
        names = _distinct(placeholder_names(button.get("url")))
        if names:
            variables.append(
                Variable(
                    key=f"button.{index}",
                    component="button",
                    name=names[0],
                    button_index=index,
                    example=_url_suffix_example(button),
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


def _header_examples(header: Mapping[str, Any], named: bool) -> dict[str, Any]:
    example = header.get("example")
    if not isinstance(example, dict):
        return {}
    if named:
        return _named_examples(example.get("header_text_named_params"))
    values = example.get("header_text")
    return {"": values if isinstance(values, list) else []}


def _body_examples(body: Mapping[str, Any], named: bool) -> dict[str, Any]:
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


def _url_suffix_example(button: Mapping[str, Any]) -> str | None:
    # A URL button's example is the whole URL; the variable's example is what follows the prefix.
    example = button.get("example")
    full = example[0] if isinstance(example, list) and example else example
    url = button.get("url")
    if not isinstance(full, str) or not isinstance(url, str) or "{{" not in url:
        return None
    prefix = url.split("{{", 1)[0]
    return full[len(prefix) :] if full.startswith(prefix) else None


def _upper(value: Any) -> str:
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

    return _CANDIDATE.sub(replace, text)


def fill_url(url: Any, value: Any) -> str:
    """A URL button's address with its variable replaced by `value` (left as written if None)."""
    if not isinstance(url, str):
        return ""
    if value is None or value == "":
        return url
    return _CANDIDATE.sub(lambda match: str(value), url)


def value_problem(value: str) -> str | None:
    """Why Meta would refuse `value` as a text parameter, or None."""
    if not value.strip():
        return "must not be empty"
    if _FORBIDDEN_IN_VALUE.search(value):
        return "must not contain new lines, tabs or more than 4 consecutive spaces"
    return None


# --- Authoring rules --------------------------------------------------------------------------


def validate_components(
    components: Any,
    parameter_format: str,
    *,
    category: str | None = None,
    require_examples: bool = False,
) -> list[Problem]:
    """Meta's authoring rules for a template's components; an empty list means valid.

    `require_examples` adds the rule Meta applies on submission: every variable (and every media
    header) needs an example value. Drafts may be saved without them.
    """
    fmt = _upper(parameter_format)
    if fmt not in (POSITIONAL, NAMED):
        return [Problem("components", "The parameter format must be POSITIONAL or NAMED.")]
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        return [Problem("components", "Components must be a list of objects.")]

    problems: list[Problem] = []
    seen: set[str] = set()
    for component in components:
        kind = _upper(component.get("type"))
        if kind not in COMPONENT_TYPES:
            problems.append(
                Problem(
                    "components",
                    f"Unknown component type {component.get('type')!r}: use HEADER, BODY, FOOTER "
                    "or BUTTONS.",
                )
            )
        elif kind in seen:
            problems.append(Problem("components", f"A template has at most one {kind} component."))
        seen.add(kind)

    header = component_of(components, "HEADER")
    if header is not None:
        problems += _validate_header(header, fmt, require_examples)
    body = component_of(components, "BODY")
    if body is None:
        if _upper(category) != "AUTHENTICATION":
            problems.append(Problem("body", "A template needs a body."))
    else:
        problems += _validate_body(body, fmt, _upper(category), require_examples)
    footer = component_of(components, "FOOTER")
    if footer is not None:
        problems += _validate_footer(footer)
    buttons = component_of(components, "BUTTONS")
    if buttons is not None:
        problems += _validate_buttons(buttons, require_examples)
    return problems


def _validate_names(where: str, text: str, fmt: str) -> tuple[list[str], list[Problem]]:
    """The valid variable names of `text` (repeats included) and the problems with the others."""
    problems: list[Problem] = []
    names: list[str] = []
    valid_name = _POSITIONAL_NAME if fmt == POSITIONAL else _NAMED_NAME
    for name in placeholder_names(text):
        if valid_name.match(name):
            names.append(name)
        elif fmt == POSITIONAL and _NAMED_NAME.match(name):
            problems.append(
                Problem(
                    where,
                    f"{{{{{name}}}}} is a named variable, but this template uses positional "
                    "variables ({{1}}, {{2}}...).",
                )
            )
        elif fmt == NAMED and _POSITIONAL_NAME.match(name):
            problems.append(
                Problem(
                    where,
                    f"{{{{{name}}}}} is a positional variable, but this template uses named "
                    "variables such as {{first_name}}.",
                )
            )
        elif fmt == POSITIONAL:
            problems.append(
                Problem(
                    where,
                    f"{{{{{name}}}}} is not a valid variable: positional variables are whole "
                    "numbers from 1, written without spaces, like {{1}}.",
                )
            )
        else:
            problems.append(
                Problem(
                    where,
                    f"{{{{{name}}}}} is not a valid variable name: use only lowercase letters and "
                    "underscores, without spaces, like {{first_name}}.",
                )
            )
    leftover = _CANDIDATE.sub("", text)
    if "{{" in leftover or "}}" in leftover:
        problems.append(Problem(where, "Unbalanced braces: write each variable as {{name}}."))
    repeated = sorted({name for name in names if names.count(name) > 1})
    for name in repeated:
        problems.append(
            Problem(where, f"{{{{{name}}}}} appears more than once; use each variable once.")
        )
    if fmt == POSITIONAL and names:
        numbers = sorted({int(name) for name in names})
        if numbers != list(range(1, len(numbers) + 1)):
            found = ", ".join(f"{{{{{number}}}}}" for number in numbers)
            problems.append(
                Problem(
                    where,
                    f"Variables must be numbered from {{{{1}}}} without gaps (found {found}).",
                )
            )
    return names, problems


def _validate_header(header: dict[str, Any], fmt: str, require_examples: bool) -> list[Problem]:
    kind = _upper(header.get("format")) or "TEXT"
    if kind not in HEADER_FORMATS:
        return [
            Problem(
                "header",
                f"Unsupported header format {header.get('format')!r}: use TEXT, IMAGE, VIDEO, "
                "DOCUMENT or LOCATION.",
            )
        ]
    if kind in MEDIA_HEADER_FORMATS:
        example = header.get("example")
        handles = example.get("header_handle") if isinstance(example, dict) else None
        if require_examples and not (isinstance(handles, list) and handles and handles[0]):
            return [
                Problem(
                    "header",
                    f"A {kind.lower()} header needs an example media handle "
                    "(example.header_handle, from Meta's resumable upload).",
                )
            ]
        return []
    if kind != "TEXT":
        return []
    text = header.get("text")
    if not isinstance(text, str) or not text.strip():
        return [Problem("header", "A text header needs text.")]
    problems: list[Problem] = []
    if len(text) > HEADER_TEXT_MAX_LENGTH:
        problems.append(
            Problem(
                "header",
                f"The header is {len(text)} characters long; the limit is "
                f"{HEADER_TEXT_MAX_LENGTH}.",
            )
        )
    names, name_problems = _validate_names("header", text, fmt)
    problems += name_problems
    if len(_distinct(names)) > 1:
        problems.append(Problem("header", "A header can have at most 1 variable."))
    if require_examples and names:
        problems += _missing_examples(
            "header", _distinct(names), _header_examples(header, fmt == NAMED), fmt
        )
    return problems


def _validate_body(
    body: dict[str, Any], fmt: str, category: str, require_examples: bool
) -> list[Problem]:
    text = body.get("text")
    if category == "AUTHENTICATION" and text is None:
        return []  # Meta writes the body of authentication templates itself.
    if not isinstance(text, str) or not text.strip():
        return [Problem("body", "The body needs text.")]
    problems: list[Problem] = []
    if len(text) > BODY_MAX_LENGTH:
        problems.append(
            Problem(
                "body",
                f"The body is {len(text)} characters long; the limit is {BODY_MAX_LENGTH}.",
            )
        )
    names, name_problems = _validate_names("body", text, fmt)
    problems += name_problems
    segments = _CANDIDATE.split(text)[::2]  # the fixed text around the placeholders
    if len(segments) > 1:
        if not segments[0].strip():
            problems.append(
                Problem("body", "The body cannot start with a variable; add text before it.")
            )
        if not segments[-1].strip():
            problems.append(
                Problem("body", "The body cannot end with a variable; add text after it.")
            )
        for before, between in zip(placeholder_names(text), segments[1:-1], strict=False):
            if not between.strip():
                problems.append(
                    Problem(
                        "body",
                        f"The variable {{{{{before}}}}} is right next to the following one; put "
                        "text between variables.",
                    )
                )
        count = len(placeholder_names(text))
        words = sum(len(_words(segment)) for segment in segments)
        needed = 2 * count + 1
        if words < needed:
            problems.append(
                Problem(
                    "body",
                    f"Too many variables for the length of the text: {count} variables need at "
                    f"least {needed} words of text around them (found {words}).",
                )
            )
    if require_examples and names:
        problems += _missing_examples(
            "body", _distinct(names), _body_examples(body, fmt == NAMED), fmt
        )
    return problems


def _words(text: str) -> list[str]:
    return [token for token in text.split() if any(character.isalnum() for character in token)]


def _missing_examples(
    where: str, names: Sequence[str], examples: Mapping[str, Any], fmt: str
) -> list[Problem]:
    if fmt == NAMED:
        missing = [name for name in names if not _filled(examples.get(name))]
        unexpected = sorted(set(examples) - set(names))
        problems = [Problem(where, f"{{{{{name}}}}} needs an example value.") for name in missing]
        problems += [
            Problem(where, f"An example is given for {{{{{name}}}}}, which is not in the text.")
            for name in unexpected
        ]
        return problems
    given = examples.get("")
    given = given if isinstance(given, list) else []
    if len(given) != len(names) or not all(_filled(value) for value in given):
        key = "example.header_text" if where == "header" else "example.body_text"
        return [
            Problem(
                where,
                f"Every variable needs an example value: {len(names)} expected in {key}, "
                f"{sum(1 for value in given if _filled(value))} given.",
            )
        ]
    return []


def _filled(value: Any) -> bool:
    return isinstance(value, str | int | float) and str(value).strip() != ""


def _validate_footer(footer: dict[str, Any]) -> list[Problem]:
    text = footer.get("text")
    if not isinstance(text, str) or not text.strip():
        return [Problem("footer", "A footer needs text.")]
    problems: list[Problem] = []
    if len(text) > FOOTER_MAX_LENGTH:
        problems.append(
            Problem(
                "footer",
                f"The footer is {len(text)} characters long; the limit is {FOOTER_MAX_LENGTH}.",
            )
        )
    if "{{" in text or "}}" in text:
        problems.append(Problem("footer", "A footer cannot contain variables."))
    return problems


def _validate_buttons(component: dict[str, Any], require_examples: bool) -> list[Problem]:
    buttons = component.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        return [Problem("buttons", "A BUTTONS component needs at least one button.")]
    problems: list[Problem] = []
    if len(buttons) > MAX_BUTTONS:
        problems.append(
            Problem(
                "buttons", f"A template has at most {MAX_BUTTONS} buttons ({len(buttons)} given)."
            )
        )
    types: list[str] = []
    for position, button in enumerate(buttons, start=1):
        if not isinstance(button, dict):
            problems.append(Problem("buttons", f"Button {position} must be an object."))
            types.append("")
            continue
        kind = _upper(button.get("type"))
        types.append(kind)
        label = f"Button {position}"
        if kind not in BUTTON_TYPES:
            problems.append(
                Problem(
                    "buttons",
                    f"{label} has an unsupported type {button.get('type')!r}: use QUICK_REPLY, "
                    "URL, PHONE_NUMBER or COPY_CODE.",
                )
            )
            continue
        problems += _validate_button(label, kind, button, require_examples)

    for kind, limit in MAX_BUTTONS_BY_TYPE.items():
        count = types.count(kind)
        if count > limit:
            problems.append(
                Problem("buttons", f"At most {limit} {kind} button(s) are allowed ({count} given).")
            )
    quick_replies = [position for position, kind in enumerate(types) if kind == "QUICK_REPLY"]
    if quick_replies and quick_replies != list(range(quick_replies[0], quick_replies[-1] + 1)):
        problems.append(
            Problem(
                "buttons",
                "Quick-reply buttons must be grouped together, not separated by other buttons.",
            )
        )
    return problems


def _validate_button(
    label: str, kind: str, button: dict[str, Any], require_examples: bool
) -> list[Problem]:
    problems: list[Problem] = []
    text = button.get("text")
    if kind in ("QUICK_REPLY", "URL", "PHONE_NUMBER"):
        if not isinstance(text, str) or not text.strip():
            problems.append(Problem("buttons", f"{label} needs a label (text)."))
        elif len(text) > BUTTON_LABEL_MAX_LENGTH:
            problems.append(
                Problem(
                    "buttons",
                    f"{label}'s label is {len(text)} characters long; the limit is "
                    f"{BUTTON_LABEL_MAX_LENGTH}.",
                )
            )
        if isinstance(text, str) and "{{" in text:
            problems.append(Problem("buttons", f"{label}'s label cannot contain variables."))
    if kind == "URL":
        problems += _validate_url_button(label, button, require_examples)
    elif kind == "PHONE_NUMBER":
        phone = button.get("phone_number")
        if not isinstance(phone, str) or not phone.strip():
            problems.append(Problem("buttons", f"{label} needs a phone_number."))
        elif len(phone) > BUTTON_PHONE_MAX_LENGTH:
            problems.append(
                Problem(
                    "buttons",
                    f"{label}'s phone number is longer than {BUTTON_PHONE_MAX_LENGTH} characters.",
                )
            )
    elif kind == "COPY_CODE":
        example = button.get("example")
        if require_examples and not _filled(example):
            problems.append(Problem("buttons", f"{label} needs an example code."))
        elif _filled(example) and len(str(example)) > COPY_CODE_EXAMPLE_MAX_LENGTH:
            problems.append(
                Problem(
                    "buttons",
                    f"{label}'s example code is longer than {COPY_CODE_EXAMPLE_MAX_LENGTH} "
                    "characters.",
                )
            )
    return problems


def _validate_url_button(
    label: str, button: dict[str, Any], require_examples: bool
) -> list[Problem]:
    url = button.get("url")
    if not isinstance(url, str) or not url.strip():
        return [Problem("buttons", f"{label} needs a url.")]
    problems: list[Problem] = []
    if len(url) > BUTTON_URL_MAX_LENGTH:
        problems.append(
            Problem("buttons", f"{label}'s URL is longer than {BUTTON_URL_MAX_LENGTH} characters.")
        )
    if not url.startswith(("https://", "http://")):
        problems.append(Problem("buttons", f"{label}'s URL must start with https:// or http://."))
    names = placeholder_names(url)
    if not names:
        return problems
    # Meta allows one variable, always written {{1}}, and only at the very end of the URL.
    if names != ["1"] or not url.endswith("{{1}}"):
        problems.append(
            Problem(
                "buttons",
                f"{label}'s URL can have one variable, written {{{{1}}}}, at the very end.",
            )
        )
    elif require_examples and _url_suffix_example(button) in (None, ""):
        problems.append(
            Problem(
                "buttons",
                f"{label}'s URL variable needs an example: the full URL as a recipient would open "
                "it.",
            )
        )
    return problems
