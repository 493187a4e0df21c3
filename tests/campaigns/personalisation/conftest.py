"""Fixtures of the personalisation tests: a CRM stand-in and a data source pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from campaigns.models import DataSource
from tests.support.crm_api import CRMStandIn

from .factories import DataSourceFactory


@pytest.fixture
def crm() -> Iterator[CRMStandIn]:
    with CRMStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def loyalty(crm: CRMStandIn) -> DataSource:
    """The `loyalty` source on the stand-in: short timeout, 4 calls in flight at most."""
    return DataSourceFactory(
        name="loyalty", url_template=crm.url_template("external_id"), max_concurrency=4
    )


@pytest.fixture(autouse=True)
def _breaker_settings(settings) -> None:
    settings.TIDINGS_DATASOURCE_BREAKER_FAILURES = 3
    settings.TIDINGS_DATASOURCE_BREAKER_COOLOFF_SECONDS = 30
    settings.TIDINGS_DATASOURCE_NOT_FOUND_TTL_SECONDS = 60


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    # The in-process cache outlives a test; breaker state must never leak into the next one.
    yield
    cache.clear()
