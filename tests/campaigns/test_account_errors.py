"""Account-level errors stop as much sending as they concern, and API messages wait, not retry
forever: their validity (24 h by default) ends what Meta keeps refusing.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from campaigns.dispatch import dispatch_chunk
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.planning import campaign_plan
from campaigns.transactional import message_send_now, message_send_transactional
from templates_app.models import TemplateStatus
from tests.campaigns.conftest import sent_message_ids
from tests.campaigns.factories import (
    CampaignFactory,
    MessageTemplateFactory,
    SenderNumberFactory,
    consented_contacts,
)

pytestmark = pytest.mark.django_db

ORDER_UPDATE_VALUES = {
    "header.1": "A-1",
    "body.1": "Ana",
    "body.2": "A-1",
    "body.3": "Friday",
    "button.0": "A-1",
}


def running(**fields) -> Campaign:
    campaign = CampaignFactory(**fields)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    campaign_plan(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def api_message(template, sender, **extra) -> Message:
    return message_send_transactional(
        contact=consented_contacts(1)[0],
        template=template,
        sender=sender,
        values=dict(ORDER_UPDATE_VALUES),
        idempotency_key=f"api:test:{uuid.uuid4().hex}",
        fingerprint="body",
        **extra,
    ).message


@pytest.fixture
def waba(meta):
    """One WABA with two numbers, a campaign running on each, a queued API message, and a
    campaign running on another WABA."""
    template = MessageTemplateFactory()
    first, second = (
        SenderNumberFactory(account=template.account),
        SenderNumberFactory(account=template.account),
    )
    consented_contacts(2)
    elsewhere_template = MessageTemplateFactory()
    return {
        "hit": running(template=template, sender=first),
        "same_waba": running(template=template, sender=second),
        "other_waba": running(
            template=elsewhere_template,
            sender=SenderNumberFactory(account=elsewhere_template.account),
        ),
        "api_message": api_message(template, second),
    }


def status_of(campaign: Campaign) -> tuple[str, str]:
    campaign.refresh_from_db()
    return campaign.status, campaign.status_reason


@pytest.mark.parametrize("code", [190, 131042, 368, 131031])
def test_an_account_wide_error_stops_every_running_campaign_of_the_waba_with_the_reason(
    meta, waba, code
):
    meta.fail_next(code, endpoint="messages")

    dispatch_chunk(campaign_id=waba["hit"].pk, chunk_size=1)

    for name in ("hit", "same_waba"):
        status, reason = status_of(waba[name])
        assert status == CampaignStatus.STOPPED
        assert reason.startswith(f"Meta error {code}:")
    assert status_of(waba["other_waba"])[0] == CampaignStatus.RUNNING
    held = Message.objects.get(pk=waba["api_message"].pk)
    assert held.status == MessageStatus.QUEUED
    assert held.reason == f"account_error_{code}"
    assert held.not_before > timezone.now() + dt.timedelta(minutes=4)
    assert meta.send_count == 1


def test_an_error_of_one_number_stops_only_the_campaigns_on_that_number(meta, waba):
    meta.fail_next(131048, endpoint="messages")  # spam rate limit: this number is restricted

    dispatch_chunk(campaign_id=waba["hit"].pk, chunk_size=1)

    assert status_of(waba["hit"])[0] == CampaignStatus.STOPPED
    assert status_of(waba["same_waba"])[0] == CampaignStatus.RUNNING
    assert Message.objects.get(pk=waba["api_message"].pk).reason == ""


def test_a_template_error_stops_only_the_campaign_that_hit_it(meta, waba):
    meta.fail_next(132015, endpoint="messages")

    dispatch_chunk(campaign_id=waba["hit"].pk, chunk_size=1)

    assert status_of(waba["hit"])[0] == CampaignStatus.STOPPED
    assert status_of(waba["same_waba"])[0] == CampaignStatus.RUNNING


# --- API messages ---------------------------------------------------------------------------


@pytest.fixture
def order_update(meta):
    template = MessageTemplateFactory()
    return template, SenderNumberFactory(account=template.account)


def test_an_api_message_is_valid_for_a_day_unless_the_request_says_otherwise(
    meta, order_update, settings
):
    settings.TIDINGS_TRANSACTIONAL_VALIDITY_SECONDS = 24 * 3600
    template, sender = order_update
    before = timezone.now()

    default = api_message(template, sender)
    short = api_message(template, sender, valid_for=dt.timedelta(minutes=10))

    assert default.expires_at - before == pytest.approx(
        dt.timedelta(hours=24), abs=dt.timedelta(seconds=5)
    )
    assert short.expires_at - before == pytest.approx(
        dt.timedelta(minutes=10), abs=dt.timedelta(seconds=5)
    )


def test_an_api_message_meta_refuses_for_a_paused_template_is_held_not_failed(meta, order_update):
    template, sender = order_update
    message = api_message(template, sender)
    meta.fail_next(132015, endpoint="messages")

    status = message_send_now(message_id=message.pk)

    message.refresh_from_db()
    assert (status, message.reason, message.attempts) == (
        MessageStatus.QUEUED,
        "account_error_132015",
        0,
    )
    assert message.not_before > timezone.now() + dt.timedelta(minutes=4)


@pytest.mark.parametrize("code", [132000, 132016])
def test_an_api_message_meta_will_never_accept_fails_with_the_code(meta, order_update, code):
    template, sender = order_update
    message = api_message(template, sender)
    meta.fail_next(code, endpoint="messages")

    status = message_send_now(message_id=message.pk)

    message.refresh_from_db()
    assert (status, message.error_code) == (MessageStatus.FAILED, code)
    assert meta.send_count == 1


def test_an_api_message_whose_template_was_paused_expires_instead_of_going_out_days_later(
    meta, order_update
):
    # Given an API message whose template Meta paused after it was accepted
    template, sender = order_update
    message = api_message(template, sender, valid_for=dt.timedelta(hours=24))
    template.status = TemplateStatus.PAUSED
    template.save()

    # When it is tried now, and again once the template is approved but the day has passed
    held = message_send_now(message_id=message.pk)
    template.status = TemplateStatus.APPROVED
    template.save()
    Message.objects.filter(pk=message.pk).update(
        not_before=timezone.now(), expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    later = message_send_now(message_id=message.pk)

    # Then it waited without calling Meta, and then expired unsent
    assert (held, later) == (MessageStatus.QUEUED, MessageStatus.EXPIRED)
    assert meta.send_count == 0


def test_an_api_message_held_by_an_account_error_expires_when_the_hold_outlasts_its_validity(
    meta, order_update
):
    template, sender = order_update
    message = api_message(template, sender, valid_for=dt.timedelta(minutes=2))
    meta.fail_next(190, endpoint="messages")

    status = message_send_now(message_id=message.pk)

    message.refresh_from_db()
    assert (status, message.reason) == (MessageStatus.EXPIRED, "account_error_190")
    assert meta.send_count == 1


def test_a_held_api_message_goes_out_once_the_account_works_again(meta, order_update):
    template, sender = order_update
    message = api_message(template, sender)
    meta.fail_next(190, endpoint="messages")
    message_send_now(message_id=message.pk)
    Message.objects.filter(pk=message.pk).update(not_before=timezone.now())

    status = message_send_now(message_id=message.pk)

    assert status == MessageStatus.SENT
    assert sent_message_ids(meta) == [message.pk]
