"""The campaign page in the admin: live progress, funnel, and the actions as buttons."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.utils import timezone

from campaigns.admin_progress import FunnelStep, funnel_steps, funnel_svg
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.selectors import progress_from_messages
from tests.campaigns.factories import CampaignFactory, MessageFactory, consented_contacts
from tests.templates_app.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/campaigns/campaign/"


@pytest.fixture(autouse=True)
def _fresh_progress():
    # Progress is cached for a couple of seconds; every test reads its own figures.
    cache.clear()


def login(client, *codenames: str):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


@pytest.fixture
def marketer(client):
    return login(client, "view_campaign", "change_campaign", "add_campaign", "launch_campaign")


@pytest.fixture
def author(client):
    """May edit campaigns but not launch them (four-eyes)."""
    return login(client, "view_campaign", "change_campaign", "add_campaign")


@pytest.fixture
def auditor(client):
    return login(client, "view_campaign")


def running_with(**counts: int) -> Campaign:
    """A running, planned campaign with `counts` messages per status."""
    campaign = CampaignFactory(
        status=CampaignStatus.RUNNING,
        planned_at=timezone.now(),
        started_at=timezone.now() - dt.timedelta(minutes=1),
    )
    now = timezone.now()
    for status, count in counts.items():
        for _ in range(count):
            fields = {}
            if status in {"sent", "delivered", "read"}:
                fields["sent_at"] = now
            if status in {"delivered", "read"}:
                fields["delivered_at"] = now
            if status == "read":
                fields["read_at"] = now
            if status == "failed":
                fields.update(error_code=131026, reason="meta_error")
            if status == "skipped":
                fields["reason"] = "no_consent"
            MessageFactory(campaign=campaign, status=status, **fields)
    return campaign


def page_of(client, campaign: Campaign) -> str:
    response = client.get(f"{CHANGELIST}{campaign.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def buttons(page: str) -> set[str]:
    return set(re.findall(r'data-campaign-action="([a-z_]+)"', page))


# --- Progress and funnel ------------------------------------------------------------------------


def test_the_page_shows_counts_per_status_rate_eta_and_the_funnel(marketer):
    campaign = running_with(queued=2, sent=3, delivered=2, read=1, failed=1, skipped=1)

    page = page_of(marketer, campaign)

    assert 'aria-valuenow="80"' in page  # 8 of 10 settled
    assert "8 of 10 messages settled (80%)" in page
    assert '<tr data-status="queued"><td>' in page
    assert re.search(r'data-status="sent">.*?<td class="campaign-count">3</td>', page, re.S)
    assert "messages/s" in page
    assert "ETA:" in page
    assert f'data-live-url="/admin/campaigns/campaign/{campaign.pk}/progress.json"' in page
    assert 'data-poll-seconds="2"' in page
    for step, count in [("queued", 9), ("sent", 6), ("delivered", 3), ("read", 1)]:
        assert f'data-step="{step}" data-count="{count}"' in page
    assert "campaigns/admin/campaign_live.js" in page


def test_a_draft_is_not_polled_and_shows_no_funnel(marketer):
    campaign = CampaignFactory()

    page = page_of(marketer, campaign)

    assert 'data-poll-seconds=""' in page
    assert "Not planned yet" in page
    assert "campaign-funnel" not in page


def test_the_progress_endpoint_returns_the_figures_and_the_fragment(marketer):
    campaign = running_with(queued=1, sent=2, failed=1)

    response = marketer.get(f"{CHANGELIST}{campaign.pk}/progress.json")

    data = response.json()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert data["status"] == "running"
    assert (data["total"], data["pending"], data["settled"], data["percent"]) == (4, 1, 3, 75)
    assert data["by_status"] == {"queued": 1, "sent": 2, "failed": 1}
    assert data["failed_by_code"] == {"131026": 1}
    assert data["funnel"]["sent"] == 2
    assert data["poll_seconds"] == 2
    assert 'data-campaign-status="running"' in data["html"]
    assert 'data-campaign-action="pause"' in data["html"]


def test_the_progress_endpoint_needs_the_view_permission(client):
    campaign = running_with(queued=1)
    anonymous = client.get(f"{CHANGELIST}{campaign.pk}/progress.json")
    stranger = login(client, "view_contact")

    refused = stranger.get(f"{CHANGELIST}{campaign.pk}/progress.json")

    assert anonymous.status_code == 302
    assert "/admin/login/" in anonymous["Location"]
    assert refused.status_code == 403


def test_the_funnel_fragment_follows_the_counters_as_they_change(marketer):
    campaign = running_with(queued=2)
    before = marketer.get(f"{CHANGELIST}{campaign.pk}/progress.json").json()
    Message.objects.filter(campaign=campaign).update(
        status=MessageStatus.DELIVERED, sent_at=timezone.now(), delivered_at=timezone.now()
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.COMPLETED, finished_at=timezone.now()
    )
    cache.clear()

    after = marketer.get(f"{CHANGELIST}{campaign.pk}/progress.json?part=funnel").json()

    assert (before["percent"], before["status"]) == (0, "running")
    assert (after["percent"], after["status"]) == (100, "completed")
    assert after["poll_seconds"] == 5  # still settling: statuses keep coming in a while
    assert 'data-step="delivered" data-count="2"' in after["html"]
    assert 'data-campaign-status="completed"' in after["html"]


def test_the_funnel_page_breaks_failures_and_skips_down_by_reason(marketer):
    campaign = running_with(sent=2, failed=1, skipped=1)
    MessageFactory(campaign=campaign, status=MessageStatus.FAILED, error_code=None)

    response = marketer.get(f"{CHANGELIST}{campaign.pk}/funnel/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "131026 — Message undeliverable" in page
    assert "No error code (network failure after every attempt)" in page
    assert "No consent for this kind of message" in page
    assert f'data-live-url="/admin/campaigns/campaign/{campaign.pk}/progress.json?part=funnel"' in (
        page
    )


def test_the_funnel_chart_scales_bars_to_the_queued_messages():
    steps = [
        FunnelStep("queued", "Queued", 200),
        FunnelStep("sent", "Sent", 100),
        FunnelStep("replied", "Replied", 0),
    ]

    svg = str(funnel_svg(steps))

    assert svg.startswith("<svg")
    assert 'width="360"' in svg  # the first step is the full width
    assert 'width="180"' in svg  # half of it
    assert 'width="0"' in svg
    assert "Sent 100, Replied 0" in svg
    assert "100 (50%)" in svg


def test_the_funnel_has_a_clicked_step_only_for_tracked_links():
    progress = progress_from_messages(0)

    plain = [step.key for step in funnel_steps(progress, tracked_links=False)]
    tracked = [step.key for step in funnel_steps(progress, tracked_links=True)]

    assert plain == ["queued", "sent", "delivered", "read", "replied"]
    assert tracked == ["queued", "sent", "delivered", "read", "clicked", "replied"]


# --- Buttons ------------------------------------------------------------------------------------


def test_the_buttons_follow_the_state_and_the_launch_permission(marketer, client):
    draft = CampaignFactory()
    running = running_with(sent=1, failed=1)
    completed = running_with(sent=1)
    Campaign.objects.filter(pk=completed.pk).update(status=CampaignStatus.COMPLETED)

    assert buttons(page_of(marketer, draft)) == {
        "dry_run",
        "test_send",
        "schedule",
        "start",
        "cancel",
    }
    assert buttons(page_of(marketer, running)) == {"test_send", "pause", "cancel", "retry_failed"}
    assert buttons(page_of(marketer, completed)) == set()  # nothing failed: nothing to retry
    author = login(client, "view_campaign", "change_campaign")
    assert buttons(page_of(author, draft)) == {"dry_run", "test_send", "cancel"}
    auditor = login(client, "view_campaign")
    assert buttons(page_of(auditor, draft)) == {"dry_run"}


def test_start_asks_for_confirmation_first_and_sends_nothing_until_confirmed(marketer, meta):
    campaign = CampaignFactory()
    consented_contacts(2)
    url = f"{CHANGELIST}{campaign.pk}/do/start/"

    shown = marketer.get(url)
    posted_without_confirming = marketer.post(url)

    for response in (shown, posted_without_confirming):
        page = response.content.decode()
        assert response.status_code == 200
        assert "Start sending this campaign now?" in page
        assert 'name="confirm" value="yes"' in page
        assert "2 contacts now; those without utility consent are skipped." in page
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    assert meta.send_count == 0
    assert not Message.objects.exists()


def test_confirming_start_launches_the_campaign(marketer, meta, django_capture_on_commit_callbacks):
    campaign = CampaignFactory()
    consented_contacts(2)

    with django_capture_on_commit_callbacks(execute=True):
        response = marketer.post(
            f"{CHANGELIST}{campaign.pk}/do/start/", {"confirm": "yes"}, follow=True
        )

    assert response.redirect_chain[-1][0] == f"{CHANGELIST}{campaign.pk}/change/"
    assert [str(m) for m in response.context["messages"]] == [f"Started {campaign.name}."]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED  # tasks run eagerly in the tests
    assert meta.send_count == 2


def test_pause_needs_no_confirmation(marketer):
    campaign = running_with(queued=1)

    response = marketer.post(f"{CHANGELIST}{campaign.pk}/do/pause/", follow=True)

    assert [str(m) for m in response.context["messages"]] == [f"Paused {campaign.name}."]
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED


def test_a_refused_action_is_an_admin_message_not_an_error_page(marketer):
    campaign = running_with(sent=1)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED)

    response = marketer.post(
        f"{CHANGELIST}{campaign.pk}/do/resume/", {"confirm": "yes"}, follow=True
    )

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        f"{campaign.name}: Cannot resume a completed campaign."
    ]
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


def test_a_definition_problem_is_listed_by_field(marketer):
    campaign = CampaignFactory(variable_mapping={})

    response = marketer.post(
        f"{CHANGELIST}{campaign.pk}/do/start/", {"confirm": "yes"}, follow=True
    )

    shown = [str(m) for m in response.context["messages"]]
    assert shown[0] == f"{campaign.name}: The campaign cannot be saved as it is."
    assert shown[1].startswith(f"{campaign.name} — variable_mapping: ")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_launching_without_the_launch_permission_is_refused(author):
    campaign = CampaignFactory()

    for action in ("start", "schedule"):
        response = author.post(f"{CHANGELIST}{campaign.pk}/do/{action}/", {"confirm": "yes"})
        assert response.status_code == 403, action
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_a_view_only_user_cannot_pause_or_cancel(auditor):
    campaign = running_with(queued=1)

    for action in ("pause", "cancel", "retry_failed"):
        response = auditor.post(f"{CHANGELIST}{campaign.pk}/do/{action}/", {"confirm": "yes"})
        assert response.status_code == 403, action
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


def test_an_unknown_action_is_not_found(marketer):
    campaign = CampaignFactory()

    assert marketer.post(f"{CHANGELIST}{campaign.pk}/do/explode/").status_code == 404
    assert marketer.post(f"{CHANGELIST}{campaign.pk}/do/dry_run/").status_code == 404


def test_cancel_confirms_then_skips_what_was_not_sent(marketer):
    campaign = running_with(queued=2, sent=1)

    confirmation = marketer.get(f"{CHANGELIST}{campaign.pk}/do/cancel/").content.decode()
    marketer.post(f"{CHANGELIST}{campaign.pk}/do/cancel/", {"confirm": "yes"})

    assert "2 messages not sent yet." in confirmation
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.CANCELLED
    assert sorted(campaign.messages.values_list("status", flat=True)) == [
        "sent",
        "skipped",
        "skipped",
    ]


def test_the_dry_run_page_offers_the_launch_buttons(marketer, meta):
    campaign = CampaignFactory()
    consented_contacts(1)

    page = marketer.get(f"{CHANGELIST}{campaign.pk}/dry-run/").content.decode()

    assert buttons(page) == {"start", "schedule", "test_send"}
    assert meta.send_count == 0


def test_a_draft_kept_by_a_test_send_is_not_deleted_and_the_page_says_why(marketer, client):
    campaign = CampaignFactory()
    MessageFactory(
        campaign=None,
        test_of_campaign=campaign,
        sender=campaign.sender,
        template=campaign.template,
        category="utility",
        idempotency_key="test:kept",
    )
    deleter = login(client, "view_campaign", "delete_campaign", "change_campaign")

    response = deleter.post(f"{CHANGELIST}{campaign.pk}/delete/", {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert "<title>Cannot delete campaign | Tidings</title>" in response.content.decode()


def test_a_refusal_while_deleting_is_an_admin_message(client, monkeypatch):
    from campaigns import services
    from campaigns.errors import CampaignError

    campaign = CampaignFactory()

    def refuse(*, campaign_id):
        raise CampaignError("A test send was recorded meanwhile; cancel the draft instead.")

    monkeypatch.setattr(services, "campaign_delete", refuse)
    deleter = login(client, "view_campaign", "delete_campaign", "change_campaign")

    response = deleter.post(f"{CHANGELIST}{campaign.pk}/delete/", {"post": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == f"{CHANGELIST}{campaign.pk}/change/"
    assert [str(m) for m in response.context["messages"]] == [
        "A test send was recorded meanwhile; cancel the draft instead."
    ]
    assert Campaign.objects.filter(pk=campaign.pk).exists()
