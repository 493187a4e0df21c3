"""Fixtures of the templates tests: Meta's loopback stand-in and providers pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.meta_api import MetaAPIStandIn
from whatsapp import get_provider, reset_provider
from whatsapp.cloud_api import CloudAPIProvider

ACCESS_TOKEN = "templates-test-token"


@pytest.fixture
def meta_api() -> Iterator[MetaAPIStandIn]:
    with MetaAPIStandIn(access_token=ACCESS_TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
def paged_provider(meta_api: MetaAPIStandIn) -> Iterator[CloudAPIProvider]:
    """The Cloud API provider with pages of 2 templates, so a few templates span several pages."""
    provider = CloudAPIProvider(
        access_token=ACCESS_TOKEN, base_url=meta_api.base_url, template_page_size=2
    )
    yield provider
    provider.close()


@pytest.fixture
def cloud_settings(meta_api: MetaAPIStandIn, settings) -> Iterator[MetaAPIStandIn]:
    """The configured provider (what the API, admin, command and tasks use) is the Cloud API
    provider, pointed at the stand-in."""
    settings.WHATSAPP_PROVIDER = "cloud"
    settings.WHATSAPP_API_BASE_URL = meta_api.base_url
    settings.WHATSAPP_ACCESS_TOKEN = ACCESS_TOKEN
    reset_provider()
    get_provider()
    yield meta_api
    reset_provider()
