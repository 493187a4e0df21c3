"""Fixtures for the integration-layer tests: Meta's loopback stand-in and a client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.meta_api import MetaAPIStandIn
from tests.whatsapp.helpers import ACCESS_TOKEN
from whatsapp.cloud_api import CloudAPIProvider


@pytest.fixture
def meta_api() -> Iterator[MetaAPIStandIn]:
    with MetaAPIStandIn(access_token=ACCESS_TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
def cloud(meta_api: MetaAPIStandIn) -> Iterator[CloudAPIProvider]:
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN,
        base_url=meta_api.base_url,
        api_version="v23.0",
        concurrency=8,
        connect_timeout=1.0,
        read_timeout=2.0,
    )
    yield provider
    provider.close()
