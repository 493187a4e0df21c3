"""Template variables: finding them, naming them, and checking a template against Meta's rules.

Pure (no database, no Django), so it can be used by services, forms, serializers and
campaigns alike. Components are Meta's JSON (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`); the case of
`type` and `format` is ignored because Meta accepts lowercase on creation and lists uppercase.

Every variable has a stable **key** that campaigns map values to:

* `header.<name>` for the header text's variable, `header.media` for a media header's link or id;
* `body.<name>` for each body variable;
* `button.<index>` for the variable at the end of a URL button (`index` is Meta's 0-based
  button position);

where `<name>` is `1`, `2`... in POSITIONAL templates and `first_name`... in NAMED ones.

The authoring rules follow Meta's template documentation (cloud-api.md 4.2-4.3); breaking one is
an error. A variable may be used more than once in a text (it is one value of the send). Two of
Meta's rules have no published numbers: variables separated only by whitespace count as adjacent
(an error), and "too many variables for the length" (Meta's 2388293) is only a warning, given when
the body has fewer than `2 * placeholders + 1` words of fixed text; Meta's answer on submission
decides.
"""

from __future__ import annotations

from .components import (
    BODY_MAX_LENGTH,
    BUTTON_URL_MAX_LENGTH,
    HEADER_TEXT_MAX_LENGTH,
    MEDIA_HEADER_FORMATS,
    NAMED,
    POSITIONAL,
    Problem,
    Variable,
    buttons_of,
    component_of,
    example_values,
    extract_variables,
    fill_url,
    header_format,
    placeholder_names,
    substitute,
    value_problem,
)
from .rules import ComponentCheck, check_components, validate_components

__all__ = [
    "BODY_MAX_LENGTH",
    "BUTTON_URL_MAX_LENGTH",
    "HEADER_TEXT_MAX_LENGTH",
    "MEDIA_HEADER_FORMATS",
    "NAMED",
    "POSITIONAL",
    "ComponentCheck",
    "Problem",
    "Variable",
    "buttons_of",
    "check_components",
    "component_of",
    "example_values",
    "extract_variables",
    "fill_url",
    "header_format",
    "placeholder_names",
    "substitute",
    "validate_components",
    "value_problem",
]
