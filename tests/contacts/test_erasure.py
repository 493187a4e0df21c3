"""Erasure: irreversible anonymisation that keeps the audit trail and knows a returning number."""

from __future__ import annotations

import pytest
from django.test import override_settings

from contacts import services
from contacts.erasure import phone_hash, register_erasure_step, unregister_erasure_step
from contacts.errors import ContactError
from contacts.models import ConsentRecord, Contact, ContactImport, ContactImportRejectedRow
from contacts.selectors import contacts_consent_for_category, phone_was_erased, tags_by_contact
from tests.contacts.factories import ContactFactory, UserFactory, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact() -> Contact:
    contact = ContactFactory(
        phone="+447911123456",
        whatsapp_user_id="GB.1349120865530274",
        name="Zoë Adams",
        external_id="CRM-1",
        attributes={"tier": "gold"},
        tags=["vip"],
    )
    opt_in(contact, "all")
    return contact


def test_erasure_clears_personal_data_and_records_who_and_when(contact):
    officer = UserFactory(username="dpo")

    erased = services.contact_erase(contact=contact, erased_by=officer)

    stored = Contact.objects.get(pk=contact.pk)
    assert stored == erased
    assert (stored.phone, stored.wa_id, stored.whatsapp_user_id, stored.external_id) == (
        None,
        "",
        None,
        None,
    )
    assert (stored.name, stored.language, stored.timezone, stored.attributes) == ("", "", "", {})
    assert tags_by_contact([stored.pk]) == {}
    assert stored.erased_by == officer
    assert stored.erased_at is not None
    assert stored.erased_phone_hash == phone_hash("+447911123456")
    assert "447911123456" not in stored.erased_phone_hash
    assert str(stored) == f"erased contact #{stored.pk}"


def test_consent_records_are_kept_for_audit_but_the_contact_can_never_be_messaged(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    assert ConsentRecord.objects.filter(contact=contact).count() == 1
    for category in ("MARKETING", "UTILITY", "AUTHENTICATION"):
        assert contacts_consent_for_category(contact_ids=[contact.pk], category=category) == {}


def test_a_returning_number_is_recognised_in_any_format_without_being_stored(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    assert phone_was_erased("07911 123456")
    assert phone_was_erased("447911123456")
    assert not phone_was_erased("+447911123457")
    assert not phone_was_erased("not a number")
    assert not Contact.objects.filter(phone="+447911123456").exists()


def test_the_hash_is_keyed_by_the_erasure_key(contact):
    with override_settings(TIDINGS_ERASURE_KEY="key-one"):
        first = phone_hash("+447911123456")
    with override_settings(TIDINGS_ERASURE_KEY="key-two"):
        second = phone_hash("+447911123456")

    assert first != second
    assert len(first) == 64


def test_registered_steps_run_inside_the_erasure_with_the_contact_id(contact):
    seen: list[tuple[int, bool]] = []

    def clear_message_contents(contact_id: int) -> None:
        # Runs before the contact is anonymised, in the same transaction.
        seen.append((contact_id, Contact.objects.get(pk=contact_id).erased_at is None))

    register_erasure_step(clear_message_contents)
    register_erasure_step(clear_message_contents)
    try:
        services.contact_erase(contact=contact, erased_by=UserFactory())
    finally:
        unregister_erasure_step(clear_message_contents)

    assert seen == [(contact.pk, True)]


def test_a_failing_step_erases_nothing(contact):
    def broken_step(contact_id: int) -> None:
        raise RuntimeError("message store unavailable")

    register_erasure_step(broken_step)
    try:
        with pytest.raises(RuntimeError, match="message store unavailable"):
            services.contact_erase(contact=contact, erased_by=UserFactory())
    finally:
        unregister_erasure_step(broken_step)

    contact.refresh_from_db()
    assert (contact.erased_at, contact.phone, contact.name) == (None, "+447911123456", "Zoë Adams")


def test_import_rows_holding_the_number_are_dropped(contact):
    contact_import = ContactImport.objects.create(file_name="old.csv", default_region="GB")
    ContactImportRejectedRow.objects.create(
        contact_import=contact_import,
        row_number=2,
        reason="Timezone 'x' is not an IANA timezone such as Europe/London.",
        values={"phone": "07911 123456", "timezone": "x"},
        phone="+447911123456",
    )
    other = ContactImportRejectedRow.objects.create(
        contact_import=contact_import, row_number=3, reason="Phone is missing.", values={}
    )

    services.contact_erase(contact=contact, erased_by=UserFactory())

    assert list(ContactImportRejectedRow.objects.all()) == [other]


def test_erasing_twice_is_refused(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    with pytest.raises(ContactError, match="already been erased"):
        services.contact_erase(contact=contact, erased_by=UserFactory())


def test_an_erased_contact_cannot_be_edited(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    with pytest.raises(ContactError, match="erased"):
        services.contact_update(contact=contact, name="Back")

    contact.refresh_from_db()
    assert contact.name == ""


def test_the_person_writing_again_becomes_a_new_contact_without_consent(contact):
    services.contact_erase(contact=contact, erased_by=UserFactory())

    returning = services.contact_find_or_create_from_whatsapp(
        wa_id="447911123456", user_id=None, profile_name="Zoë"
    )

    assert returning.pk != contact.pk
    assert returning.phone == "+447911123456"
    assert (returning.marketing_consent, returning.utility_consent) == (None, None)
