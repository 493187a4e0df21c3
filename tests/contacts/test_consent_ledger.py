"""The consent ledger: append-only, evidence for every opt-in, current consent derived from it."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts import services
from contacts.errors import ContactError
from contacts.models import ConsentLedgerIsAppendOnly, ConsentRecord, ConsentScope, Contact
from contacts.selectors import consent_states_from_ledger, contacts_consent_for_category
from tests.contacts.factories import (
    ConsentRecordFactory,
    ContactFactory,
    UserFactory,
    ago,
    opt_in,
    opt_out,
)

pytestmark = pytest.mark.django_db


def allowed(contact: Contact, category: str) -> int | None:
    return contacts_consent_for_category(contact_ids=[contact.pk], category=category).get(
        contact.pk
    )


# --- Append-only ------------------------------------------------------------------------------


def test_a_stored_consent_record_cannot_be_saved_again():
    record = ConsentRecordFactory()
    record.evidence = "something else"

    with pytest.raises(ConsentLedgerIsAppendOnly):
        record.save()

    record.refresh_from_db()
    assert record.evidence.startswith("signup-form-submission-")


def test_a_consent_record_cannot_be_deleted():
    record = ConsentRecordFactory()

    with pytest.raises(ConsentLedgerIsAppendOnly):
        record.delete()

    assert ConsentRecord.objects.filter(pk=record.pk).exists()


def test_consent_records_cannot_be_updated_or_deleted_in_bulk():
    record = ConsentRecordFactory()

    with pytest.raises(ConsentLedgerIsAppendOnly):
        ConsentRecord.objects.filter(pk=record.pk).update(evidence="changed")
    with pytest.raises(ConsentLedgerIsAppendOnly):
        ConsentRecord.objects.filter(pk=record.pk).delete()
    with pytest.raises(ConsentLedgerIsAppendOnly):
        ConsentRecord.objects.bulk_update([record], ["evidence"])

    record.refresh_from_db()
    assert record.evidence.startswith("signup-form-submission-")


def test_the_database_refuses_raw_updates_and_deletes_of_the_ledger():
    record = ConsentRecordFactory()

    for statement in (
        "UPDATE contacts_consentrecord SET evidence = 'changed' WHERE id = %s",
        "DELETE FROM contacts_consentrecord WHERE id = %s",
    ):
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [record.pk])

    record.refresh_from_db()
    assert record.evidence.startswith("signup-form-submission-")


def test_a_contact_with_consent_records_cannot_be_deleted():
    record = ConsentRecordFactory()

    with pytest.raises(Exception, match="protected"):
        record.contact.delete()

    assert ConsentRecord.objects.filter(pk=record.pk).exists()


# --- Recording ----------------------------------------------------------------------------------


def test_an_opt_in_is_recorded_with_its_evidence_and_who_recorded_it():
    contact = ContactFactory()
    user = UserFactory()
    captured = ago(days=3)

    record = services.consent_record_opt_in(
        contact=contact,
        scope="marketing",
        source="web_form",
        evidence="https://shop.example.com/forms/signup/submissions/881",
        captured_at=captured,
        recorded_by=user,
        recorded_via="API token",
        ip_address="203.0.113.9",
        user_agent="Mozilla/5.0",
        policy_version="privacy-2025-01",
    )

    stored = ConsentRecord.objects.get()
    assert stored == record
    assert (stored.action, stored.scope, stored.source) == ("opt_in", "marketing", "web_form")
    assert stored.evidence == "https://shop.example.com/forms/signup/submissions/881"
    assert stored.captured_at == captured
    assert stored.recorded_by == user
    assert (stored.ip_address, stored.user_agent, stored.policy_version) == (
        "203.0.113.9",
        "Mozilla/5.0",
        "privacy-2025-01",
    )
    assert timezone.now() - stored.recorded_at < timedelta(minutes=1)
    contact.refresh_from_db()
    assert contact.marketing_consent == record


@pytest.mark.parametrize("evidence", ["", "   ", None])
def test_an_opt_in_without_evidence_is_refused_and_nothing_is_stored(evidence):
    contact = ContactFactory()

    with pytest.raises(ContactError) as error:
        services.consent_record_opt_in(
            contact=contact,
            scope="marketing",
            source="web_form",
            evidence=evidence,
            captured_at=ago(days=1),
        )

    assert error.value.field == "evidence"
    assert ConsentRecord.objects.count() == 0
    contact.refresh_from_db()
    assert contact.marketing_consent is None


def test_an_opt_in_from_the_future_is_refused():
    contact = ContactFactory()

    with pytest.raises(ContactError, match="future"):
        opt_in(contact, captured_at=timezone.now() + timedelta(days=1))

    assert ConsentRecord.objects.count() == 0


def test_an_opt_out_needs_no_evidence_and_a_missing_or_future_time_becomes_now():
    contact = ContactFactory()
    opt_in(contact)
    before = timezone.now()

    undated = services.consent_record_opt_out(
        contact=contact, scope="marketing", source="inbound_keyword"
    )
    future = services.consent_record_opt_out(
        contact=contact,
        scope="all",
        source="button",
        captured_at=timezone.now() + timedelta(days=30),
    )

    assert undated.evidence == ""
    assert before <= undated.captured_at <= timezone.now()
    assert before <= future.captured_at <= timezone.now()
    assert allowed(contact, "MARKETING") is None


def test_an_erased_contact_still_accepts_an_opt_out_but_never_an_opt_in():
    contact = ContactFactory()
    services.contact_erase(contact=contact, erased_by=UserFactory())

    services.consent_record_opt_out(contact=contact, scope="all", source="api")
    with pytest.raises(ContactError, match="erased"):
        opt_in(contact)

    assert list(ConsentRecord.objects.values_list("action", flat=True)) == ["opt_out"]


# --- Current consent per scope -----------------------------------------------------------------


def test_a_new_contact_has_no_consent():
    contact = ContactFactory()

    assert allowed(contact, "MARKETING") is None
    assert allowed(contact, "UTILITY") is None
    assert allowed(contact, "AUTHENTICATION") is None


def test_marketing_consent_allows_marketing_only():
    contact = ContactFactory()
    record = opt_in(contact, "marketing")

    assert allowed(contact, "MARKETING") == record.pk
    assert allowed(contact, "UTILITY") is None


def test_utility_consent_covers_utility_and_authentication():
    contact = ContactFactory()
    record = opt_in(contact, "utility")

    assert allowed(contact, "UTILITY") == record.pk
    assert allowed(contact, "AUTHENTICATION") == record.pk
    assert allowed(contact, "MARKETING") is None


def test_consent_of_scope_all_covers_every_category():
    contact = ContactFactory()
    record = opt_in(contact, "all")

    assert allowed(contact, "MARKETING") == record.pk
    assert allowed(contact, "UTILITY") == record.pk


def test_opting_out_of_marketing_keeps_utility_messages_allowed():
    contact = ContactFactory()
    everything = opt_in(contact, "all", captured_at=ago(days=10))
    opt_out(contact, "marketing", captured_at=ago(days=1))

    assert allowed(contact, "MARKETING") is None
    assert allowed(contact, "UTILITY") == everything.pk


def test_an_opt_out_of_all_blocks_every_category():
    contact = ContactFactory()
    opt_in(contact, "marketing", captured_at=ago(days=10))
    opt_in(contact, "utility", captured_at=ago(days=9))
    opt_out(contact, "all", captured_at=ago(days=1))

    assert allowed(contact, "MARKETING") is None
    assert allowed(contact, "UTILITY") is None
    assert allowed(contact, "AUTHENTICATION") is None


def test_opting_in_again_after_an_opt_out_allows_again_on_the_new_record():
    contact = ContactFactory()
    opt_in(contact, "marketing", captured_at=ago(days=10))
    opt_out(contact, "all", captured_at=ago(days=5))
    again = opt_in(contact, "marketing", captured_at=ago(days=1))

    assert allowed(contact, "MARKETING") == again.pk
    # The opt-out of everything still stands for utility: only marketing was opted into again.
    assert allowed(contact, "UTILITY") is None


def test_the_latest_record_is_the_one_captured_last_not_the_one_recorded_last():
    contact = ContactFactory()
    opt_out(contact, "marketing", captured_at=ago(days=2))
    # Recorded later, but given before the opt-out (e.g. found in an old CRM export).
    opt_in(contact, "marketing", captured_at=ago(days=30))

    assert allowed(contact, "MARKETING") is None


def test_consent_at_a_past_moment_is_derived_from_the_ledger_as_it_stood():
    contact = ContactFactory()
    first = ConsentRecordFactory(
        contact=contact, scope="marketing", captured_at=ago(days=10), recorded_at=ago(days=10)
    )
    ConsentRecordFactory(
        contact=contact,
        action="opt_out",
        scope="marketing",
        captured_at=ago(days=5),
        recorded_at=ago(days=5),
    )

    during = contacts_consent_for_category(
        contact_ids=[contact.pk], category="MARKETING", at=ago(days=7)
    )
    before = contacts_consent_for_category(
        contact_ids=[contact.pk], category="MARKETING", at=ago(days=11)
    )
    after = contacts_consent_for_category(
        contact_ids=[contact.pk], category="MARKETING", at=ago(days=1)
    )

    assert during == {contact.pk: first.pk}
    assert before == {}
    assert after == {}


def test_a_past_answer_ignores_records_not_yet_recorded_at_that_moment():
    contact = ContactFactory()
    # Captured 10 days ago but only recorded now: nobody could have relied on it 5 days ago.
    opt_in(contact, "marketing", captured_at=ago(days=10))

    assert (
        contacts_consent_for_category(
            contact_ids=[contact.pk], category="MARKETING", at=ago(days=5)
        )
        == {}
    )


def test_erased_contacts_never_qualify():
    contact = ContactFactory()
    opt_in(contact, "all")
    services.contact_erase(contact=contact, erased_by=UserFactory())

    assert allowed(contact, "MARKETING") is None
    assert consent_states_from_ledger(contact_ids=[contact.pk]) == {
        contact.pk: {"marketing": None, "utility": None}
    }


def test_an_unknown_category_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown template category"):
        contacts_consent_for_category(contact_ids=[1], category="PROMOTIONAL")


# --- The chunked selector -----------------------------------------------------------------------


def test_a_whole_chunk_is_answered_in_one_query(django_assert_num_queries):
    opted_in = ContactFactory.create_batch(30)
    records = {contact.pk: opt_in(contact, "marketing").pk for contact in opted_in}
    opted_out = ContactFactory.create_batch(10)
    for contact in opted_out:
        opt_in(contact, "marketing", captured_at=ago(days=3))
        opt_out(contact, "marketing", captured_at=ago(days=2))
    never = ContactFactory.create_batch(10)
    ids = [contact.pk for contact in opted_in + opted_out + never]

    with django_assert_num_queries(1):
        now = contacts_consent_for_category(contact_ids=ids, category="MARKETING")
    with django_assert_num_queries(1):
        historic = contacts_consent_for_category(
            contact_ids=ids, category="MARKETING", at=timezone.now()
        )

    assert now == records
    assert historic == records


def test_an_empty_chunk_needs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert contacts_consent_for_category(contact_ids=[], category="UTILITY") == {}


# --- The cache of current consent agrees with the ledger ---------------------------------------


def test_check_consent_reports_agreement():
    for contact in ContactFactory.create_batch(3):
        opt_in(contact, ConsentScope.ALL)
    out = io.StringIO()

    call_command("check_consent", stdout=out)

    assert "All 3 contacts agree" in out.getvalue()


def test_check_consent_finds_and_fixes_a_contact_that_drifted_from_the_ledger():
    contact = ContactFactory()
    record = opt_in(contact, "marketing")
    Contact.objects.filter(pk=contact.pk).update(marketing_consent=None)

    with pytest.raises(CommandError, match="1 of 1 contacts disagree"):
        call_command("check_consent", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("check_consent", "--fix", stdout=io.StringIO(), stderr=io.StringIO())

    contact.refresh_from_db()
    assert contact.marketing_consent_id == record.pk
