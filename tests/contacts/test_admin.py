"""The contacts admin: forms via services, a read-only ledger, erasure, import, export, roles."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts import services
from contacts.errors import ContactError
from contacts.models import ConsentRecord, Contact, ContactImport, Segment
from tests.contacts.factories import (
    ConsentRecordFactory,
    ContactFactory,
    SegmentFactory,
    ago,
    opt_in,
)

pytestmark = pytest.mark.django_db


def url(name: str, *args: object) -> str:
    return reverse(f"admin:contacts_{name}", args=args)


def csv_lines(response) -> list[str]:
    return b"".join(response.streaming_content).decode().splitlines()


@pytest.fixture
def as_admin(client, admin_user_account):
    client.force_login(admin_user_account)
    return client


@pytest.fixture
def as_compliance(client, compliance_user):
    compliance_user.is_staff = True
    compliance_user.save()
    client.force_login(compliance_user)
    return client


def test_every_contacts_page_loads(as_admin):
    contact = ContactFactory(tags=["vip"])
    record = opt_in(contact, "marketing")
    segment = SegmentFactory(tags_any=["vip"])
    contact_import = ContactImport.objects.create(file_name="a.csv", default_region="GB")

    for page in [
        url("contact_changelist"),
        url("contact_change", contact.pk),
        url("contact_add"),
        url("consentrecord_changelist"),
        url("consentrecord_change", record.pk),
        url("consentrecord_add") + f"?contact={contact.pk}",
        url("consentrecord_export"),
        url("segment_changelist"),
        url("segment_change", segment.pk),
        url("contactimport_changelist"),
        url("contactimport_change", contact_import.pk),
        url("contactimport_add"),
        url("tag_changelist"),
    ]:
        assert as_admin.get(page).status_code == 200, page


def test_the_contact_page_shows_the_consent_timeline_and_current_consent(as_admin):
    contact = ContactFactory()
    opt_in(contact, "marketing", captured_at=ago(days=3), evidence="form-one")
    record = opt_in(contact, "utility", captured_at=ago(days=1), evidence="form-two")

    page = as_admin.get(url("contact_change", contact.pk)).content.decode()

    assert page.index("form-two") < page.index("form-one")  # newest first
    assert f"consent record #{record.pk}" in page


def test_searching_a_number_as_people_write_it_finds_the_contact(as_admin):
    ContactFactory(phone="+447911123456", name="Found")
    ContactFactory(name="Not found")

    page = as_admin.get(url("contact_changelist"), {"q": "07911 123456"}).content.decode()

    assert "Found" in page
    assert "Not found" not in page


def test_adding_a_contact_normalises_it_and_a_bad_phone_is_a_form_error(as_admin):
    bad = as_admin.post(url("contact_add"), {"phone": "12", "attributes": "{}"})
    good = as_admin.post(
        url("contact_add"),
        {"phone": "07911 123456", "name": "Ann", "tags": "VIP, news", "attributes": "{}"},
    )

    assert bad.status_code == 200
    assert "Phone &#x27;12&#x27;" in bad.content.decode()
    assert good.status_code == 302
    contact = Contact.objects.get()
    assert (contact.phone, contact.name) == ("+447911123456", "Ann")
    assert sorted(contact.tags.values_list("name", flat=True)) == ["news", "vip"]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ("[1, 2]", "Attributes must be an object with text keys."),
        ('{"": 1}', "Attributes must be an object with text keys."),
        ('{"k": "a\\u0000b"}', "attributes contains the NUL character"),
    ],
)
def test_bad_attributes_in_the_admin_are_a_form_error_and_store_nothing(
    as_admin, attributes, message
):
    response = as_admin.post(
        url("contact_add"), {"phone": "+447911123456", "attributes": attributes, "tags": ""}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["attributes"][0].startswith(message)
    assert Contact.objects.count() == 0


def test_a_rule_only_the_service_applies_is_an_admin_message_not_a_server_error(
    as_admin, monkeypatch
):
    def refuse(**values):
        raise ContactError("Another contact was just saved with the same phone.", field="phone")

    monkeypatch.setattr(services, "contact_create", refuse)

    response = as_admin.post(
        url("contact_add"), {"phone": "+447911123456", "attributes": "{}", "tags": ""}, follow=True
    )

    assert response.status_code == 200
    assert [str(message) for message in response.context["messages"]] == [
        "Another contact was just saved with the same phone."
    ]
    assert Contact.objects.count() == 0


def test_consent_recorded_in_the_admin_goes_through_the_service(as_admin, admin_user_account):
    contact = ContactFactory()

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
            "policy_version": "v3",
        },
    )

    assert response.status_code == 302
    record = ConsentRecord.objects.get()
    assert (record.recorded_by, record.recorded_via, record.evidence) == (
        admin_user_account,
        "admin",
        "paper form 2025-114",
    )
    contact.refresh_from_db()
    assert contact.marketing_consent == record


def test_an_opt_in_without_evidence_is_a_form_error_in_the_admin(as_admin):
    contact = ContactFactory()

    response = as_admin.post(
        url("consentrecord_add"),
        {
            "contact": contact.pk,
            "action": "opt_in",
            "scope": "marketing",
            "source": "admin",
            "evidence": "",
            "captured_at_0": "2025-01-15",
            "captured_at_1": "10:00:00",
        },
    )

    assert response.status_code == 200
    assert "An opt-in needs evidence" in response.content.decode()
    assert ConsentRecord.objects.count() == 0


def test_consent_records_cannot_be_changed_or_deleted_even_by_a_superuser(as_admin):
    record = ConsentRecordFactory(evidence="original")

    change = as_admin.post(url("consentrecord_change", record.pk), {"evidence": "edited"})
    delete = as_admin.post(url("consentrecord_delete", record.pk), {"post": "yes"})

    assert change.status_code == 403
    assert delete.status_code == 403
    record.refresh_from_db()
    assert record.evidence == "original"


def test_the_erase_action_asks_for_confirmation_then_erases(as_admin):
    contact = ContactFactory(phone="+447911123456")
    selection = {"action": "erase_contacts", "_selected_action": [contact.pk]}

    confirm = as_admin.post(url("contact_changelist"), selection)
    contact.refresh_from_db()
    assert confirm.status_code == 200
    assert "irreversible" in confirm.content.decode()
    assert contact.erased_at is None

    done = as_admin.post(url("contact_changelist"), {**selection, "confirm": "yes"})

    assert done.status_code == 302
    contact.refresh_from_db()
    assert (contact.phone, contact.erased_at is not None) == (None, True)


def test_uploading_a_csv_imports_it_and_offers_the_rejected_rows(
    as_admin, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile("crm.csv", b"phone,name\n+447911000001,Ann\n12,Bob\n")

    with django_capture_on_commit_callbacks(execute=True):
        response = as_admin.post(url("contactimport_add"), {"file": upload, "default_region": "GB"})

    contact_import = ContactImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("contactimport_change", contact_import.pk)
    page = as_admin.get(response["Location"]).content.decode()
    assert "2 of 2 rows (100%)" in page
    assert "Download 1 rejected rows" in page
    rejected = as_admin.get(url("contactimport_rejected", contact_import.pk))
    assert csv_lines(rejected) == [
        "row,phone,name,reason",
        "3,12,Bob,Phone '12' is too short.",
    ]


def test_an_upload_that_is_not_csv_is_a_form_error_and_stores_nothing(as_admin):
    upload = SimpleUploadedFile("crm.csv", b"name,email\nAnn,ann@example.com\n")

    response = as_admin.post(url("contactimport_add"), {"file": upload, "default_region": "GB"})

    assert response.status_code == 200
    assert "&#x27;phone&#x27; column" in response.content.decode()
    assert ContactImport.objects.count() == 0


def test_the_consent_audit_export_filters_by_dates_scope_action_and_source(as_admin):
    contact = ContactFactory(phone="+447911123456")
    ConsentRecordFactory(
        contact=contact, scope="marketing", source="web_form", captured_at=ago(days=40)
    )
    inside = ConsentRecordFactory(
        contact=contact, scope="marketing", source="web_form", captured_at=ago(days=5)
    )
    ConsentRecordFactory(
        contact=contact, scope="utility", source="web_form", captured_at=ago(days=5)
    )
    ConsentRecordFactory(
        contact=contact, scope="marketing", source="checkout", captured_at=ago(days=5)
    )
    start = ago(days=10).date().isoformat()
    end = ago(days=0).date().isoformat()

    response = as_admin.get(
        url("consentrecord_export"),
        {
            "download": "1",
            "captured_from": start,
            "captured_to": end,
            "scope": "marketing",
            "action": "opt_in",
            "source": "web_form",
        },
    )

    lines = csv_lines(response)
    assert response["Content-Type"] == "text/csv"
    assert lines[0].startswith("record_id,contact_id,phone,erased_phone_hash,action,scope,source")
    assert len(lines) == 2
    assert lines[1].startswith(f"{inside.pk},{contact.pk},+447911123456,,opt_in,marketing,web_form")


# --- The Compliance role in the admin -----------------------------------------------------------


def test_compliance_sees_contacts_and_consent_but_can_change_nothing(as_compliance):
    contact = ContactFactory(name="Ann")
    record = opt_in(contact, "marketing")
    segment = SegmentFactory(name="Seg")

    assert as_compliance.get(url("contact_change", contact.pk)).status_code == 200
    assert as_compliance.get(url("consentrecord_change", record.pk)).status_code == 200
    assert as_compliance.get(url("consentrecord_export")).status_code == 200
    for page in [
        url("contact_add"),
        url("consentrecord_add"),
        url("segment_add"),
        url("contactimport_add"),
        url("segment_delete", segment.pk),
    ]:
        assert as_compliance.get(page).status_code == 403, page
    edit = as_compliance.post(
        url("contact_change", contact.pk), {"phone": contact.phone, "name": "Changed"}
    )
    rename = as_compliance.post(url("segment_change", segment.pk), {"name": "Changed"})

    assert edit.status_code == 403
    assert rename.status_code == 403
    contact.refresh_from_db()
    segment.refresh_from_db()
    assert (contact.name, segment.name) == ("Ann", "Seg")
    assert Segment.objects.count() == 1


def test_compliance_is_not_offered_the_erase_action_and_gets_403_trying(as_compliance):
    contact = ContactFactory()

    page = as_compliance.get(url("contact_changelist")).content.decode()
    attempt = as_compliance.post(
        url("contact_changelist"),
        {"action": "erase_contacts", "_selected_action": [contact.pk], "confirm": "yes"},
    )

    assert "erase_contacts" not in page
    assert attempt.status_code == 403
    contact.refresh_from_db()
    assert contact.erased_at is None
