"""Account-level webhooks: template status and quality, sender numbers, Meta's errors."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignStatus
from templates_app.models import SenderNumber, TemplateQualityScore, TemplateStatus
from tests.campaigns.factories import CampaignFactory
from tests.templates_app.factories import (
    MessageTemplateFactory,
    SenderNumberFactory,
    WhatsAppAccountFactory,
)
from tests.webhooks.helpers import ENTRY_TIME, payload
from webhooks.models import DeliveryStatus, WebhookEvent

pytestmark = pytest.mark.django_db

WABA_ID = "102290129340398"


def template_status(
    event: str,
    *,
    language: str = "en_US",
    reason: str = "NONE",
    title: str = "",
    entry_time: int = ENTRY_TIME,
):
    return payload(
        "template_status_update",
        entry_time=entry_time,
        waba_id=WABA_ID,
        event=event,
        template_name="order_update",
        language=language,
        reason=reason,
        title=title,
    )


@pytest.fixture
def template():
    return MessageTemplateFactory(
        account=WhatsAppAccountFactory(waba_id=WABA_ID), meta_template_id="806312974732579"
    )


def test_a_paused_template_stops_the_running_campaigns_that_use_it(deliver, template):
    running = CampaignFactory(template=template)
    Campaign.objects.filter(pk=running.pk).update(status=CampaignStatus.RUNNING)
    draft = CampaignFactory(template=template)

    delivery = deliver(template_status("PAUSED", language="en-US", title="FIRST_PAUSE"))

    template.refresh_from_db()
    running.refresh_from_db()
    draft.refresh_from_db()
    assert template.status == TemplateStatus.PAUSED
    assert (running.status, running.status_reason) == (
        CampaignStatus.STOPPED,
        "Meta reported template order_update (en-US) PAUSED: FIRST_PAUSE",
    )
    assert draft.status == CampaignStatus.DRAFT
    assert delivery.summary == {"template_status": 1}
    event = WebhookEvent.objects.get()
    assert (event.kind, event.field, event.waba_id, event.delivery_id) == (
        "template_status",
        "message_template_status_update",
        WABA_ID,
        delivery.pk,
    )
    assert event.outcome == (
        f"Template order_update (en-US): APPROVED → PAUSED; stopped campaigns [{running.pk}]"
    )


def test_a_repeated_status_update_changes_nothing(deliver, template):
    body = template_status("PAUSED")
    deliver(body)

    again = deliver(body.replace(b'"event"', b'"event" '))

    assert again.summary == {"duplicate": 1}
    assert template.status_changes.count() == 1
    assert WebhookEvent.objects.count() == 1


def test_a_template_paused_and_approved_twice_ends_approved_with_four_changes(deliver, template):
    # The values of the second pause and approval are byte for byte the first ones; only the
    # entry's time tells them apart.
    steps = ["PAUSED", "APPROVED", "PAUSED", "APPROVED"]

    deliveries = [
        deliver(template_status(event, entry_time=ENTRY_TIME + 60 * number))
        for number, event in enumerate(steps)
    ]

    template.refresh_from_db()
    assert template.status == TemplateStatus.APPROVED
    assert [d.summary for d in deliveries] == [{"template_status": 1}] * 4
    assert list(template.status_changes.order_by("pk").values_list("from_status", "to_status")) == [
        (TemplateStatus.APPROVED, TemplateStatus.PAUSED),
        (TemplateStatus.PAUSED, TemplateStatus.APPROVED),
        (TemplateStatus.APPROVED, TemplateStatus.PAUSED),
        (TemplateStatus.PAUSED, TemplateStatus.APPROVED),
    ]
    assert WebhookEvent.objects.count() == 4


def test_metas_redelivery_of_the_last_approval_is_still_a_duplicate(deliver, template):
    for number, event in enumerate(["PAUSED", "APPROVED", "PAUSED", "APPROVED"]):
        deliver(template_status(event, entry_time=ENTRY_TIME + 60 * number))
    redelivered = template_status("APPROVED", entry_time=ENTRY_TIME + 180).replace(
        b'"event"', b'"event" '
    )

    again = deliver(redelivered)

    assert again.summary == {"duplicate": 1}
    assert template.status_changes.count() == 4
    assert WebhookEvent.objects.count() == 4


def test_a_rejection_keeps_metas_reason_and_stops_nothing(deliver, template):
    template.status = TemplateStatus.PENDING
    template.save()

    deliver(template_status("REJECTED", reason="INVALID_FORMAT"))

    template.refresh_from_db()
    assert (template.status, template.rejection_reason) == (
        TemplateStatus.REJECTED,
        "INVALID_FORMAT",
    )
    assert WebhookEvent.objects.get().outcome == (
        "Template order_update (en_US): PENDING → REJECTED"
    )


def test_a_status_for_a_template_not_known_here_is_kept_for_the_next_sync(deliver):
    delivery = deliver(template_status("APPROVED"))

    assert delivery.status == DeliveryStatus.PROCESSED
    assert WebhookEvent.objects.get().outcome == (
        "Template order_update (en_US) is not known here yet; the next sync brings it"
    )


def test_a_quality_update_is_stored_on_the_template(deliver, template):
    deliver(
        payload(
            "template_quality_update", waba_id=WABA_ID, template_name="order_update", quality="RED"
        )
    )

    template.refresh_from_db()
    assert template.quality_score == TemplateQualityScore.RED
    assert WebhookEvent.objects.get().outcome == "Quality GREEN → RED"


@pytest.fixture
def number():
    return SenderNumberFactory(
        account=WhatsAppAccountFactory(waba_id=WABA_ID), display_phone_number="+1 555-078-3881"
    )


def phone_update(event: str, current_limit: str = "", *, entry_time: int = ENTRY_TIME) -> bytes:
    return payload(
        "phone_number_quality_update",
        entry_time=entry_time,
        waba_id=WABA_ID,
        display_phone_number="15550783881",
        event=event,
        current_limit=current_limit,
    )


def test_a_throughput_upgrade_raises_the_numbers_cap_and_tier(deliver, number):
    other = SenderNumberFactory(account=number.account, display_phone_number="+1 555-000-0000")

    deliver(phone_update("THROUGHPUT_UPGRADE", "TIER_UNLIMITED"))

    number.refresh_from_db()
    other.refresh_from_db()
    assert (number.throughput_per_second, number.messaging_limit_tier) == (
        1000,
        SenderNumber.MessagingLimitTier.TIER_UNLIMITED,
    )
    # The messaging limit belongs to the portfolio; throughput to the number.
    assert (other.throughput_per_second, other.messaging_limit_tier) == (
        80,
        SenderNumber.MessagingLimitTier.TIER_UNLIMITED,
    )
    assert WebhookEvent.objects.get().outcome == (
        f"THROUGHPUT_UPGRADE: sender numbers [{number.pk}]: throughput 1000/s, "
        "messaging limit TIER_UNLIMITED"
    )


def test_a_flagged_number_is_rated_red_and_a_new_tier_is_stored(deliver, number):
    deliver(phone_update("FLAGGED", "TIER_10K"))

    number.refresh_from_db()
    assert (number.quality_rating, number.messaging_limit_tier) == (
        SenderNumber.QualityRating.RED,
        SenderNumber.MessagingLimitTier.TIER_10K,
    )


def test_a_number_flagged_again_after_being_unflagged_is_rated_red_again(deliver, number):
    steps = ["FLAGGED", "UNFLAGGED", "FLAGGED"]

    deliveries = [
        deliver(phone_update(event, "TIER_10K", entry_time=ENTRY_TIME + 60 * step))
        for step, event in enumerate(steps)
    ]

    number.refresh_from_db()
    assert number.quality_rating == SenderNumber.QualityRating.RED
    assert [d.summary for d in deliveries] == [{"phone_number_update": 1}] * 3
    assert WebhookEvent.objects.count() == 3


def test_an_update_for_a_number_we_do_not_have_changes_nothing_and_is_kept(deliver):
    SenderNumberFactory(account=WhatsAppAccountFactory(waba_id=WABA_ID))

    delivery = deliver(phone_update("THROUGHPUT_UPGRADE"))

    assert delivery.status == DeliveryStatus.PROCESSED
    assert SenderNumber.objects.get().throughput_per_second == 80
    assert WebhookEvent.objects.get().outcome.endswith("no change")


def test_an_account_restriction_is_kept_visible(deliver, number):
    delivery = deliver(payload("account_update", waba_id=WABA_ID))

    number.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    assert number.messaging_limit_tier == SenderNumber.MessagingLimitTier.TIER_250
    event = WebhookEvent.objects.get()
    assert (event.kind, event.outcome) == (
        "account_update",
        "Recorded: account_update ACCOUNT_RESTRICTION",
    )
    assert event.payload["restriction_info"][0]["restriction_type"] == (
        "RESTRICTED_BIZ_INITIATED_MESSAGING"
    )


def test_metas_own_errors_are_kept_visible(deliver):
    delivery = deliver(payload("value_errors"))

    assert delivery.status == DeliveryStatus.PROCESSED
    assert WebhookEvent.objects.get().outcome == (
        "Meta error 131000: Something went wrong Unsupported webhook payload"
    )
