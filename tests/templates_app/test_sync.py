"""Sync mirrors every template Meta lists (all pages): new ones are created, changed ones
updated, and ones Meta no longer lists are marked DELETED, never removed."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from templates_app.models import (
    MessageTemplate,
    TemplateQualityScore,
    TemplateStatus,
    TemplateStatusChange,
)
from templates_app.services import (
    AccountSyncResult,
    TemplateStatusUpdate,
    template_sync,
    template_sync_account,
    template_sync_accounts,
    template_sync_all,
)
from templates_app.tasks import sync_templates
from tests.templates_app.factories import MessageTemplateFactory, WhatsAppAccountFactory

pytestmark = pytest.mark.django_db

WELCOME = [{"type": "BODY", "text": "Welcome to Tidings, {{1}}! We will keep you posted."}]


def statuses(account) -> dict[tuple[str, str], str]:
    return {
        (template.name, template.language): template.status
        for template in MessageTemplate.objects.filter(account=account)
    }


@pytest.fixture
def account():
    return WhatsAppAccountFactory(name="Acme")


@pytest.fixture
def catalogue(account, meta_api):
    """Locally: three approved templates and a draft. On Meta (5 templates, 3 pages of 2): one
    unchanged, one now paused, one gone, plus three new ones (one rejected)."""
    unchanged = MessageTemplateFactory(account=account, name="welcome", components=WELCOME)
    paused = MessageTemplateFactory(account=account, name="order_update", language="en_US")
    gone = MessageTemplateFactory(account=account, name="old_promo")
    draft = MessageTemplateFactory(account=account, name="new_idea", draft=True)

    meta_api.add_template(
        "welcome", "en_US", components=WELCOME, template_id=unchanged.meta_template_id
    )
    meta_api.add_template(
        "order_update",
        "en-US",  # listed with a hyphen: still the same template
        components=paused.components,
        status="PAUSED",
        template_id=paused.meta_template_id,
        quality_score="RED",
    )
    meta_api.add_template("order_update", "pt_BR", body_text="Olá {{1}}, pedido a caminho.")
    meta_api.add_template("welcome", "es", components=WELCOME, category="MARKETING")
    meta_api.add_template(
        "flash_sale", "en_US", status="REJECTED", category="MARKETING", template_id="4242"
    )
    return {"unchanged": unchanged, "paused": paused, "gone": gone, "draft": draft}


def test_sync_creates_updates_and_marks_deleted_across_pages(
    account, meta_api, paged_provider, catalogue
):
    result = template_sync_account(account=account, provider=paged_provider)

    assert len(meta_api.template_page_requests) == 3
    assert (result.created, result.updated, result.deleted, result.unchanged, result.error) == (
        3,
        1,
        1,
        1,
        None,
    )
    assert statuses(account) == {
        ("welcome", "en_US"): TemplateStatus.APPROVED,
        ("order_update", "en_US"): TemplateStatus.PAUSED,
        ("old_promo", "en_US"): TemplateStatus.DELETED,
        ("new_idea", "en_US"): TemplateStatus.DRAFT,
        ("order_update", "pt_BR"): TemplateStatus.APPROVED,
        ("welcome", "es"): TemplateStatus.APPROVED,
        ("flash_sale", "en_US"): TemplateStatus.REJECTED,
    }
    new = MessageTemplate.objects.get(account=account, name="order_update", language="pt_BR")
    assert new.components == [{"type": "BODY", "text": "Olá {{1}}, pedido a caminho."}]
    assert new.last_synced_at is not None
    assert MessageTemplate.objects.get(name="welcome", language="es").category == "MARKETING"
    paused = MessageTemplate.objects.get(pk=catalogue["paused"].pk)
    assert paused.quality_score == TemplateQualityScore.RED


def test_sync_records_every_status_change_in_the_history(account, paged_provider, catalogue):
    result = template_sync_account(account=account, provider=paged_provider)

    changes = {
        (change.template.name, change.template.language): (change.from_status, change.to_status)
        for change in TemplateStatusChange.objects.filter(source="sync").select_related("template")
    }
    assert changes == {
        ("order_update", "en_US"): ("APPROVED", "PAUSED"),
        ("old_promo", "en_US"): ("APPROVED", "DELETED"),
        ("order_update", "pt_BR"): ("", "APPROVED"),
        ("welcome", "es"): ("", "APPROVED"),
        ("flash_sale", "en_US"): ("", "REJECTED"),
    }
    assert TemplateStatusChange.objects.get(to_status="DELETED").reason == (
        "No longer listed by Meta."
    )
    # What the campaigns side needs to pause campaigns after a sync.
    updates = {(u.template.name, u.template.language): u for u in result.status_updates}
    assert updates[("order_update", "en_US")].stops_campaigns
    assert updates[("old_promo", "en_US")].stops_campaigns
    # New templates were never sent: they stop nothing, whatever their status.
    assert not updates[("order_update", "pt_BR")].stops_campaigns
    assert not updates[("flash_sale", "en_US")].stops_campaigns


@pytest.mark.parametrize(
    ("old", "new", "stops"),
    [
        ("APPROVED", "PAUSED", True),
        ("APPROVED", "DISABLED", True),
        ("APPROVED", "DELETED", True),
        ("PAUSED", "DISABLED", True),
        ("DISABLED", "DISABLED", True),  # a repeat still completes a cascade cut short
        ("", "PAUSED", False),  # created by a sync: never sent
        ("PENDING", "REJECTED", False),
        ("PAUSED", "APPROVED", False),
        ("APPROVED", "APPROVED", False),
    ],
)
def test_which_status_updates_stop_campaigns(old, new, stops):
    update = TemplateStatusUpdate(MessageTemplateFactory.build(), old, new, changed=old != new)

    assert update.stops_campaigns is stops


def test_a_second_sync_changes_nothing(account, paged_provider, catalogue):
    template_sync_account(account=account, provider=paged_provider)
    history = TemplateStatusChange.objects.count()

    again = template_sync_account(account=account, provider=paged_provider)

    assert (again.created, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 5)
    assert TemplateStatusChange.objects.count() == history


def test_a_template_back_on_meta_is_no_longer_deleted(account, meta_api, paged_provider):
    template = MessageTemplateFactory(account=account, status=TemplateStatus.DELETED)
    meta_api.add_template(
        "order_update",
        "en_US",
        components=template.components,
        template_id=template.meta_template_id,
    )

    template_sync_account(account=account, provider=paged_provider)

    template.refresh_from_db()
    assert template.status == TemplateStatus.APPROVED


def test_a_listing_that_fails_half_way_writes_nothing(account, meta_api, paged_provider):
    kept = MessageTemplateFactory(account=account, name="kept")
    first_page = {
        "data": [
            {
                "id": "1",
                "name": "brand_new",
                "language": "en_US",
                "status": "APPROVED",
                "category": "UTILITY",
                "components": WELCOME,
            }
        ],
        "paging": {
            "cursors": {"after": "MQ=="},
            "next": f"{meta_api.base_url}/v23.0/{account.waba_id}/message_templates?after=MQ%3D%3D",
        },
    }
    meta_api.respond_next(200, first_page, endpoint="message_templates")
    meta_api.fail_next(80007, message="(#80007) Rate limit issues", endpoint="message_templates")

    result = template_sync_account(account=account, provider=paged_provider)

    assert result.error is not None
    assert result.summary().startswith("Acme: sync failed: ")
    assert list(MessageTemplate.objects.values_list("name", "status")) == [
        ("kept", TemplateStatus.APPROVED)
    ]
    assert kept.status_changes.count() == 0


def test_a_listed_template_without_an_id_is_skipped(account, meta_api, paged_provider):
    page = {"data": [{"name": "no_id", "language": "en_US", "status": "APPROVED"}]}
    meta_api.respond_next(200, page, endpoint="message_templates")

    result = template_sync_account(account=account, provider=paged_provider)

    assert (result.created, result.error) == (0, None)
    assert not MessageTemplate.objects.exists()


def test_an_unknown_status_from_meta_is_kept_as_unknown(account, meta_api, paged_provider):
    meta_api.add_template("odd", "en_US", status="SOMETHING_NEW")

    template_sync_account(account=account, provider=paged_provider)

    odd = MessageTemplate.objects.get(name="odd")
    assert odd.status == TemplateStatus.UNKNOWN
    assert odd.status_changes.get().reason == "Meta status 'SOMETHING_NEW'"


def test_sync_all_syncs_every_account(meta_api, paged_provider):
    first, second = WhatsAppAccountFactory(), WhatsAppAccountFactory()
    meta_api.add_template("welcome", "en_US", components=WELCOME)

    results = template_sync_all(provider=paged_provider)

    assert [result.account for result in results] == [first, second]
    assert MessageTemplate.objects.filter(name="welcome").count() == 2


# --- The configured sync service ---------------------------------------------------------------

SERVICE_CALLS: list[dict] = []


def noting_sync(**arguments) -> list[AccountSyncResult]:
    """A stand-in for the campaigns app's sync service: records its call, notes each result."""
    SERVICE_CALLS.append(arguments)
    results = template_sync_accounts(**arguments)
    for result in results:
        result.notes.append("followed up")
    return results


@pytest.fixture
def noting_service(settings):
    SERVICE_CALLS.clear()
    settings.TIDINGS_TEMPLATE_SYNC_SERVICE = f"{__name__}.noting_sync"
    yield SERVICE_CALLS
    SERVICE_CALLS.clear()


def test_the_project_configures_the_campaigns_apps_sync_service(settings):
    assert settings.TIDINGS_TEMPLATE_SYNC_SERVICE == "campaigns.services.campaigns_sync_templates"


def test_template_sync_runs_the_configured_service(account, paged_provider, noting_service):
    results = template_sync(accounts=[account], provider=paged_provider)

    assert noting_service == [{"accounts": [account], "provider": paged_provider}]
    assert [result.notes for result in results] == [["followed up"]]
    assert results[0].summary() == (
        "Acme: 0 new, 0 updated, 0 deleted on Meta, 0 unchanged; followed up"
    )


def test_without_a_configured_service_the_plain_sync_runs(
    account, meta_api, paged_provider, settings
):
    settings.TIDINGS_TEMPLATE_SYNC_SERVICE = ""
    meta_api.add_template("welcome", "en_US", components=WELCOME)

    [result] = template_sync(provider=paged_provider)

    assert (result.account, result.created, result.notes) == (account, 1, [])


def test_the_command_runs_the_configured_service_for_the_chosen_accounts(
    account, cloud_settings, noting_service
):
    WhatsAppAccountFactory(name="Other")
    out = io.StringIO()

    call_command("sync_templates", "--waba-id", account.waba_id, stdout=out)

    assert [call["accounts"] for call in noting_service] == [[account]]
    assert out.getvalue() == "Acme: 0 new, 0 updated, 0 deleted on Meta, 0 unchanged; followed up\n"


def test_the_periodic_task_runs_the_configured_service(account, cloud_settings, noting_service):
    sync_templates.delay()

    assert noting_service == [{"accounts": None, "provider": None}]


# --- Entry points: command and periodic task --------------------------------------------------


def test_the_management_command_reports_each_account(account, cloud_settings):
    cloud_settings.add_template("welcome", "en_US", components=WELCOME)
    out = io.StringIO()

    call_command("sync_templates", stdout=out)

    assert out.getvalue() == "Acme: 1 new, 0 updated, 0 deleted on Meta, 0 unchanged\n"
    assert MessageTemplate.objects.get().name == "welcome"


def test_the_management_command_refuses_an_unknown_account(account, cloud_settings):
    with pytest.raises(CommandError, match=r"Unknown WABA id\(s\): 999"):
        call_command("sync_templates", "--waba-id", "999")

    assert cloud_settings.requests == []


def test_the_management_command_fails_when_meta_cannot_be_read(account, cloud_settings):
    cloud_settings.fail_next(80007, message="(#80007) Rate limit issues")
    err = io.StringIO()

    with pytest.raises(CommandError, match=r"1 account\(s\) could not be synced\."):
        call_command("sync_templates", "--waba-id", account.waba_id, stderr=err)

    assert err.getvalue().startswith("Acme: sync failed: ")


def test_the_periodic_task_syncs_with_the_configured_provider(account, cloud_settings, settings):
    cloud_settings.add_template("welcome", "en_US", components=WELCOME)

    sync_templates.delay()

    assert MessageTemplate.objects.get().name == "welcome"
    entry = settings.CELERY_BEAT_SCHEDULE["templates-sync"]
    assert entry["task"] == sync_templates.name
    assert entry["schedule"] == 15 * 60


def test_sync_with_the_sandbox_mirrors_its_demo_catalogue(account, settings):
    from whatsapp import reset_provider

    reset_provider()
    try:
        result = template_sync_account(account=account)
    finally:
        reset_provider()

    assert result.error is None
    assert result.created == 12
    assert set(MessageTemplate.objects.values_list("status", flat=True)) == {"APPROVED"}
    assert MessageTemplate.objects.filter(name="loyalty_offer").count() == 3
