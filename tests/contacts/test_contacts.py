"""Contact services: create and update with validation, bulk upsert, WhatsApp matching, inbound."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps

from contacts import services
from contacts.errors import ContactError
from contacts.models import ConsentRecord, Contact
from contacts.selectors import tags_by_contact
from tests.contacts.factories import ContactFactory, ago

pytestmark = pytest.mark.django_db


def test_a_contact_is_created_with_normalised_values():
    contact = services.contact_create(
        phone="07911 123456",
        name="  Ann Lee ",
        external_id="CRM-1",
        language="pt-br",
        timezone="america/sao_paulo",
        attributes={"tier": "gold"},
        tags=["VIP", "vip", " News "],
    )

    stored = Contact.objects.get()
    assert stored == contact
    assert (stored.phone, stored.wa_id, stored.name, stored.language, stored.timezone) == (
        "+447911123456",
        "447911123456",
        "Ann Lee",
        "pt_BR",
        "America/Sao_Paulo",
    )
    assert tags_by_contact([stored.pk]) == {stored.pk: ["news", "vip"]}
    assert (stored.marketing_consent, stored.utility_consent) == (None, None)


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"phone": "12"}, "phone", "Phone '12'"),
        ({"phone": ""}, "phone", "needs a phone number"),
        ({"phone": "+447911123456", "language": "english"}, "language", "not a locale"),
        ({"phone": "+447911123456", "timezone": "GMT+1"}, "timezone", "not an IANA timezone"),
        ({"phone": "+447911123456", "attributes": ["x"]}, "attributes", "object"),
        ({"phone": "+447911123456", "tags": ["x" * 65]}, "tags", "longer than 64"),
        ({"phone": ["+447911123456"]}, "phone", "must be text, not a list"),
        ({"phone": "+447911123456", "name": {"x": 1}}, "name", "must be text, not an object"),
        ({"phone": "+447911123456", "external_id": ["a"]}, "external_id", "not a list"),
        ({"phone": "+447911123456", "name": "a\x00b"}, "name", "NUL character"),
        ({"phone": "+447911123456", "tags": ["vip\x00"]}, "tags", "NUL character"),
        ({"phone": "+447911123456", "attributes": {"k": "a\x00"}}, "attributes", "NUL"),
        ({"phone": "+447911123456", "attributes": {"k\x00": 1}}, "attributes", "NUL"),
        ({"phone": "+447911123456", "attributes": {"k": [{"x": "\x00"}]}}, "attributes", "NUL"),
    ],
)
def test_invalid_values_are_refused_with_the_field_and_nothing_is_stored(values, field, message):
    with pytest.raises(ContactError) as error:
        services.contact_create(**values)

    assert error.value.field == field
    assert message in error.value.message
    assert Contact.objects.count() == 0


def test_a_second_contact_with_the_same_phone_is_refused():
    existing = ContactFactory(phone="+447911123456")

    with pytest.raises(ContactError) as error:
        services.contact_create(phone="07911 123456")

    assert (error.value.field, error.value.code) == ("phone", "unique")
    assert error.value.message == f"Contact #{existing.pk} already has this phone."
    assert Contact.objects.count() == 1


def test_updating_changes_only_the_given_fields_and_replaces_tags():
    contact = ContactFactory(name="Ann", language="en_GB", tags=["old"])

    services.contact_update(contact=contact, language="es", tags=["new"])

    contact.refresh_from_db()
    assert (contact.name, contact.language) == ("Ann", "es")
    assert tags_by_contact([contact.pk]) == {contact.pk: ["new"]}


# --- Bulk upsert --------------------------------------------------------------------------------


def test_bulk_upsert_reports_one_outcome_per_item():
    existing = ContactFactory(phone="+447911000001", name="Old")
    items = [
        {"phone": "+447911000001", "name": "New"},
        {"phone": "+447911000002", "tags": ["vip"]},
        {"phone": "nope"},
        {
            "phone": "+447911000003",
            "consent": {
                "action": "opt_in",
                "scope": "marketing",
                "evidence": "checkout-8812",
                "captured_at": "2025-03-01T09:30:00Z",
            },
        },
        {"phone": "+447911000004", "consent": {"action": "opt_in", "scope": "marketing"}},
        {"phone": "+447911000001"},
    ]

    outcomes = services.contacts_bulk_upsert(items=items)

    assert [(outcome.row, outcome.outcome) for outcome in outcomes] == [
        (0, "merged"),  # the same person as item 5, which carries the outcome
        (1, "created"),
        (2, "rejected"),
        (3, "created"),
        (4, "rejected"),
        (5, "updated"),
    ]
    assert outcomes[0].contact_id == existing.pk == outcomes[5].contact_id
    assert outcomes[0].reason == "The same person as item 5; merged into it."
    assert outcomes[4].reason == "An opt-in needs evidence."
    record = ConsentRecord.objects.get()
    assert (record.contact.phone, record.source, record.evidence) == (
        "+447911000003",
        "api",
        "checkout-8812",
    )
    assert Contact.objects.filter(phone="+447911000004").count() == 0


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"phone": ["+447911000001"]}, "Phone must be text, not a list."),
        ({"phone": {"n": 1}}, "Phone must be text, not an object."),
        ({"phone": "+447911000001", "name": {"x": 1}}, "name must be text, not an object."),
        ({"phone": "+447911000001", "external_id": ["a"]}, "external_id must be text, not a list."),
        ({"phone": "+447911000001", "name": "a\x00"}, "name contains the NUL character"),
        ({"phone": "+447911000001", "tags": ["a\x00"]}, "tags contains the NUL character"),
    ],
)
def test_a_bulk_item_of_the_wrong_type_is_rejected_and_the_others_go_ahead(item, reason):
    outcomes = services.contacts_bulk_upsert(items=[item, {"phone": "+447911000002"}])

    assert [(outcome.row, outcome.outcome) for outcome in outcomes] == [
        (0, "rejected"),
        (1, "created"),
    ]
    assert outcomes[0].reason.startswith(reason)
    assert list(Contact.objects.values_list("phone", flat=True)) == ["+447911000002"]


def test_bulk_upsert_refuses_more_than_a_thousand_items():
    with pytest.raises(ContactError, match="At most 1000"):
        services.contacts_bulk_upsert(items=[{"phone": "+447911000001"}] * 1001)

    assert Contact.objects.count() == 0


def test_an_item_with_only_an_unknown_external_id_cannot_create_a_contact():
    (outcome,) = services.contacts_bulk_upsert(items=[{"external_id": "CRM-404", "name": "X"}])

    assert outcome.outcome == "rejected"
    assert outcome.reason == "No contact has external_id CRM-404; a phone is needed to create one."


def test_bulk_upsert_stores_and_matches_on_the_whatsapp_user_id():
    (created,) = services.contacts_bulk_upsert(
        items=[{"phone": "+447911000001", "whatsapp_user_id": "GB.1001", "name": "Ann"}]
    )
    (matched,) = services.contacts_bulk_upsert(
        items=[{"whatsapp_user_id": "GB.1001", "name": "Ann Lee"}]
    )
    (only_user_id,) = services.contacts_bulk_upsert(items=[{"whatsapp_user_id": "US.2002"}])

    assert (created.outcome, matched.outcome, only_user_id.outcome) == (
        "created",
        "updated",
        "created",
    )
    assert matched.contact_id == created.contact_id
    stored = Contact.objects.get(pk=created.contact_id)
    assert (stored.phone, stored.whatsapp_user_id, stored.name) == (
        "+447911000001",
        "GB.1001",
        "Ann Lee",
    )
    assert Contact.objects.get(pk=only_user_id.contact_id).phone is None


def test_a_bulk_item_whose_phone_and_user_id_belong_to_different_contacts_is_rejected():
    first = ContactFactory(phone="+447911000001", whatsapp_user_id=None)
    second = ContactFactory(phone="+447911000002", whatsapp_user_id="GB.2")

    (outcome,) = services.contacts_bulk_upsert(
        items=[{"phone": "+447911000001", "whatsapp_user_id": "GB.2", "name": "Which?"}]
    )

    assert outcome.outcome == "rejected"
    assert outcome.reason == (
        f"Phone +447911000001 belongs to contact #{first.pk} but whatsapp_user_id GB.2 to "
        f"contact #{second.pk}."
    )
    assert not Contact.objects.filter(name="Which?").exists()


@pytest.mark.parametrize(
    "captured_at", ["0001-01-01T00:00:00+05:00", "1999-12-31T23:59:59Z", "1900-01-01"]
)
def test_a_bulk_consent_dated_before_2000_is_rejected(captured_at):
    (outcome,) = services.contacts_bulk_upsert(
        items=[
            {
                "phone": "+447911000001",
                "consent": {
                    "action": "opt_in",
                    "scope": "marketing",
                    "evidence": "form-1",
                    "captured_at": captured_at,
                },
            }
        ]
    )

    assert outcome.outcome == "rejected"
    assert "is before 2000; check the date the person gave it." in outcome.reason
    assert (Contact.objects.count(), ConsentRecord.objects.count()) == (0, 0)


def test_contacts_created_by_bulk_upsert_have_their_wa_id():
    (outcome,) = services.contacts_bulk_upsert(items=[{"phone": "07911 123456"}])

    assert Contact.objects.get(pk=outcome.contact_id).wa_id == "447911123456"


def test_a_phone_change_moves_the_wa_id_with_it():
    by_upsert = ContactFactory(phone="+447911000001", external_id="CRM-1")
    by_update = ContactFactory(phone="+447911000002")

    services.contacts_bulk_upsert(items=[{"external_id": "CRM-1", "phone": "+447911000003"}])
    services.contact_update(contact=by_update, phone="+447911000004")

    by_upsert.refresh_from_db()
    by_update.refresh_from_db()
    assert (by_upsert.phone, by_upsert.wa_id) == ("+447911000003", "447911000003")
    assert (by_update.phone, by_update.wa_id) == ("+447911000004", "447911000004")


def test_the_migration_fills_in_missing_wa_ids_from_the_phone():
    blank = ContactFactory(phone="+447911000001", wa_id="")
    user_id_only = ContactFactory(phone=None, wa_id="", whatsapp_user_id="GB.1")
    migration = importlib.import_module(
        "contacts.migrations.0006_contact_wa_id_backfill_from_phone"
    )

    migration.backfill_wa_id(django_apps, None)

    blank.refresh_from_db()
    user_id_only.refresh_from_db()
    assert (blank.wa_id, user_id_only.wa_id) == ("447911000001", "")


# --- Matching inbound WhatsApp users ------------------------------------------------------------


def test_an_unknown_sender_becomes_a_new_contact_without_consent():
    contact = services.contact_find_or_create_from_whatsapp(
        wa_id="447911123456", user_id="GB.9988", profile_name="Ann"
    )

    assert (contact.phone, contact.wa_id, contact.whatsapp_user_id, contact.name) == (
        "+447911123456",
        "447911123456",
        "GB.9988",
        "Ann",
    )
    assert (contact.marketing_consent, contact.utility_consent) == (None, None)
    assert ConsentRecord.objects.count() == 0


def test_a_known_phone_is_matched_and_missing_identifiers_are_filled_in():
    known = ContactFactory(phone="+447911123456", wa_id="", name="Ann Lee")

    contact = services.contact_find_or_create_from_whatsapp(
        wa_id="447911123456", user_id="GB.9988", profile_name="annie"
    )

    assert contact.pk == known.pk
    known.refresh_from_db()
    assert (known.wa_id, known.whatsapp_user_id, known.name) == (
        "447911123456",
        "GB.9988",
        "Ann Lee",
    )
    assert Contact.objects.count() == 1


def test_a_sender_known_only_by_user_id_is_matched_without_a_phone():
    known = ContactFactory(phone=None, whatsapp_user_id="US.13491208655302741918")

    contact = services.contact_find_or_create_from_whatsapp(
        wa_id=None, user_id="US.13491208655302741918"
    )

    assert contact.pk == known.pk
    assert Contact.objects.count() == 1


def test_when_phone_and_user_id_point_at_different_contacts_the_phone_wins():
    by_phone = ContactFactory(phone="+447911123456")
    ContactFactory(phone=None, whatsapp_user_id="GB.9988")

    contact = services.contact_find_or_create_from_whatsapp(wa_id="447911123456", user_id="GB.9988")

    assert contact.pk == by_phone.pk
    by_phone.refresh_from_db()
    assert by_phone.whatsapp_user_id is None  # already someone else's: not moved


def test_neither_id_is_refused():
    with pytest.raises(ContactError):
        services.contact_find_or_create_from_whatsapp(wa_id=None, user_id=None)

    assert Contact.objects.count() == 0


def test_inbound_time_only_moves_forward():
    contact = ContactFactory()
    latest, older = ago(minutes=5), ago(hours=2)

    assert services.contact_record_inbound(contact_id=contact.pk, at=latest) is True
    assert services.contact_record_inbound(contact_id=contact.pk, at=older) is False

    contact.refresh_from_db()
    assert contact.last_inbound_at == latest
