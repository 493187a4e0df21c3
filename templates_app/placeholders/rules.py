"""Meta's authoring rules for template components, with one message per broken rule.

Errors are Meta's published rules (cloud-api.md 4.2-4.3): a template breaking one cannot be saved
or submitted. Warnings are risks Meta names without publishing a limit; they never block, and
Meta's own answer on submission is the final word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .components import (
    BODY_MAX_LENGTH,
    BUTTON_LABEL_MAX_LENGTH,
    BUTTON_PHONE_MAX_LENGTH,
    BUTTON_TYPES,
    BUTTON_URL_MAX_LENGTH,
    COMPONENT_TYPES,
    COPY_CODE_EXAMPLE_MAX_LENGTH,
    FOOTER_MAX_LENGTH,
    HEADER_FORMATS,
    HEADER_TEXT_MAX_LENGTH,
    MAX_BUTTONS,
    MAX_BUTTONS_BY_TYPE,
    MEDIA_HEADER_FORMATS,
    NAMED,
    NAMED_NAME,
    PLACEHOLDER_PATTERN,
    POSITIONAL,
    POSITIONAL_NAME,
    Problem,
    body_examples,
    component_of,
    distinct,
    header_examples,
    placeholder_names,
    upper_text,
    url_suffix_example,
)

# A body with fewer words of fixed text than this per placeholder (plus one) draws a warning.
# Meta refuses "too many variables for the length" (2388293) without saying what is too many;
# this is a rule of thumb for when to expect that refusal, not Meta's number.
_WORDS_PER_PLACEHOLDER = 2


@dataclass(frozen=True)
class ComponentCheck:
    """The outcome of checking a template's components: `errors` block saving and submission,
    `warnings` are shown to the author and block nothing."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def validate_components(
    components: Any,
    parameter_format: str,
    *,
    category: str | None = None,
    require_examples: bool = False,
) -> list[Problem]:
    """The errors of `check_components`: Meta's authoring rules the components break; an empty
    list means valid."""
    return check_components(
        components, parameter_format, category=category, require_examples=require_examples
    ).errors


def check_components(
    components: Any,
    parameter_format: str,
    *,
    category: str | None = None,
    require_examples: bool = False,
) -> ComponentCheck:
    """Meta's authoring rules for a template's components (errors), and the risks of a refusal
    on submission that Meta publishes no rule for (warnings).

    `require_examples` adds the rule Meta applies on submission: every variable (and every media
    header) needs an example value. Drafts may be saved without them.
    """
    errors = _errors(components, parameter_format, category, require_examples)
    body = component_of(components, "BODY")
    warnings = _body_warnings(body) if body is not None else []
    return ComponentCheck(errors=errors, warnings=warnings)


def _errors(
    components: Any, parameter_format: str, category: str | None, require_examples: bool
) -> list[Problem]:
    fmt = upper_text(parameter_format)
    if fmt not in (POSITIONAL, NAMED):
        return [Problem("components", "The parameter format must be POSITIONAL or NAMED.")]
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        return [Problem("components", "Components must be a list of objects.")]

    problems: list[Problem] = []
    seen: set[str] = set()
    for component in components:
        kind = upper_text(component.get("type"))
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
        if upper_text(category) != "AUTHENTICATION":
            problems.append(Problem("body", "A template needs a body."))
    else:
        problems += _validate_body(body, fmt, upper_text(category), require_examples)
    footer = component_of(components, "FOOTER")
    if footer is not None:
        problems += _validate_footer(footer)
    buttons = component_of(components, "BUTTONS")
    if buttons is not None:
        problems += _validate_buttons(buttons, require_examples)
    return problems


def _validate_names(where: str, text: str, fmt: str) -> tuple[list[str], list[Problem]]:
    """The valid variable names of `text` (repeats included) and the problems with the others.

    A variable may appear more than once: it is one parameter of the send, and every occurrence
    shows its value.
    """
    problems: list[Problem] = []
    names: list[str] = []
    valid_name = POSITIONAL_NAME if fmt == POSITIONAL else NAMED_NAME
    for name in placeholder_names(text):
        if valid_name.match(name):
            names.append(name)
        elif fmt == POSITIONAL and NAMED_NAME.match(name):
            problems.append(
                Problem(
                    where,
                    f"{{{{{name}}}}} is a named variable, but this template uses positional "
                    "variables ({{1}}, {{2}}...).",
                )
            )
        elif fmt == NAMED and POSITIONAL_NAME.match(name):
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
                    f"{{{{{name}}}}} is not a valid variable name: start with a lowercase letter "
                    "and use only lowercase letters and underscores, without spaces, like "
                    "{{first_name}}.",
                )
            )
    leftover = PLACEHOLDER_PATTERN.sub("", text)
    if "{{" in leftover or "}}" in leftover:
        problems.append(Problem(where, "Unbalanced braces: write each variable as {{name}}."))
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
    kind = upper_text(header.get("format")) or "TEXT"
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
    if len(distinct(names)) > 1:
        problems.append(Problem("header", "A header can have at most 1 variable."))
    if fmt == NAMED:
        problems += _repeated_named_examples("header", header, "header_text_named_params")
    if require_examples and names:
        problems += _missing_examples(
            "header", distinct(names), header_examples(header, fmt == NAMED), fmt
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
    segments = PLACEHOLDER_PATTERN.split(text)[::2]  # the fixed text around the placeholders
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
    if fmt == NAMED:
        problems += _repeated_named_examples("body", body, "body_text_named_params")
    if require_examples and names:
        problems += _missing_examples(
            "body", distinct(names), body_examples(body, fmt == NAMED), fmt
        )
    return problems


def _repeated_named_examples(where: str, component: dict[str, Any], key: str) -> list[Problem]:
    # Meta: named parameters must be unique, so each is declared (with its example) once, however
    # often the text uses it.
    example = component.get("example")
    entries = example.get(key) if isinstance(example, dict) else None
    if not isinstance(entries, list):
        return []
    names = [
        str(entry.get("param_name"))
        for entry in entries
        if isinstance(entry, dict) and entry.get("param_name") is not None
    ]
    return [
        Problem(
            where,
            f"{{{{{name}}}}} is declared more than once in example.{key}; give each variable "
            "one example.",
        )
        for name in sorted({name for name in names if names.count(name) > 1})
    ]


def _body_warnings(body: dict[str, Any]) -> list[Problem]:
    text = body.get("text")
    if not isinstance(text, str):
        return []
    count = len(placeholder_names(text))
    if not count:
        return []
    words = sum(len(_words(segment)) for segment in PLACEHOLDER_PATTERN.split(text)[::2])
    if words >= _WORDS_PER_PLACEHOLDER * count + 1:
        return []
    return [
        Problem(
            "body",
            f"{count} variable{'s' if count != 1 else ''} in {words} word"
            f"{'s' if words != 1 else ''} of text: Meta may refuse the template on submission "
            "for having too many variables for its length (error 2388293). If it does, add "
            "text or remove a variable.",
        )
    ]


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
        kind = upper_text(button.get("type"))
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
    elif require_examples and url_suffix_example(button) in (None, ""):
        problems.append(
            Problem(
                "buttons",
                f"{label}'s URL variable needs an example: the full URL as a recipient would open "
                "it.",
            )
        )
    return problems
