"""The contacts API: auth, the error format, filters, writes through services, roles."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.models import ConsentRecord, Contact, ContactImport, Segment
from tests.contacts.factories import (
    ConsentRecordFactory,
    ContactFactory,
    SegmentFactory,
    UserFactory,
    ago,
    opt_in,
)

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/contacts/"


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"type", "errors"}
    assert len(body["errors"]) == 1
    return body["errors"][0]


# --- Authentication and permissions -------------------------------------------------------------


def test_anonymous_requests_get_401_in_the_standard_error_format(api_as):
    response = api_as(None).get(CONTACTS)

    assert response.status_code == 401
    assert response.json()["type"] == "client_error"
    assert error_of(response)["code"] == "not_authenticated"


def test_a_user_without_contact_permissions_gets_403(api_as):
    response = api_as(UserFactory()).get(CONTACTS)

    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


@pytest.fixture
def write_endpoints():
    contact = ContactFactory()
    segment = SegmentFactory()
    return [
        ("post", CONTACTS, {"phone": "+447911123456"}),
        ("put", f"{CONTACTS}{contact.pk}/", {"name": "X"}),
        ("patch", f"{CONTACTS}{contact.pk}/", {"name": "X"}),
        ("post", f"{CONTACTS}bulk-upsert/", {"contacts": [{"phone": "+447911123456"}]}),
        ("post", f"{CONTACTS}{contact.pk}/erase/", {}),
        (
            "post",
            f"{CONTACTS}{contact.pk}/consents/",
            {"action": "opt_out", "scope": "all"},
        ),
        ("post", "/api/v1/segments/", {"name": "New"}),
        ("put", f"/api/v1/segments/{segment.pk}/", {"name": "Renamed"}),
        ("patch", f"/api/v1/segments/{segment.pk}/", {"name": "Renamed"}),
        ("delete", f"/api/v1/segments/{segment.pk}/", None),
        ("post", "/api/v1/contact-imports/", None),
    ]


def test_a_compliance_user_can_read_but_gets_403_on_every_write(
    api_as, compliance_user, write_endpoints
):
    client = api_as(compliance_user)
    contact = Contact.objects.first()
    assert client.get(CONTACTS).status_code == 200
    assert client.get(f"{CONTACTS}{contact.pk}/consents/").status_code == 200
    assert client.get("/api/v1/segments/").status_code == 200
    before = (Contact.objects.count(), ConsentRecord.objects.count(), Segment.objects.count())

    for method, url, body in write_endpoints:
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.status_code)
        assert error_of(response)["code"] == "permission_denied"

    after = (Contact.objects.count(), ConsentRecord.objects.count(), Segment.objects.count())
    assert after == before
    assert Contact.objects.get(pk=contact.pk).erased_at is None


def test_marketing_cannot_erase(api_as, marketing_user):
    contact = ContactFactory()

    response = api_as(marketing_user).post(f"{CONTACTS}{contact.pk}/erase/")

    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.erased_at is None


# --- Contacts -----------------------------------------------------------------------------------


def test_create_normalises_and_returns_the_contact(api_as, marketing_user):
    response = api_as(marketing_user).post(
        CONTACTS,
        {
            "phone": "07911 123456",
            "name": "Ann",
            "language": "en-gb",
            "timezone": "Europe/London",
            "attributes": {"tier": "gold"},
            "tags": ["VIP"],
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    contact = Contact.objects.get()
    assert body["id"] == contact.pk
    assert (body["phone"], body["language"], body["tags"]) == ("+447911123456", "en_GB", ["vip"])
    assert body["consent"] == {"marketing": None, "utility": None}


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"phone": "12345"}, "phone", "invalid_phone"),
        ({"phone": "+447911123456", "timezone": "Moon/Base"}, "timezone", "invalid"),
        ({"phone": "+447911123456", "tags": "vip"}, "tags", "not_a_list"),
        ({"name": "No phone"}, "phone", "required"),
    ],
)
def test_create_with_bad_input_is_a_400_naming_the_field(api_as, marketing_user, body, attr, code):
    response = api_as(marketing_user).post(CONTACTS, body, format="json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    error = error_of(response)
    assert (error["attr"], error["code"]) == (attr, code)
    assert Contact.objects.count() == 0


def test_a_duplicate_phone_is_a_400_on_the_phone_field(api_as, marketing_user):
    existing = ContactFactory(phone="+447911123456")

    response = api_as(marketing_user).post(CONTACTS, {"phone": "447911123456"}, format="json")

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "unique",
        "detail": f"Contact #{existing.pk} already has this phone.",
        "attr": "phone",
    }
    assert Contact.objects.count() == 1


def test_patch_changes_the_given_fields(api_as, marketing_user):
    contact = ContactFactory(name="Ann", language="en_GB")

    response = api_as(marketing_user).patch(
        f"{CONTACTS}{contact.pk}/", {"language": "pt_BR"}, format="json"
    )

    assert response.status_code == 200
    contact.refresh_from_db()
    assert (contact.name, contact.language) == ("Ann", "pt_BR")


def test_contacts_cannot_be_deleted(api_as, admin_user_account):
    contact = ContactFactory()

    response = api_as(admin_user_account).delete(f"{CONTACTS}{contact.pk}/")

    assert response.status_code == 405
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_list_filters_by_tag_segment_consent_and_phone(api_as, marketing_user):
    vip = ContactFactory(name="vip", tags=["vip"], phone="+447911123456")
    consented = ContactFactory(name="consented")
    opt_in(consented, "marketing")
    ContactFactory(name="other")
    segment = SegmentFactory(tags_any=["vip"])
    client = api_as(marketing_user)

    def names(query: str) -> list[str]:
        response = client.get(f"{CONTACTS}?{query}")
        assert response.status_code == 200
        return [item["name"] for item in response.json()["results"]]

    assert names("tag=VIP") == ["vip"]
    assert names(f"segment={segment.pk}") == ["vip"]
    assert names("consent=marketing") == ["consented"]
    assert names("consent=utility") == []
    assert names("phone=07911%20123456") == [vip.name]
    assert sorted(names("")) == ["consented", "other", "vip"]


def test_an_unreadable_phone_filter_is_a_400(api_as, marketing_user):
    response = api_as(marketing_user).get(f"{CONTACTS}?phone=abc")

    assert response.status_code == 400
    assert error_of(response)["attr"] == "phone"


def test_bulk_upsert_returns_one_result_per_item(api_as, marketing_user):
    ContactFactory(phone="+447911000001", name="Old")

    response = api_as(marketing_user).post(
        f"{CONTACTS}bulk-upsert/",
        {
            "contacts": [
                {"phone": "+447911000001", "name": "New"},
                {"phone": "+447911000002"},
                {"phone": "bad"},
            ]
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert [(item["index"], item["outcome"]) for item in body["results"]] == [
        (0, "updated"),
        (1, "created"),
        (2, "rejected"),
    ]
    assert body["results"][2]["reason"].startswith("Phone 'bad'")
    assert body["counts"] == {
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "merged": 0,
        "rejected": 1,
    }


def test_bulk_upsert_of_more_than_1000_contacts_is_a_400(api_as, marketing_user):
    items = [{"phone": f"+4479110{n:05d}"} for n in range(1001)]

    response = api_as(marketing_user).post(
        f"{CONTACTS}bulk-upsert/", {"contacts": items}, format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["attr"] == "contacts"
    assert Contact.objects.count() == 0


def test_erase_by_someone_allowed_to(api_as, privacy_officer):
    contact = ContactFactory(phone="+447911123456")

    first = api_as(privacy_officer).post(f"{CONTACTS}{contact.pk}/erase/")
    second = api_as(privacy_officer).post(f"{CONTACTS}{contact.pk}/erase/")

    assert first.status_code == 200
    assert first.json()["phone"] is None
    assert first.json()["erased_at"] is not None
    assert second.status_code == 400
    assert error_of(second)["code"] == "already_erased"


# --- Consents -----------------------------------------------------------------------------------


def test_consents_are_listed_newest_first(api_as, compliance_user):
    contact = ContactFactory()
    older = ConsentRecordFactory(contact=contact, captured_at=ago(days=9))
    newer = ConsentRecordFactory(contact=contact, captured_at=ago(days=1))
    ConsentRecordFactory()  # someone else's

    response = api_as(compliance_user).get(f"{CONTACTS}{contact.pk}/consents/")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [newer.pk, older.pk]


def test_an_opt_in_is_recorded_with_who_and_how(api_as, marketing_user):
    contact = ContactFactory()

    response = api_as(marketing_user).post(
        f"{CONTACTS}{contact.pk}/consents/",
        {
            "action": "opt_in",
            "scope": "marketing",
            "source": "web_form",
            "evidence": "form-submission-77",
            "captured_at": "2025-02-03T10:00:00Z",
        },
        format="json",
        HTTP_USER_AGENT="crm-sync/2.1",
    )

    assert response.status_code == 201
    record = ConsentRecord.objects.get()
    assert response.json()["id"] == record.pk
    assert (record.recorded_by, record.recorded_via, record.user_agent) == (
        marketing_user,
        "API token",
        "crm-sync/2.1",
    )
    assert record.ip_address == "127.0.0.1"
    contact.refresh_from_db()
    assert contact.marketing_consent == record


def test_an_opt_in_without_evidence_is_a_400_and_nothing_is_recorded(api_as, marketing_user):
    contact = ContactFactory()

    response = api_as(marketing_user).post(
        f"{CONTACTS}{contact.pk}/consents/",
        {"action": "opt_in", "scope": "marketing", "captured_at": "2025-02-03T10:00:00Z"},
        format="json",
    )

    assert response.status_code == 400
    assert error_of(response)["attr"] == "evidence"
    assert ConsentRecord.objects.count() == 0


def test_consent_records_have_no_update_or_delete(api_as, admin_user_account):
    record = ConsentRecordFactory()
    client = api_as(admin_user_account)
    url = f"{CONTACTS}{record.contact_id}/consents/"

    assert client.put(url, {}, format="json").status_code == 405
    assert client.patch(url, {}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert client.delete(f"{url}{record.pk}/").status_code == 404
    assert ConsentRecord.objects.filter(pk=record.pk).exists()


def test_consents_of_an_unknown_contact_are_a_404(api_as, marketing_user):
    response = api_as(marketing_user).get(f"{CONTACTS}999999/consents/")

    assert response.status_code == 404


# --- Segments -----------------------------------------------------------------------------------


def test_segments_crud_and_count(api_as, marketing_user):
    client = api_as(marketing_user)
    ContactFactory(tags=["vip"])
    ContactFactory(tags=["vip"])
    ContactFactory()

    created = client.post(
        "/api/v1/segments/",
        {"name": "VIPs", "tags_any": ["VIP"], "required_consent": ""},
        format="json",
    )
    segment_id = created.json()["id"]
    count = client.get(f"/api/v1/segments/{segment_id}/count/")
    renamed = client.patch(f"/api/v1/segments/{segment_id}/", {"name": "Top"}, format="json")
    deleted = client.delete(f"/api/v1/segments/{segment_id}/")

    assert created.status_code == 201
    assert created.json()["tags_any"] == ["vip"]
    assert count.json() == {"count": 2}
    assert renamed.json()["name"] == "Top"
    assert deleted.status_code == 204
    assert Segment.objects.count() == 0


def test_a_bad_segment_definition_is_a_400_naming_the_field(api_as, marketing_user):
    response = api_as(marketing_user).post(
        "/api/v1/segments/",
        {"name": "Bad", "languages": ["english please"]},
        format="json",
    )

    assert response.status_code == 400
    assert error_of(response)["attr"] == "languages"
    assert Segment.objects.count() == 0


# --- Imports ------------------------------------------------------------------------------------


def test_a_csv_uploaded_through_the_api_is_imported(
    api_as, marketing_user, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile(
        "crm.csv", b"phone,name\n+447911000001,Ann\nnope,Bob\n", content_type="text/csv"
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(marketing_user).post(
            "/api/v1/contact-imports/", {"file": upload}, format="multipart"
        )

    assert response.status_code == 201
    contact_import = ContactImport.objects.get()
    assert (contact_import.status, contact_import.created_count, contact_import.rejected_count) == (
        "completed",
        1,
        1,
    )
    detail = api_as(marketing_user).get(f"/api/v1/contact-imports/{contact_import.pk}/")
    assert detail.json()["status"] == "completed"
    rejected = api_as(marketing_user).get(
        f"/api/v1/contact-imports/{contact_import.pk}/rejected-rows/"
    )
    assert rejected["Content-Type"] == "text/csv"
    assert b"".join(rejected.streaming_content).decode().splitlines() == [
        "row,phone,name,reason",
        "3,nope,Bob,\"Phone 'nope' contains characters other than digits, spaces, '+', '-', '(' "
        "and ')'.\"",
    ]


def test_a_file_that_is_not_csv_is_a_400_on_the_file_field(api_as, marketing_user):
    upload = SimpleUploadedFile("crm.xlsx", b"PK\x03\x04rest-of-zip")

    response = api_as(marketing_user).post(
        "/api/v1/contact-imports/", {"file": upload}, format="multipart"
    )

    assert response.status_code == 400
    assert error_of(response)["attr"] == "file"
    assert ContactImport.objects.count() == 0


# --- Values of the wrong type or with NUL characters are 400s, never 500s ------------------------


@pytest.mark.parametrize(
    ("item", "attr"),
    [
        ({"phone": ["+447911123456"]}, "contacts.0.phone"),
        ({"phone": {"number": "+447911123456"}}, "contacts.0.phone"),
        ({"phone": "+447911123456", "name": {"x": 1}}, "contacts.0.name"),
        ({"phone": "+447911123456", "external_id": ["a"]}, "contacts.0.external_id"),
        ({"phone": "+447911123456", "whatsapp_user_id": True}, "contacts.0.whatsapp_user_id"),
        ({"phone": "+447911123456", "name": "a\u0000b"}, "contacts.0.name"),
        ({"phone": "+447911123456", "tags": ["vip\u0000"]}, "contacts.0.tags"),
        ({"phone": "+447911123456", "tags": "vip,\u0000"}, "contacts.0.tags"),
        ({"phone": "+447911123456", "tags": [1, 2]}, "contacts.0.tags"),
        ({"phone": "+447911123456", "attributes": {"k": "a\u0000b"}}, "contacts.0.attributes"),
        ({"phone": "+447911123456", "attributes": {"k": ["\u0000"]}}, "contacts.0.attributes"),
        (
            {"phone": "+447911123456", "consent": {"action": "opt_out", "evidence": {"a": 1}}},
            "contacts.0.consent.evidence",
        ),
    ],
)
def test_a_bulk_upsert_item_of_the_wrong_shape_is_a_400_naming_it_and_stores_nothing(
    api_as, marketing_user, item, attr
):
    response = api_as(marketing_user).post(
        f"{CONTACTS}bulk-upsert/",
        {"contacts": [item, {"phone": "+14155550100"}]},
        format="json",
    )

    assert response.status_code == 400
    assert error_of(response)["attr"] == attr
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"phone": "+447911123456", "attributes": {"k": "a\u0000b"}}, "attributes"),
        ({"phone": "+447911123456", "attributes": {"k\u0000": 1}}, "attributes"),
        ({"phone": "+447911123456", "attributes": {"k": {"deep": ["\u0000"]}}}, "attributes"),
        ({"phone": "+447911123456", "name": "a\u0000b"}, "name"),
        ({"phone": ["+447911123456"]}, "phone"),
    ],
)
def test_creating_a_contact_with_a_nul_character_or_wrong_type_is_a_400(
    api_as, marketing_user, body, attr
):
    response = api_as(marketing_user).post(CONTACTS, body, format="json")

    assert response.status_code == 400
    assert error_of(response)["attr"] == attr
    assert Contact.objects.count() == 0


def test_a_segment_rule_with_a_nul_character_is_a_400(api_as, marketing_user):
    response = api_as(marketing_user).post(
        "/api/v1/segments/",
        {
            "name": "Nul",
            "attribute_rules": [{"key": "k", "operator": "equals", "value": "a\u0000"}],
        },
        format="json",
    )

    assert response.status_code == 400
    assert error_of(response)["attr"] == "attribute_rules.0.value"
    assert Segment.objects.count() == 0


def test_bulk_upsert_items_with_consent_need_the_add_consentrecord_permission(api_as):
    editor = UserFactory(username="editor")
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_contact", "change_contact"])
    )
    consent = {
        "action": "opt_in",
        "scope": "marketing",
        "evidence": "form-1",
        "captured_at": "2025-01-02T00:00:00Z",
    }
    client = api_as(editor)

    refused = client.post(
        f"{CONTACTS}bulk-upsert/",
        {"contacts": [{"phone": "+447911000001", "consent": consent}]},
        format="json",
    )
    allowed = client.post(
        f"{CONTACTS}bulk-upsert/", {"contacts": [{"phone": "+447911000002"}]}, format="json"
    )

    assert refused.status_code == 403
    assert "contacts.add_consentrecord" in error_of(refused)["detail"]
    assert allowed.status_code == 200
    assert list(Contact.objects.values_list("phone", flat=True)) == ["+447911000002"]
    assert ConsentRecord.objects.count() == 0


def test_bulk_upsert_with_consent_by_marketing_is_recorded(api_as, marketing_user):
    response = api_as(marketing_user).post(
        f"{CONTACTS}bulk-upsert/",
        {
            "contacts": [
                {
                    "phone": "+447911000001",
                    "whatsapp_user_id": "GB.77",
                    "consent": {
                        "action": "opt_in",
                        "scope": "marketing",
                        "evidence": "form-1",
                        "captured_at": "2025-01-02T00:00:00Z",
                    },
                }
            ]
        },
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["counts"]["created"] == 1
    contact = Contact.objects.get()
    assert (contact.whatsapp_user_id, contact.wa_id) == ("GB.77", "447911000001")
    assert ConsentRecord.objects.get().recorded_by == marketing_user


def test_bulk_upsert_refuses_a_consent_dated_year_one_like_the_consent_endpoint(
    api_as, marketing_user
):
    consent = {
        "action": "opt_in",
        "scope": "marketing",
        "evidence": "x",
        "captured_at": "0001-01-01T00:00:00+05:00",
    }
    client = api_as(marketing_user)
    contact = ContactFactory()

    bulk = client.post(
        f"{CONTACTS}bulk-upsert/",
        {"contacts": [{"phone": "+447911000001", "consent": consent}]},
        format="json",
    )
    single = client.post(f"{CONTACTS}{contact.pk}/consents/", consent, format="json")

    assert bulk.status_code == 200
    assert bulk.json()["results"][0]["outcome"] == "rejected"
    assert "before 2000" in bulk.json()["results"][0]["reason"]
    assert single.status_code == 400
    assert error_of(single)["attr"] == "captured_at"
    assert ConsentRecord.objects.count() == 0
    assert not Contact.objects.filter(phone="+447911000001").exists()
