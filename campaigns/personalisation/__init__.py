"""Personalisation: template variable values from contacts and customers' own APIs.

The public API, used by campaign authoring, planning, dispatch and the CRM webhook:

* `parse_mapping(mapping)` checks a campaign's variable mapping entry by entry;
* `personalise_contacts(mapping=..., fallback_mapping=..., contacts=...)` resolves a chunk of
  contacts to `Personalisation` outcomes (primary values, fallback values, or a skip reason);
* `prewarm_contacts(mapping=..., contacts=...)` fills the cache ahead of a scheduled start;
* `invalidate(source_name=..., keys=...)` forgets cached values when the customer's system says
  they changed.

Data-source values are cached in Redis through Django's cache; see `sources` for the cost model
and what is cached, and `breaker` for the per-source circuit breaker.
"""

from __future__ import annotations

from .formatting import format_value
from .invalidation import Invalidation, UnknownDataSource, invalidate
from .mapping import VariableSpec, parse_mapping
from .personalise import FALLBACK, PRIMARY, Personalisation, personalise_contacts, prewarm_contacts
from .sources import FetchStats

__all__ = [
    "FALLBACK",
    "PRIMARY",
    "FetchStats",
    "Invalidation",
    "Personalisation",
    "UnknownDataSource",
    "VariableSpec",
    "format_value",
    "invalidate",
    "parse_mapping",
    "personalise_contacts",
    "prewarm_contacts",
]
