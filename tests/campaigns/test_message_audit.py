"""The message audit for compliance: one CSV row per outbound message with what triggered it,
the consent it relied on and every status, filtered, streamed and read-only."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.http import StreamingHttpResponse

from campaigns import audit
from campaigns.audit import COLUMNS
from campaigns.models import LawfulBasis, Message, MessageStatus, MessageStatusEvent
from contacts.models import ConsentAction, ConsentRecord, ConsentScope, ConsentSource, Contact
from contacts.roles import COMPLIANCE_GROUP
from tests.campaigns.factories import CampaignFactory, ContactFactory, MessageFactory, opt_in
from tests.templates_app.factories import UserFactory

pytestmark = pytest.mark.django_db

AUDIT = "/admin/campaigns/message/audit/"
T0 = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def rows_of(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def auditor(client):
    """Read-only: may view messages (what the Compliance role has), nothing else."""
    user = UserFactory(username="auditor", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_message"))
    client.force_login(user)
    return client


@pytest.fixture
def launcher():
    return UserFactory(username="maria")


@pytest.fixture
def delivered(launcher) -> Message:
    """A campaign message that relied on a web-form opt-in, sent and delivered."""
    campaign = CampaignFactory(
        name="Spring orders",
        purpose="Order updates for spring orders",
        lawful_basis=LawfulBasis.CONTRACT,
        created_by=launcher,
    )
    contact = ContactFactory(phone="+447911000001")
    opt_in(contact, ConsentScope.UTILITY, captured_at=at(-86400))
    consent = ConsentRecord.objects.get(contact=contact)
    message = MessageFactory(
        campaign=campaign,
        contact=contact,
        consent_record=consent,
        triggered_by=launcher,
        status=MessageStatus.DELIVERED,
        wamid="wamid.SPRING1",
        queued_at=at(0),
        sending_at=at(60),
        sent_at=at(61),
        delivered_at=at(65),
    )
    Message.objects.filter(pk=message.pk).update(created_at=at(0))
    MessageStatusEvent.objects.create(message=message, status="sent", occurred_at=at(61))
    MessageStatusEvent.objects.create(message=message, status="delivered", occurred_at=at(65))
    message.refresh_from_db()
    return message


def test_a_campaign_messages_row_names_its_trigger_consent_template_and_history(
    auditor, delivered, launcher
):
    consent = delivered.consent_record

    response = auditor.get(AUDIT, {"download": "1"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="message-audit-')
    (row,) = rows_of(response)
    assert list(row) == COLUMNS
    assert row == {
        "message_id": str(delivered.pk),
        "created_at": "2026-05-04T09:00:00+00:00",
        "trigger": "campaign",
        "triggered_by": "maria",
        "campaign_id": str(delivered.campaign_id),
        "campaign": "Spring orders",
        "test_send": "no",
        "purpose": "Order updates for spring orders",
        "lawful_basis": "Performance of a contract",
        "contact_id": str(delivered.contact_id),
        "phone": "+447911000001",
        "consent_record_id": str(consent.pk),
        "consent_action": "opt_in",
        "consent_scope": "utility",
        "consent_source": "web_form",
        "consent_evidence": "signup-form-7",
        "consent_captured_at": "2026-05-03T09:00:00+00:00",
        "template": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "status": "delivered",
        "reason": "",
        "error_code": "",
        "error_title": "",
        "wamid": "wamid.SPRING1",
        "queued_at": "2026-05-04T09:00:00+00:00",
        "sending_at": "2026-05-04T09:01:00+00:00",
        "sent_at": "2026-05-04T09:01:01+00:00",
        "delivered_at": "2026-05-04T09:01:05+00:00",
        "read_at": "",
        "failed_at": "",
        "replied_at": "",
        "status_history": "sent 2026-05-04T09:01:01+00:00; delivered 2026-05-04T09:01:05+00:00",
    }


def test_failures_api_sends_and_test_sends_say_what_triggered_them(auditor, delivered, launcher):
    campaign = delivered.campaign
    failed = MessageFactory(
        campaign=campaign,
        status=MessageStatus.FAILED,
        error_code=131026,
        error_title="Message undeliverable",
        reason="=HYPERLINK(1)",
        failed_at=at(70),
    )
    MessageStatusEvent.objects.create(
        message=failed, status="failed", occurred_at=at(70), error_code=131026
    )
    api = Message.objects.create(
        contact=delivered.contact,
        sender=campaign.sender,
        template=campaign.template,
        category="UTILITY",
        idempotency_key="order-4711",
        triggered_by=launcher,
    )
    test = Message.objects.create(
        test_of_campaign=campaign,
        contact=delivered.contact,
        sender=campaign.sender,
        template=campaign.template,
        category="UTILITY",
        idempotency_key="test:1",
    )

    rows = {int(row["message_id"]): row for row in rows_of(auditor.get(AUDIT, {"download": "1"}))}

    assert [rows[failed.pk][k] for k in ("trigger", "status", "error_code", "error_title")] == [
        "campaign",
        "failed",
        "131026",
        "Message undeliverable",
    ]
    assert rows[failed.pk]["reason"] == "'=HYPERLINK(1)"  # never run as a formula
    assert rows[failed.pk]["status_history"] == "failed 2026-05-04T09:01:10+00:00 (131026)"
    assert [rows[api.pk][k] for k in ("trigger", "triggered_by", "campaign", "purpose")] == [
        "API",
        "maria",
        "",
        "",
    ]
    assert [rows[test.pk][k] for k in ("trigger", "campaign_id", "campaign", "test_send")] == [
        "test send",
        "",
        "Spring orders",
        "yes",
    ]
    assert rows[test.pk]["lawful_basis"] == "Performance of a contract"


def test_the_export_filters_by_creation_days_campaign_and_status(auditor, delivered):
    other = CampaignFactory(name="Summer")
    day_before = MessageFactory(campaign=delivered.campaign, status=MessageStatus.SENT)
    last_second = MessageFactory(campaign=delivered.campaign, status=MessageStatus.SENT)
    next_day = MessageFactory(campaign=delivered.campaign, status=MessageStatus.DELIVERED)
    summer = MessageFactory(campaign=other, status=MessageStatus.DELIVERED)
    for message, created in (
        (day_before, dt.datetime(2026, 5, 3, 23, 59, 59, tzinfo=dt.UTC)),
        (last_second, dt.datetime(2026, 5, 5, 23, 59, 59, tzinfo=dt.UTC)),
        (next_day, dt.datetime(2026, 5, 6, 0, 0, tzinfo=dt.UTC)),
        (summer, at(10)),
    ):
        Message.objects.filter(pk=message.pk).update(created_at=created)

    def ids(**query) -> list[int]:
        response = auditor.get(AUDIT, {"download": "1", **query})
        return [int(row["message_id"]) for row in rows_of(response)]

    in_range = {"created_from": "2026-05-04", "created_to": "2026-05-05"}
    assert ids(**in_range) == [delivered.pk, last_second.pk, summer.pk]
    assert ids(**in_range, campaign=delivered.campaign_id) == [delivered.pk, last_second.pk]
    assert ids(**in_range, status="delivered") == [delivered.pk, summer.pk]
    assert ids(campaign=other.pk) == [summer.pk]
    assert ids(created_from="2026-05-06") == [next_day.pk]


def test_a_reversed_range_is_a_form_error_and_downloads_nothing(auditor, delivered):
    response = auditor.get(
        AUDIT, {"download": "1", "created_from": "2026-05-05", "created_to": "2026-05-04"}
    )

    assert response.status_code == 200
    assert not response.streaming
    assert "The end of the range is before its start." in response.content.decode()


def test_the_form_page_lists_the_filters_and_columns(auditor):
    page = auditor.get(AUDIT).content.decode()

    for field in ("created_from", "created_to", "campaign", "status"):
        assert f'name="{field}"' in page
    assert "consent_evidence" in page


def test_without_the_view_permission_the_audit_is_refused(client, delivered):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_campaign"))
    client.force_login(user)

    assert client.get(AUDIT, {"download": "1"}).status_code == 403


def test_the_ledger_links_to_the_audit_and_offers_no_write_controls(auditor, delivered):
    listing = auditor.get("/admin/campaigns/message/").content.decode()
    detail = auditor.get(f"/admin/campaigns/message/{delivered.pk}/change/").content.decode()

    assert f'href="{AUDIT}"' in listing
    assert 'name="_save"' not in detail
    assert "deletelink" not in detail


def test_the_selected_messages_export_the_same_rows(auditor, delivered):
    MessageFactory(campaign=delivered.campaign)

    response = auditor.post(
        "/admin/campaigns/message/",
        {"action": "export_audit", "_selected_action": [delivered.pk]},
    )

    (row,) = rows_of(response)
    assert row["message_id"] == str(delivered.pk)
    assert row["status_history"].startswith("sent 2026-05-04T09:01:01")


# --- Streaming ----------------------------------------------------------------------------------


def _ledger(campaign, count: int, first_phone: int) -> None:
    """`count` delivered messages, each with its own contact, opt-in and two status events."""
    contacts = Contact.objects.bulk_create(
        Contact(phone=f"+4479{first_phone + n:08d}", name=f"Customer {n}") for n in range(count)
    )
    consents = ConsentRecord.objects.bulk_create(
        ConsentRecord(
            contact=contact,
            action=ConsentAction.OPT_IN,
            scope=ConsentScope.ALL,
            source=ConsentSource.IMPORT,
            evidence=f"import row {n}",
            captured_at=T0,
        )
        for n, contact in enumerate(contacts)
    )
    messages = Message.objects.bulk_create(
        Message(
            campaign=campaign,
            contact=contact,
            consent_record=consent,
            sender=campaign.sender,
            template=campaign.template,
            category="UTILITY",
            idempotency_key=f"campaign:{campaign.pk}:{contact.pk}",
            status=MessageStatus.DELIVERED,
            queued_at=T0,
            sending_at=at(1),
            sent_at=at(2),
            delivered_at=at(3),
        )
        for contact, consent in zip(contacts, consents, strict=True)
    )
    MessageStatusEvent.objects.bulk_create(
        MessageStatusEvent(message=message, status=status, occurred_at=at(seconds))
        for message in messages
        for status, seconds in (("sent", 2), ("delivered", 3))
    )


def _live_messages() -> int:
    # `type(...) is`, not isinstance: the heap may hold dead weak proxies, which raise on
    # isinstance.
    return sum(1 for obj in gc.get_objects() if type(obj) is Message)


def test_an_export_holds_one_chunk_of_messages_at_a_time_whatever_its_size(auditor, monkeypatch):
    monkeypatch.setattr(audit, "CHUNK_SIZE", 40)
    campaign = CampaignFactory()
    _ledger(campaign, 400, first_phone=10_000_000)
    gc.collect()
    before = _live_messages()

    response = auditor.get(AUDIT, {"download": "1", "campaign": campaign.pk})
    assert isinstance(response, StreamingHttpResponse)
    lines, most_alive = 0, 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        if lines % 20 == 0:
            most_alive = max(most_alive, _live_messages() - before)

    assert lines == 401
    # Ten chunks of 40 went by; without collecting garbage, at most the current chunk (and the
    # one being replaced) is alive: a materialised export, or rows kept alive by reference
    # cycles, would hold all 400.
    assert 0 < most_alive <= 2 * 40


def test_the_compliance_group_may_view_campaigns_and_messages_and_change_nothing():
    compliance = Group.objects.get(name=COMPLIANCE_GROUP)
    granted = set(
        compliance.permissions.filter(content_type__app_label="campaigns").values_list(
            "codename", flat=True
        )
    )

    assert {"view_campaign", "view_message", "view_messagestatusevent"} <= granted
    assert {codename for codename in granted if not codename.startswith("view_")} == set()


def test_a_compliance_member_downloads_the_audit(client, delivered):
    officer = UserFactory(username="officer", is_staff=True)
    officer.groups.add(Group.objects.get(name=COMPLIANCE_GROUP))
    client.force_login(officer)

    (row,) = rows_of(client.get(AUDIT, {"download": "1"}))

    assert row["message_id"] == str(delivered.pk)
