"""The dry run: what would be sent, to whom not and why, adding up to the whole audience."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.dry_run import campaign_dry_run
from campaigns.models import Message, ScheduleType
from tests.campaigns.factories import (
    ORDER_UPDATE_MAPPING,
    CampaignFactory,
    ContactFactory,
    MessageTemplateFactory,
    consented_contacts,
)

pytestmark = pytest.mark.django_db

# body.2 comes from the contact's `order` attribute, with no fallback text.
ORDER_FROM_ATTRIBUTE = dict(ORDER_UPDATE_MAPPING) | {
    "body.2": {"source": "attribute", "path": "order"}
}


def test_a_sample_that_cannot_be_personalised_is_excluded_not_counted_as_sent(meta):
    campaign = CampaignFactory(variable_mapping=ORDER_FROM_ATTRIBUTE)
    with_order = consented_contacts(1, attributes={"order": "A-7"})[0]
    without_order = consented_contacts(1)[0]
    ContactFactory()  # never opted in

    result = campaign_dry_run(campaign_id=campaign.pk)

    assert (result.audience, result.would_send) == (3, 1)
    assert result.excluded == {"no_consent": 1, "personalisation_failed": 1}
    assert result.would_send + sum(result.excluded.values()) == result.audience
    assert [sample.contact_id for sample in result.samples] == [with_order.pk]
    skipped = {sample.contact_id: sample.reason for sample in result.skipped_samples}
    assert skipped[without_order.pk] == ("personalisation_failed: body.2 (attribute order) missing")
    assert not Message.objects.exists()
    assert meta.send_count == 0


def test_a_sample_that_does_not_fit_the_template_is_excluded_as_invalid_parameters():
    campaign = CampaignFactory(
        variable_mapping=dict(ORDER_UPDATE_MAPPING)
        | {"body.1": {"source": "attribute", "path": "nickname"}}
    )
    consented_contacts(1, attributes={"nickname": "Ana"})
    too_long = consented_contacts(1, attributes={"nickname": "x" * 1100})[0]

    result = campaign_dry_run(campaign_id=campaign.pk)

    assert (result.audience, result.would_send) == (2, 1)
    assert result.excluded == {"invalid_parameters": 1}
    (skipped,) = result.skipped_samples
    assert skipped.contact_id == too_long.pk
    assert skipped.reason.startswith("invalid_parameters: body: with these values the body is ")


def test_samples_show_when_each_message_would_go_out():
    campaign = CampaignFactory(
        schedule_type=ScheduleType.LOCAL_TIME,
        scheduled_at=dt.datetime(2030, 6, 10, tzinfo=dt.UTC),
        local_send_time=dt.time(10),
    )
    tokyo = consented_contacts(1, timezone="Asia/Tokyo")[0]
    lisbon = consented_contacts(1, timezone="Europe/Lisbon")[0]

    result = campaign_dry_run(campaign_id=campaign.pk)

    assert {sample.contact_id: sample.not_before for sample in result.samples} == {
        tokyo.pk: dt.datetime(2030, 6, 10, 1, tzinfo=dt.UTC),
        lisbon.pk: dt.datetime(2030, 6, 10, 9, tzinfo=dt.UTC),
    }


def test_the_fallback_is_a_family_each_contact_gets_its_language_variant():
    template = MessageTemplateFactory()
    fallback = MessageTemplateFactory(
        account=template.account,
        name="generic_update",
        components=[{"type": "BODY", "text": "Hello {{1}}, there is news about your order."}],
    )
    MessageTemplateFactory(
        account=template.account,
        name="generic_update",
        language="pt_BR",
        components=[{"type": "BODY", "text": "Olá {{1}}, há novidades sobre o seu pedido."}],
    )
    campaign = CampaignFactory(
        template=template,
        variable_mapping=ORDER_FROM_ATTRIBUTE,
        fallback_template=fallback,
        fallback_variable_mapping={"body.1": {"source": "contact", "path": "name"}},
    )
    brazilian = consented_contacts(1, language="pt_BR", name="Joana")[0]
    portuguese = consented_contacts(1, language="pt_PT", name="Rui")[0]
    french = consented_contacts(1, language="fr_FR", name="Zoé")[0]

    result = campaign_dry_run(campaign_id=campaign.pk)

    rendered = {s.contact_id: (s.variant, s.language, s.text) for s in result.samples}
    assert rendered == {
        brazilian.pk: ("fallback", "pt_BR", "Olá Joana, há novidades sobre o seu pedido."),
        portuguese.pk: ("fallback", "pt_BR", "Olá Rui, há novidades sobre o seu pedido."),
        french.pk: ("fallback", "en_US", "Hello Zoé, there is news about your order."),
    }
    assert result.would_send == 3
