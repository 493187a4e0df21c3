"""The contact page: consent timeline with what is in force, the 24-hour service window, the
consent link only for those who may record consent; and service refusals as admin messages."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from contacts import services
from contacts.admin.contacts import service_window_text
from contacts.errors import ContactError
from contacts.models import ConsentRecord, Contact, Segment
from tests.contacts.factories import (
    ContactFactory,
    SegmentFactory,
    UserFactory,
    ago,
    opt_in,
    opt_out,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def url(name: str, *args: object) -> str:
    return reverse(f"admin:contacts_{name}", args=args)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def as_admin(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


# --- The 24-hour service window -----------------------------------------------------------------


def test_the_window_is_open_for_24_hours_after_the_person_wrote():
    text = service_window_text(NOW - dt.timedelta(hours=20, minutes=30), now=NOW)

    assert text == ("Open until 2026-03-02 15:30 UTC (3 h 30 min left): free-form replies allowed.")


def test_the_window_is_closed_a_day_after_the_person_wrote():
    text = service_window_text(NOW - dt.timedelta(hours=24), now=NOW)

    assert text == "Closed since 2026-03-02 12:00 UTC; only templates can be sent."


def test_the_window_is_closed_for_someone_who_never_wrote():
    assert service_window_text(None, now=NOW) == (
        "Closed: this person never wrote to us; only templates can be sent."
    )


def test_the_window_closes_in_the_staff_members_timezone():
    with timezone.override(zoneinfo.ZoneInfo("Asia/Tokyo")):
        text = service_window_text(NOW - dt.timedelta(hours=1), now=NOW)

    assert text.startswith("Open until 2026-03-03 20:00 JST (23 h 00 min left)")


def test_the_contact_page_shows_the_window_state(as_admin):
    contact = ContactFactory(last_inbound_at=timezone.now() - dt.timedelta(hours=2))

    page = as_admin.get(url("contact_change", contact.pk)).content.decode()

    assert "24-hour service window" in page
    assert "(21 h " in page or "(22 h 00 min" in page
    assert "free-form replies allowed" in page


def test_the_list_filters_contacts_by_window(as_admin):
    open_window = ContactFactory(last_inbound_at=timezone.now() - dt.timedelta(hours=3))
    closed = ContactFactory(last_inbound_at=timezone.now() - dt.timedelta(hours=25))
    never = ContactFactory()

    opened = as_admin.get(url("contact_changelist"), {"window": "open"}).context["cl"]
    shut = as_admin.get(url("contact_changelist"), {"window": "closed"}).context["cl"]

    assert [contact.pk for contact in opened.result_list] == [open_window.pk]
    assert {contact.pk for contact in shut.result_list} == {closed.pk, never.pk}


# --- Consent timeline ---------------------------------------------------------------------------


def test_the_timeline_marks_the_records_that_decide_the_consent_now(as_admin):
    contact = ContactFactory()
    first = opt_in(contact, "all", captured_at=ago(days=5), evidence="form-one")
    stop = opt_out(contact, "marketing", captured_at=ago(days=2))
    contact.refresh_from_db()

    page = as_admin.get(url("contact_change", contact.pk)).content.decode()

    stop_row = page[page.index(f"/admin/contacts/consentrecord/{stop.pk}/change/") :]
    first_row = page[page.index(f"/admin/contacts/consentrecord/{first.pk}/change/") :]
    assert page.index("now: marketing stopped") < page.index("now: utility allowed")
    assert stop_row.index("now: marketing stopped") < stop_row.index("now: utility allowed")
    assert "now: utility allowed" in first_row
    assert "superseded" not in page
    assert contact.marketing_consent_id is None
    assert contact.utility_consent_id == first.pk


def test_a_superseded_record_says_so(as_admin):
    contact = ContactFactory()
    old = opt_in(contact, "marketing", captured_at=ago(days=5))
    new = opt_in(contact, "marketing", captured_at=ago(days=1), evidence="newer form")

    response = as_admin.get(url("contact_change", contact.pk))

    page = response.content.decode()
    assert page.count("superseded") == 1
    assert f"consent record #{new.pk}" in page
    assert old.pk != new.pk


def test_record_consent_is_offered_only_to_who_may_record_it(client, as_admin):
    contact = ContactFactory()
    link = f'href="{url("consentrecord_add")}?contact={contact.pk}"'
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_contact"))

    admin_page = as_admin.get(url("contact_change", contact.pk)).content.decode()
    client.force_login(viewer)
    viewer_page = client.get(url("contact_change", contact.pk)).content.decode()

    assert link in admin_page
    assert link not in viewer_page
    assert "Record consent" not in viewer_page


def test_an_erased_contact_offers_no_consent_link(as_admin):
    contact = ContactFactory()
    services.contact_erase(contact=contact, erased_by=None)

    page = as_admin.get(url("contact_change", contact.pk)).content.decode()

    assert "Record consent" not in page


# --- Refusals from the services are admin messages ----------------------------------------------


def test_consent_for_a_contact_erased_meanwhile_is_a_message_not_a_403(as_admin, monkeypatch):
    contact = ContactFactory()

    def erased_meanwhile(**values):
        raise ContactError("This contact was erased; consent can no longer be recorded.")

    monkeypatch.setattr(services, "consent_record_opt_in", erased_meanwhile)

    response = as_admin.post(
        url("consentrecord_add"),
        {
            "contact": contact.pk,
            "action": "opt_in",
            "scope": "marketing",
            "source": "in_store",
            "evidence": "paper form 2025-114",
            "captured_at_0": "2025-01-15",
            "captured_at_1": "10:00:00",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert messages_of(response) == ["This contact was erased; consent can no longer be recorded."]
    assert not ConsentRecord.objects.exists()


def test_a_segment_name_taken_meanwhile_is_a_message(as_admin, monkeypatch):
    def taken(**values):
        raise ContactError("A segment with this name exists.", field="name")

    monkeypatch.setattr(services, "segment_create", taken)

    response = as_admin.post(
        url("segment_add"),
        {
            "name": "VIPs",
            "tags_any": "",
            "tags_all": "",
            "languages": "",
            "attribute_rules": "[]",
            "required_consent": "",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert messages_of(response) == ["A segment with this name exists."]
    assert not Segment.objects.exists()


def test_the_import_and_segment_lists_can_be_searched_and_filtered(as_admin):
    SegmentFactory(name="Lisbon shoppers")
    SegmentFactory(name="Madrid shoppers")

    found = as_admin.get(url("segment_changelist"), {"q": "lisbon"}).context["cl"]
    imports = as_admin.get(url("contactimport_changelist"), {"q": "march.csv"})

    assert [segment.name for segment in found.result_list] == ["Lisbon shoppers"]
    assert imports.status_code == 200
    assert Contact.objects.count() == 0
