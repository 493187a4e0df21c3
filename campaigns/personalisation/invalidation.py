"""Forgetting cached data-source values when the customer's system says they changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import F

from campaigns.models import DataSource

from .sources import cache_key


class UnknownDataSource(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown data source '{name}'.")
        self.name = name


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What was forgotten: `keys` cached entries, or everything (`all_keys`) by moving the source
    to `cache_version`."""

    source: str
    keys: int
    all_keys: bool
    cache_version: int


def invalidate(*, source_name: str, keys: Sequence[str] | None) -> Invalidation:
    """Delete the cached values of `keys` (values of the source's key field, e.g. external ids),
    or, when `keys` is None, of every contact at once by bumping the source's `cache_version`.

    The next message for those contacts fetches fresh data. Works on inactive sources too, so a
    source switched back on does not serve what was cached before.
    """
    source = DataSource.objects.filter(name=source_name).first()
    if source is None:
        raise UnknownDataSource(source_name)
    if keys is None:
        # Old entries become unreachable at once and age out with their TTL.
        DataSource.objects.filter(pk=source.pk).update(cache_version=F("cache_version") + 1)
        source.refresh_from_db(fields=["cache_version"])
        return Invalidation(source.name, 0, True, source.cache_version)
    distinct = list(dict.fromkeys(str(key) for key in keys))
    if distinct:
        cache.delete_many([cache_key(source, key) for key in distinct])
    return Invalidation(source.name, len(distinct), False, source.cache_version)
