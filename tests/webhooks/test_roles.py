"""The groups' webhooks permissions: Compliance reads what Meta sent, Marketing the replies."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from contacts.roles import COMPLIANCE_GROUP, INTEGRATOR_GROUP, MARKETING_GROUP
from tests.support.roles import group_codenames

pytestmark = pytest.mark.django_db


def webhook_codenames(group_name: str) -> set[str]:
    return group_codenames(group_name, "webhooks")


def test_compliance_reads_deliveries_events_unmatched_statuses_and_inbound_messages():
    assert webhook_codenames(COMPLIANCE_GROUP) == {
        "view_webhookdelivery",
        "view_webhookevent",
        "view_unmatchedstatus",
        "view_inboundmessage",
    }


def test_marketing_reads_the_replies_and_nothing_else_of_the_webhooks():
    assert webhook_codenames(MARKETING_GROUP) == {"view_inboundmessage"}


def test_nobody_but_superusers_may_replay_or_rematch_webhooks():
    assert webhook_codenames(INTEGRATOR_GROUP) == set()
    assert not Group.objects.filter(
        permissions__content_type__app_label="webhooks",
        permissions__codename__in=["change_webhookdelivery", "change_unmatchedstatus"],
    ).exists()
