"""Tracked URL buttons, content retention and cache pre-warming."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.dispatch import dispatch_chunk
from campaigns.errors import CampaignError
from campaigns.models import Message, TrackedLink
from campaigns.retention import purge_message_parameters, tracked_link_base
from tests.campaigns.factories import CampaignFactory, MessageTemplateFactory
from tests.templates_app.factories import order_update_components

pytestmark = pytest.mark.django_db


def tracked_template():
    components = order_update_components()
    components[-1]["buttons"][0]["url"] = "https://tidings.example.com/r/{{1}}"
    components[-1]["buttons"][0]["example"] = ["https://tidings.example.com/r/abc"]
    return MessageTemplateFactory(components=components)


def test_a_tracked_button_carries_a_token_that_counts_clicks_and_redirects(
    meta, running_campaign, client
):
    campaign = running_campaign(
        1,
        template=tracked_template(),
        tracked_links={"button.0": "https://shop.example.com/orders/{value}"},
    )

    dispatch_chunk(campaign_id=campaign.pk)

    message = Message.objects.get(campaign=campaign)
    link = TrackedLink.objects.get(message=message)
    sent_button = next(
        c for c in meta.accepted_messages[0]["template"]["components"] if c["type"] == "button"
    )
    assert sent_button["parameters"][0]["text"] == link.token
    assert link.target_url == f"https://shop.example.com/orders/{message.contact.external_id}"

    first = client.get(f"/r/{link.token}")
    client.get(f"/r/{link.token}")

    assert first.status_code == 302
    assert first["Location"] == link.target_url
    link.refresh_from_db()
    assert link.click_count == 2
    assert link.first_clicked_at is not None
    assert client.get("/r/not-a-token").status_code == 404


def test_tracking_a_button_that_does_not_link_to_our_redirect_is_refused():
    campaign = CampaignFactory()

    with pytest.raises(CampaignError) as refused:
        services.campaign_update(
            campaign=campaign, tracked_links={"button.0": "https://shop.example.com/{value}"}
        )

    (problem,) = refused.value.field_errors["tracked_links"]
    assert "must link to <Tidings address>/r/{{1}}" in problem


def test_message_contents_are_purged_after_retention_and_metadata_stays(meta, running_campaign):
    campaign = running_campaign(2)
    dispatch_chunk(campaign_id=campaign.pk)
    old, recent = Message.objects.filter(campaign=campaign).order_by("id")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=100))

    purged = purge_message_parameters(older_than_days=90)

    old.refresh_from_db()
    recent.refresh_from_db()
    assert purged == 1
    assert old.parameters == {} and old.parameters_purged_at is not None
    assert old.wamid and old.status == "sent"
    assert recent.parameters != {}


def test_purging_cuts_tracked_links_back_to_the_base_address_which_still_redirects(
    meta, running_campaign, client
):
    campaign = running_campaign(
        1,
        template=tracked_template(),
        tracked_links={"button.0": "https://shop.example.com/orders/{value}?utm=wa"},
    )
    dispatch_chunk(campaign_id=campaign.pk)
    message = Message.objects.get(campaign=campaign)
    link = TrackedLink.objects.get(message=message)
    assert (
        link.target_url == f"https://shop.example.com/orders/{message.contact.external_id}?utm=wa"
    )
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(days=100))

    purge_message_parameters(older_than_days=90)

    link.refresh_from_db()
    assert link.target_url == "https://shop.example.com/orders/"
    response = client.get(f"/r/{link.token}")
    assert (response.status_code, response["Location"]) == (302, "https://shop.example.com/orders/")
    link.refresh_from_db()
    assert link.click_count == 1


def test_recent_tracked_links_are_left_alone_by_the_purge(meta, running_campaign):
    campaign = running_campaign(
        1,
        template=tracked_template(),
        tracked_links={"button.0": "https://shop.example.com/orders/{value}"},
    )
    dispatch_chunk(campaign_id=campaign.pk)
    link = TrackedLink.objects.get()
    before = link.target_url

    purge_message_parameters(older_than_days=90)

    link.refresh_from_db()
    assert link.target_url == before


@pytest.mark.parametrize(
    ("target", "patterns", "base"),
    [
        ("https://a.example/o/A-1", ["https://a.example/o/{value}"], "https://a.example/o/"),
        (
            "https://a.example/t?id=A-1#x",
            ["https://a.example/t?id={value}#x"],
            "https://a.example/t",
        ),
        ("https://a.example/fixed", ["https://a.example/fixed"], "https://a.example/fixed"),
        ("https://a.example/elsewhere/A-1", ["https://b.example/{value}"], "https://a.example/"),
    ],
)
def test_the_base_of_a_tracked_link(target, patterns, base):
    assert tracked_link_base(target, patterns) == base


def test_a_tracked_target_with_the_value_in_its_host_is_refused():
    campaign = CampaignFactory(template=tracked_template())

    with pytest.raises(CampaignError) as refused:
        services.campaign_update(
            campaign=campaign, tracked_links={"button.0": "https://{value}.example.com/"}
        )

    assert refused.value.field_errors == {
        "tracked_links": [
            "button.0: put {value} in the path or query, after the host "
            "(https://shop.example.com/orders/{value})."
        ]
    }
