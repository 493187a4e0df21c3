"""Resolving a campaign's variables for a chunk of contacts, with the fallback chain.

For each contact, each variable is read from its source and formatted; a variable without a value
takes its own `fallback`; if a primary variable still has none, the whole fallback mapping (the
generic template's) is tried; if that fails too the contact is skipped with a reason naming every
missing variable and its source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from campaigns.models import DataSource
from contacts.models import Contact

from .formatting import format_value
from .mapping import ATTRIBUTE, CONSTANT, CONTACT, VariableSpec, parse_mapping_structure
from .sources import UNKNOWN_SOURCE, FetchStats, SourceResult, fetch_for_contacts

PRIMARY = "primary"
FALLBACK = "fallback"
REASON_PREFIX = "personalisation_failed: "
PREWARM_CHUNK_SIZE = 500
UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Personalisation:
    """The outcome for one contact.

    * `variant` "primary": `values` fill the campaign's template;
    * `variant` "fallback": `values` fill the fallback template, and `reason` says why the primary
      could not be used;
    * `variant` None: send nothing; `reason` says why, e.g.
      ``personalisation_failed: body.2 (loyalty) unavailable: timed out after 2s``.

    `values` maps variable keys to strings, ready to be sent as template parameters.
    """

    variant: str | None
    values: dict[str, str]
    reason: str = ""


def personalise_contacts(
    *,
    mapping: Mapping[str, Any],
    fallback_mapping: Mapping[str, Any] | None,
    contacts: Sequence[Contact],
    stats: FetchStats | None = None,
) -> dict[int, Personalisation]:
    """Personalise one chunk of contacts, by contact id.

    `fallback_mapping` is None when the campaign has no fallback template (an empty mapping is a
    fallback template without variables). Every data source either mapping uses is read once for
    the whole chunk: one cache lookup, then concurrent calls for the misses only. Pass `stats` to
    have the cache hits, misses and calls added to it.

    A mapping is trusted to have passed `parse_mapping` at authoring: a data source deleted or
    switched off since makes its variables unavailable rather than raising.
    """
    specs = parse_mapping_structure(mapping)
    fallback_specs = (
        parse_mapping_structure(fallback_mapping) if fallback_mapping is not None else None
    )
    data = _source_data([specs, fallback_specs or {}], contacts, stats)

    outcomes: dict[int, Personalisation] = {}
    for contact in contacts:
        values, problems = _resolve(specs, contact, data)
        if not problems:
            outcomes[contact.pk] = Personalisation(PRIMARY, values)
            continue
        reason = REASON_PREFIX + "; ".join(problems)
        if fallback_specs is not None:
            fallback_values, fallback_problems = _resolve(fallback_specs, contact, data)
            if not fallback_problems:
                outcomes[contact.pk] = Personalisation(FALLBACK, fallback_values, reason)
                continue
            reason += "; fallback: " + "; ".join(fallback_problems)
        outcomes[contact.pk] = Personalisation(None, {}, reason)
    return outcomes


def prewarm_contacts(
    *,
    mapping: Mapping[str, Any],
    contacts: Iterable[Contact],
    chunk_size: int = PREWARM_CHUNK_SIZE,
) -> FetchStats:
    """Fill the cache for every data source `mapping` uses, ahead of a scheduled start.

    `contacts` may be a queryset iterator of any length; it is read in chunks so memory and the
    size of each cache lookup stay bounded. Returns what it took (hits were already warm).
    """
    specs = parse_mapping_structure(mapping)
    sources = _sources_for([specs])
    stats = FetchStats()
    if not sources:
        return stats
    for chunk in _chunks(contacts, chunk_size):
        fetch_for_contacts(sources=sources.values(), contacts=chunk, stats=stats)
    return stats


def _sources_for(spec_sets: Iterable[Mapping[str, VariableSpec]]) -> dict[str, DataSource]:
    names = {spec.data_source for specs in spec_sets for spec in specs.values() if spec.data_source}
    if not names:
        return {}
    return {source.name: source for source in DataSource.objects.filter(name__in=names)}


def _source_data(
    spec_sets: list[Mapping[str, VariableSpec]],
    contacts: Sequence[Contact],
    stats: FetchStats | None,
) -> dict[str, dict[int, SourceResult]]:
    sources = _sources_for(spec_sets)
    if not sources:
        return {}
    return fetch_for_contacts(sources=sources.values(), contacts=contacts, stats=stats)


def _resolve(
    specs: Mapping[str, VariableSpec],
    contact: Contact,
    data: Mapping[str, Mapping[int, SourceResult]],
) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    problems: list[str] = []
    for key, spec in specs.items():
        raw, problem = _raw_value(spec, contact, data)
        value = None
        if problem is None:
            value = format_value(
                raw,
                value_format=spec.format,
                locale=contact.language,
                currency=spec.currency,
                timezone=contact.timezone,
            )
            if value is None:
                problem = "missing" if raw in (None, "") else f"cannot be shown as {spec.format}"
        if value is None and spec.fallback is not None:
            value = spec.fallback
        if value is None:
            # A source that gave nothing is named alone: "body.2 (loyalty) unavailable: HTTP 500".
            where = spec.data_source if problem.startswith(UNAVAILABLE) else spec.described
            problems.append(f"{key} ({where}) {problem}")
        else:
            values[key] = value
    return values, problems


def _raw_value(
    spec: VariableSpec, contact: Contact, data: Mapping[str, Mapping[int, SourceResult]]
) -> tuple[Any, str | None]:
    """The value before formatting, or None and a problem ending the reason's clause."""
    if spec.source == CONSTANT:
        return spec.path, None
    if spec.source == CONTACT:
        return (contact.pk if spec.path == "id" else getattr(contact, spec.path, None)), None
    if spec.source == ATTRIBUTE:
        return _walk(contact.attributes, spec.parts), None
    per_contact = data.get(spec.data_source)
    missing = SourceResult(None, UNKNOWN_SOURCE)
    result = per_contact[contact.pk] if per_contact is not None else missing
    if result.data is None:
        return None, f"{UNAVAILABLE}: {result.problem}"
    return _walk(result.data, spec.parts), None


def _walk(value: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _chunks(items: Iterable[Contact], size: int) -> Iterator[list[Contact]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
