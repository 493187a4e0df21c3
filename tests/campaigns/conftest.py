"""Fixtures of the campaigns tests: the Cloud API provider pointed at Meta's loopback stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from campaigns.models import Campaign, CampaignStatus
from campaigns.planning import campaign_plan
from tests.campaigns.factories import CampaignFactory, consented_contacts
from tests.support.meta_api import MetaAPIStandIn
from whatsapp import reset_provider


@pytest.fixture
def meta(settings) -> Iterator[MetaAPIStandIn]:
    """Meta's Cloud API on loopback; the project's provider talks to it."""
    with MetaAPIStandIn(access_token="test-access-token", strict_templates=False) as stand_in:
        settings.WHATSAPP_PROVIDER = "cloud"
        settings.WHATSAPP_API_BASE_URL = stand_in.base_url
        settings.WHATSAPP_ACCESS_TOKEN = "test-access-token"
        settings.WHATSAPP_HTTP_READ_TIMEOUT = 1.0
        reset_provider()
        yield stand_in
        reset_provider()


@pytest.fixture
def running_campaign():
    """A planned, running campaign to `count` consented contacts."""

    def make(count: int, **fields) -> Campaign:
        campaign = CampaignFactory(**fields)
        consented_contacts(count)
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
        campaign_plan(campaign_id=campaign.pk)
        campaign.refresh_from_db()
        return campaign

    return make


def sent_message_ids(meta: MetaAPIStandIn) -> list[int]:
    """Our message ids as Meta accepted them (from `biz_opaque_callback_data`)."""
    return [
        int(message["biz_opaque_callback_data"].removeprefix("tidings:"))
        for message in meta.accepted_messages
    ]
