"""Language variants and the "can be used to send" check."""

from __future__ import annotations

import pytest

from templates_app.models import TemplateStatus
from templates_app.selectors import (
    template_family,
    template_is_sendable,
    template_list,
    template_variant_for,
)
from tests.templates_app.factories import MessageTemplateFactory, WhatsAppAccountFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", TemplateStatus.values)
def test_only_approved_templates_can_be_used_to_send(status):
    template = MessageTemplateFactory.build(status=status)

    assert template_is_sendable(template) is (status == TemplateStatus.APPROVED)
    assert template.is_sendable is (status == TemplateStatus.APPROVED)


@pytest.fixture
def family():
    """order_update in en_US, pt_BR, pt_PT (paused) and es; another name and account beside."""
    account = WhatsAppAccountFactory()
    variants = {
        language: MessageTemplateFactory(account=account, language=language, status=status)
        for language, status in [
            ("en_US", TemplateStatus.APPROVED),
            ("pt_BR", TemplateStatus.APPROVED),
            ("pt_PT", TemplateStatus.PAUSED),
            ("es", TemplateStatus.APPROVED),
        ]
    }
    MessageTemplateFactory(account=account, name="welcome", language="fr")
    MessageTemplateFactory(language="fr")  # the same name in another account
    return account, variants


def test_a_family_is_every_language_of_one_name_in_one_account(family):
    account, variants = family

    assert list(template_family(account, "order_update")) == [
        variants["en_US"],
        variants["es"],
        variants["pt_BR"],
        variants["pt_PT"],
    ]


@pytest.mark.parametrize(
    ("contact_language", "expected"),
    [
        ("pt_BR", "pt_BR"),
        ("pt-BR", "pt_BR"),  # Meta and browsers write locales both ways
        ("PT_br", "pt_BR"),
        ("es", "es"),
        ("es_MX", "es"),  # same base language beats the default
        ("pt", "pt_BR"),
        ("pt_PT", "pt_BR"),  # the exact variant is paused: a sendable regional one is used
        ("fr", "en_US"),  # no French order_update: the default language
        (None, "en_US"),
        ("", "en_US"),
    ],
)
def test_each_contact_gets_the_variant_in_its_language_or_the_default(
    family, contact_language, expected
):
    account, variants = family

    chosen = template_variant_for(
        account=account, name="order_update", language=contact_language, default_language="en_US"
    )

    assert chosen == variants[expected]


def test_the_default_language_also_matches_by_base_language(family):
    account, variants = family

    chosen = template_variant_for(
        account=account, name="order_update", language="de", default_language="en_GB"
    )

    assert chosen == variants["en_US"]


def test_no_variant_when_neither_the_language_nor_the_default_exists(family):
    account, _ = family

    assert (
        template_variant_for(
            account=account, name="order_update", language="de", default_language="fr"
        )
        is None
    )
    assert (
        template_variant_for(account=account, name="missing", language="en", default_language="en")
        is None
    )


def test_unsendable_variants_can_be_looked_up_on_request(family):
    account, variants = family

    chosen = template_variant_for(
        account=account,
        name="order_update",
        language="pt_PT",
        default_language="en_US",
        sendable_only=False,
    )

    assert chosen == variants["pt_PT"]


def test_a_bare_base_language_variant_wins_over_regional_ones():
    account = WhatsAppAccountFactory()
    MessageTemplateFactory(account=account, language="en_US")
    bare = MessageTemplateFactory(account=account, language="en")

    chosen = template_variant_for(
        account=account, name="order_update", language="en_AU", default_language="fr"
    )

    assert chosen == bare


def test_listing_filters_by_language_written_either_way(family):
    _, variants = family

    assert list(template_list(language="pt-BR")) == [variants["pt_BR"]]
    assert list(template_list(status=TemplateStatus.PAUSED)) == [variants["pt_PT"]]
