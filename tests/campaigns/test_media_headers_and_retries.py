"""A media header mapped per contact, end to end; retrying a campaign's failed messages."""

from __future__ import annotations

import pytest

from campaigns import services
from campaigns.dispatch import dispatch_chunk
from campaigns.errors import CampaignError
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.planning import campaign_plan
from tests.campaigns.factories import (
    CampaignFactory,
    MessageFactory,
    MessageTemplateFactory,
    SegmentFactory,
    SenderNumberFactory,
    consented_contacts,
)

pytestmark = pytest.mark.django_db

PHOTO = "https://cdn.example.com/parcels/C-1.jpg"


def image_template():
    return MessageTemplateFactory(
        name="parcel_photo",
        components=[
            {
                "type": "HEADER",
                "format": "IMAGE",
                "example": {"header_handle": ["https://cdn.example.com/example.jpg"]},
            },
            {"type": "BODY", "text": "Hi {{1}}, this is your parcel at the door."},
        ],
    )


def test_a_media_header_mapped_from_an_attribute_goes_into_the_payload(meta):
    template = image_template()
    campaign = services.campaign_create(
        name="Parcel photos",
        template=template,
        sender=SenderNumberFactory(account=template.account),
        segment=SegmentFactory(),
        variable_mapping={
            "header.media": {"source": "attribute", "path": "parcel.photo"},
            "body.1": {"source": "contact", "path": "name"},
        },
    )
    contact = consented_contacts(1, attributes={"parcel": {"photo": PHOTO}})[0]
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    campaign_plan(campaign_id=campaign.pk)

    dispatch_chunk(campaign_id=campaign.pk)

    (sent,) = meta.accepted_messages
    assert sent["template"]["components"][0] == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"link": PHOTO}}],
    }
    message = Message.objects.get(campaign=campaign)
    assert message.status == MessageStatus.SENT
    assert message.parameters == {"header.media": PHOTO, "body.1": contact.name}


def test_a_media_header_without_a_mapping_is_refused_at_authoring():
    template = image_template()

    with pytest.raises(CampaignError) as refused:
        services.campaign_create(
            name="Parcel photos",
            template=template,
            sender=SenderNumberFactory(account=template.account),
            segment=SegmentFactory(),
            variable_mapping={"body.1": {"source": "contact", "path": "name"}},
        )

    assert refused.value.field_errors == {
        "variable_mapping": [
            "Variable header.media of template 'parcel_photo' (en_US) has no mapping."
        ]
    }


# --- Retrying failures ------------------------------------------------------------------------


def failed(campaign, code: int | None) -> Message:
    return MessageFactory(
        campaign=campaign,
        contact=consented_contacts(1)[0],
        status=MessageStatus.FAILED,
        reason="meta_error",
        error_code=code,
    )


def test_retrying_queues_retryable_failures_again_and_leaves_permanent_ones(
    django_capture_on_commit_callbacks,
):
    campaign = CampaignFactory(status=CampaignStatus.COMPLETED)
    throttled = failed(campaign, 131000)  # "Unknown error": retryable
    never_left = failed(campaign, None)  # a transport failure that ran out of attempts
    unreachable = failed(campaign, 131026)  # "Message undeliverable": permanent

    with django_capture_on_commit_callbacks() as callbacks:
        retried = services.campaign_retry_failed(campaign_id=campaign.pk)

    states = dict(Message.objects.values_list("id", "status"))
    assert states == {
        throttled.pk: MessageStatus.QUEUED,
        never_left.pk: MessageStatus.QUEUED,
        unreachable.pk: MessageStatus.FAILED,
    }
    assert Message.objects.get(pk=throttled.pk).reason == "retry_requested"
    assert retried.status == CampaignStatus.RUNNING
    assert len(callbacks) == 1  # one dispatch, after commit


def test_retrying_only_permanent_failures_is_refused_and_changes_nothing():
    campaign = CampaignFactory(status=CampaignStatus.COMPLETED)
    unreachable = failed(campaign, 131026)

    with pytest.raises(CampaignError, match="No failed message of this campaign is worth retrying"):
        services.campaign_retry_failed(campaign_id=campaign.pk)

    assert Message.objects.get(pk=unreachable.pk).status == MessageStatus.FAILED
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED
