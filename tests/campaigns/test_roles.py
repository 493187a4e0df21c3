"""The groups' campaigns permissions: four-eyes launching, read-only compliance."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from contacts.roles import (
    CAMPAIGN_LAUNCHERS_GROUP,
    COMPLIANCE_GROUP,
    DATA_PROTECTION_GROUP,
    INTEGRATOR_GROUP,
    MARKETING_GROUP,
)
from tests.support.roles import group_codenames

pytestmark = pytest.mark.django_db

EVERY_MODEL = (
    "campaign",
    "datasource",
    "trackedlink",
    "message",
    "messagestatusevent",
    "campaignprogresscount",
    "campaignstatuschange",
    "conversion",
)


def campaign_codenames(group_name: str) -> set[str]:
    return group_codenames(group_name, "campaigns")


def test_compliance_reads_every_campaigns_model_and_changes_none():
    assert campaign_codenames(COMPLIANCE_GROUP) == {f"view_{model}" for model in EVERY_MODEL}


def test_marketing_authors_campaigns_and_data_sources_but_does_not_launch():
    assert campaign_codenames(MARKETING_GROUP) == {
        *(f"view_{model}" for model in EVERY_MODEL),
        "add_campaign",
        "change_campaign",
        "delete_campaign",
        "add_datasource",
        "change_datasource",
        "delete_datasource",
    }


def test_integrators_author_campaigns_send_one_off_messages_and_report_orders_but_do_not_launch():
    assert campaign_codenames(INTEGRATOR_GROUP) == {
        "view_campaign",
        "add_campaign",
        "change_campaign",
        "delete_campaign",
        "view_datasource",
        "view_message",
        "add_message",
        "view_messagestatusevent",
        "view_conversion",
        "add_conversion",
    }


def test_only_campaign_launchers_may_launch_the_second_pair_of_eyes():
    holders = set(
        Group.objects.filter(permissions__codename="launch_campaign").values_list("name", flat=True)
    )

    assert holders == {CAMPAIGN_LAUNCHERS_GROUP}
    assert campaign_codenames(CAMPAIGN_LAUNCHERS_GROUP) == {"view_campaign", "launch_campaign"}
    assert campaign_codenames(DATA_PROTECTION_GROUP) == set()
