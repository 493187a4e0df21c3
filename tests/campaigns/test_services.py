"""Campaign authoring and the state machine."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.errors import CampaignError, IllegalTransition
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, ScheduleType
from campaigns.tasks import tick
from templates_app.models import MessageTemplate, TemplateStatus
from tests.campaigns.factories import (
    ORDER_UPDATE_MAPPING,
    CampaignFactory,
    MessageTemplateFactory,
    SegmentFactory,
    SenderNumberFactory,
    consented_contacts,
)

pytestmark = pytest.mark.django_db


def create(**overrides):
    template = overrides.pop("template", None) or MessageTemplateFactory()
    fields = {
        "name": "Spring orders",
        "template": template,
        "sender": SenderNumberFactory(account=template.account),
        "segment": SegmentFactory(),
        "variable_mapping": dict(ORDER_UPDATE_MAPPING),
    } | overrides
    return services.campaign_create(**fields)


# --- Authoring --------------------------------------------------------------------------------


def test_a_complete_definition_is_saved_as_a_draft_in_the_templates_language():
    campaign = create()

    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.default_language == "en_US"
    assert campaign.effective_throughput == 80


def test_a_mapping_missing_a_variable_is_refused_naming_it():
    mapping = dict(ORDER_UPDATE_MAPPING)
    del mapping["body.2"]

    with pytest.raises(CampaignError) as refused:
        create(variable_mapping=mapping)

    assert refused.value.field_errors == {
        "variable_mapping": ["Variable body.2 of template 'order_update' (en_US) has no mapping."]
    }
    assert not Campaign.objects.exists()


def test_a_mapping_for_a_variable_the_template_does_not_have_is_refused():
    mapping = dict(ORDER_UPDATE_MAPPING) | {"body.9": {"source": "constant", "path": "x"}}

    with pytest.raises(CampaignError) as refused:
        create(variable_mapping=mapping)

    assert refused.value.field_errors["variable_mapping"] == [
        "body.9 is not a variable of template 'order_update'."
    ]


def test_a_malformed_mapping_entry_is_refused_with_the_variable_named():
    mapping = dict(ORDER_UPDATE_MAPPING) | {"body.3": {"source": "telepathy", "path": "x"}}

    with pytest.raises(CampaignError) as refused:
        create(variable_mapping=mapping)

    (message,) = refused.value.field_errors["variable_mapping"]
    assert message.startswith("body.3: ")


def test_every_language_variant_must_be_covered_by_the_mapping():
    english = MessageTemplateFactory()
    MessageTemplateFactory(
        account=english.account,
        language="pt_BR",
        components=[{"type": "BODY", "text": "Oi {{1}}, pedido {{2}} chega {{3}}; {{4}} ok"}],
    )

    with pytest.raises(CampaignError) as refused:
        create(template=english)

    assert refused.value.field_errors["variable_mapping"] == [
        "Variable body.4 of template 'order_update' (pt_BR) has no mapping."
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"schedule_type": ScheduleType.AT}, "scheduled_at"),
        ({"schedule_type": ScheduleType.LOCAL_TIME}, "scheduled_at"),
        ({"quiet_hours_start": dt.time(21)}, "quiet_hours_end"),
        ({"frequency_cap_count": 2}, "frequency_cap_window_hours"),
        ({"throughput_per_second": 500}, "throughput_per_second"),
        ({"segment": None}, "segment"),
        ({"default_language": "de_DE"}, "default_language"),
    ],
)
def test_each_inconsistent_field_is_refused_by_name(overrides, field):
    with pytest.raises(CampaignError) as refused:
        create(**overrides)

    assert field in refused.value.field_errors
    assert not Campaign.objects.exists()


def test_a_sender_of_another_account_is_refused():
    with pytest.raises(CampaignError) as refused:
        create(sender=SenderNumberFactory())

    assert "sender" in refused.value.field_errors


def test_a_fallback_template_must_not_depend_on_a_data_source():
    fallback = MessageTemplateFactory(
        name="generic_update",
        components=[{"type": "BODY", "text": "Hello {{1}}, news about your order."}],
    )
    template = MessageTemplateFactory(account=fallback.account)

    with pytest.raises(CampaignError) as refused:
        create(
            template=template,
            fallback_template=fallback,
            fallback_variable_mapping={"body.1": {"source": "data_source", "path": "crm.name"}},
        )

    assert "fallback_variable_mapping" in refused.value.field_errors


def test_only_draft_and_scheduled_campaigns_can_be_edited():
    campaign = create()
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)

    with pytest.raises(IllegalTransition, match="running campaign cannot be edited"):
        services.campaign_update(campaign=campaign, name="Renamed")

    assert Campaign.objects.get(pk=campaign.pk).name == "Spring orders"


# --- State machine ----------------------------------------------------------------------------


def test_start_plans_dispatches_and_completes(meta, django_capture_on_commit_callbacks):
    campaign = create()
    consented_contacts(3)

    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_start(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert campaign.started_at is not None and campaign.finished_at is not None
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
        MessageStatus.SENT
    }


@pytest.mark.parametrize(
    ("action", "from_status"),
    [
        ("campaign_start", CampaignStatus.RUNNING),
        ("campaign_start", CampaignStatus.COMPLETED),
        ("campaign_pause", CampaignStatus.DRAFT),
        ("campaign_pause", CampaignStatus.PAUSED),
        ("campaign_resume", CampaignStatus.RUNNING),
        ("campaign_resume", CampaignStatus.CANCELLED),
        ("campaign_schedule", CampaignStatus.RUNNING),
        ("campaign_cancel", CampaignStatus.COMPLETED),
        ("campaign_cancel", CampaignStatus.CANCELLED),
    ],
)
def test_illegal_transitions_are_refused_with_a_message_and_change_nothing(action, from_status):
    campaign = create()
    Campaign.objects.filter(pk=campaign.pk).update(status=from_status)

    with pytest.raises(IllegalTransition) as refused:
        getattr(services, action)(campaign_id=campaign.pk)

    assert refused.value.message.startswith("Cannot ")
    assert Campaign.objects.get(pk=campaign.pk).status == from_status


def test_cancel_skips_whatever_has_not_gone_out():
    campaign = CampaignFactory(status=CampaignStatus.PAUSED)
    consented_contacts(2)
    from campaigns.planning import campaign_plan

    campaign_plan(campaign_id=campaign.pk)

    services.campaign_cancel(campaign_id=campaign.pk)

    assert set(Message.objects.filter(campaign=campaign).values_list("status", "reason")) == {
        (MessageStatus.SKIPPED, "cancelled")
    }


def test_a_scheduled_campaign_starts_when_the_beat_finds_it_due(
    meta, django_capture_on_commit_callbacks
):
    due = create(schedule_type=ScheduleType.AT, scheduled_at=timezone.now() + dt.timedelta(hours=1))
    services.campaign_schedule(campaign_id=due.pk)
    Campaign.objects.filter(pk=due.pk).update(scheduled_at=timezone.now() - dt.timedelta(1))
    later = create(
        name="Later",
        schedule_type=ScheduleType.AT,
        scheduled_at=timezone.now() + dt.timedelta(days=2),
    )
    services.campaign_schedule(campaign_id=later.pk)

    with django_capture_on_commit_callbacks(execute=True):
        result = tick()

    assert result["started"] == 1
    assert Campaign.objects.get(pk=due.pk).status == CampaignStatus.COMPLETED
    assert Campaign.objects.get(pk=later.pk).status == CampaignStatus.SCHEDULED


def test_a_paused_template_stops_every_campaign_using_it_with_the_reason():
    running = create()
    other_language = create(name="Other", template=running.template)
    Campaign.objects.filter(pk__in=[running.pk, other_language.pk]).update(
        status=CampaignStatus.RUNNING
    )
    unrelated = create(name="Unrelated", template=MessageTemplateFactory(name="welcome_back"))
    Campaign.objects.filter(pk=unrelated.pk).update(status=CampaignStatus.RUNNING)
    running.template.status = TemplateStatus.PAUSED
    running.template.save()

    stopped = services.campaigns_stop_using_template(
        template=running.template, reason="Template paused by Meta (quality RED)"
    )

    assert sorted(stopped) == sorted([running.pk, other_language.pk])
    running.refresh_from_db()
    assert (running.status, running.status_reason) == (
        CampaignStatus.STOPPED,
        "Template paused by Meta (quality RED)",
    )
    assert Campaign.objects.get(pk=unrelated.pk).status == CampaignStatus.RUNNING


# --- Fallback template ------------------------------------------------------------------------

GENERIC_BODY = [{"type": "BODY", "text": "Hello {{1}}, there is news about your order."}]
GENERIC_MAPPING = {"body.1": {"source": "contact", "path": "name", "fallback": "there"}}


def test_a_fallback_of_another_category_than_the_template_is_refused_naming_the_field():
    template = MessageTemplateFactory()  # UTILITY
    marketing_fallback = MessageTemplateFactory(
        account=template.account,
        name="generic_offer",
        category=MessageTemplate.Category.MARKETING,
        components=GENERIC_BODY,
    )

    with pytest.raises(CampaignError) as refused:
        create(
            template=template,
            fallback_template=marketing_fallback,
            fallback_variable_mapping=GENERIC_MAPPING,
        )

    assert refused.value.field_errors == {
        "fallback_template": [
            "The fallback template 'generic_offer' must be UTILITY like 'order_update', whose "
            "consent is checked (en_US is MARKETING)."
        ]
    }
    assert not Campaign.objects.exists()


def test_a_fallback_family_with_one_variant_of_another_category_is_refused():
    template = MessageTemplateFactory()
    fallback = MessageTemplateFactory(
        account=template.account, name="generic_update", components=GENERIC_BODY
    )
    MessageTemplateFactory(
        account=template.account,
        name="generic_update",
        language="pt_BR",
        category=MessageTemplate.Category.MARKETING,
        components=[{"type": "BODY", "text": "Olá {{1}}, temos novidades."}],
    )

    with pytest.raises(CampaignError) as refused:
        create(
            template=template, fallback_template=fallback, fallback_variable_mapping=GENERIC_MAPPING
        )

    assert refused.value.field_errors["fallback_template"] == [
        "The fallback template 'generic_update' must be UTILITY like 'order_update', whose "
        "consent is checked (pt_BR is MARKETING)."
    ]


def test_the_fallback_mapping_must_cover_every_variant_of_the_fallback_family():
    template = MessageTemplateFactory()
    fallback = MessageTemplateFactory(
        account=template.account, name="generic_update", components=GENERIC_BODY
    )
    MessageTemplateFactory(
        account=template.account,
        name="generic_update",
        language="pt_BR",
        components=[{"type": "BODY", "text": "Olá {{1}}, o seu pedido {{2}} tem novidades."}],
    )

    with pytest.raises(CampaignError) as refused:
        create(
            template=template, fallback_template=fallback, fallback_variable_mapping=GENERIC_MAPPING
        )

    assert refused.value.field_errors == {
        "fallback_variable_mapping": [
            "Variable body.2 of template 'generic_update' (pt_BR) has no mapping."
        ]
    }


def test_a_fallback_of_the_same_category_is_accepted():
    template = MessageTemplateFactory()
    fallback = MessageTemplateFactory(
        account=template.account, name="generic_update", components=GENERIC_BODY
    )

    campaign = create(
        template=template, fallback_template=fallback, fallback_variable_mapping=GENERIC_MAPPING
    )

    assert campaign.fallback_template == fallback


# --- Validity period --------------------------------------------------------------------------


def test_a_validity_period_already_over_is_refused():
    with pytest.raises(CampaignError) as refused:
        create(valid_until=timezone.now() - dt.timedelta(minutes=1))

    assert refused.value.field_errors == {"valid_until": ["The validity period is already over."]}


def test_a_validity_period_ending_before_the_scheduled_time_is_refused():
    at = timezone.now() + dt.timedelta(days=2)

    with pytest.raises(CampaignError) as refused:
        create(schedule_type=ScheduleType.AT, scheduled_at=at, valid_until=at - dt.timedelta(1))

    assert refused.value.field_errors == {
        "valid_until": ["The validity period must end after the scheduled time."]
    }
    assert create(
        schedule_type=ScheduleType.AT, scheduled_at=at, valid_until=at + dt.timedelta(hours=1)
    ).valid_until == at + dt.timedelta(hours=1)


def test_a_local_time_campaigns_validity_is_compared_with_its_last_timezone():
    consented_contacts(1, timezone="Asia/Tokyo")
    consented_contacts(1, timezone="America/Los_Angeles")
    local = {
        "schedule_type": ScheduleType.LOCAL_TIME,
        "scheduled_at": dt.datetime(2030, 6, 10, tzinfo=dt.UTC),
        "local_send_time": dt.time(10),
    }

    # 10:00 in Los Angeles (PDT, UTC-7) is 17:00 UTC: a sale ending at 12:00 UTC misses it.
    with pytest.raises(CampaignError) as refused:
        create(**local, valid_until=dt.datetime(2030, 6, 10, 12, tzinfo=dt.UTC))

    assert refused.value.field_errors == {
        "valid_until": [
            "The validity period must end after 10:00 in America/Los_Angeles "
            "(2030-06-10 17:00 UTC), the audience's last timezone to reach that time; "
            "otherwise those messages all expire."
        ]
    }
    campaign = create(**local, valid_until=dt.datetime(2030, 6, 10, 18, tzinfo=dt.UTC))
    assert campaign.valid_until == dt.datetime(2030, 6, 10, 18, tzinfo=dt.UTC)


def test_a_paused_campaign_past_its_validity_can_still_be_resumed_to_expire_the_rest():
    campaign = create(valid_until=timezone.now() + dt.timedelta(hours=1))
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.PAUSED, valid_until=timezone.now() - dt.timedelta(hours=1)
    )

    resumed = services.campaign_resume(campaign_id=campaign.pk)

    assert resumed.status == CampaignStatus.RUNNING


# --- Required consent, deletion ---------------------------------------------------------------


def test_the_required_consent_scope_follows_the_templates_category():
    assert services.campaign_required_consent_scope(CampaignFactory()) == "utility"
    marketing = CampaignFactory(template=MessageTemplateFactory(named=True))
    assert services.campaign_required_consent_scope(marketing) == "marketing"


def test_a_draft_can_be_deleted():
    campaign = create()

    services.campaign_delete(campaign_id=campaign.pk)

    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    "status", [CampaignStatus.SCHEDULED, CampaignStatus.COMPLETED, CampaignStatus.CANCELLED]
)
def test_only_drafts_can_be_deleted(status):
    campaign = CampaignFactory(status=status)

    with pytest.raises(IllegalTransition) as refused:
        services.campaign_delete(campaign_id=campaign.pk)

    assert refused.value.message.startswith("Only drafts can be deleted; cancel a ")
    assert Campaign.objects.filter(pk=campaign.pk).exists()
