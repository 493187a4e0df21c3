"""CSV import: messy files, exact per-row outcomes, duplicates, whole-file errors, idempotence."""

from __future__ import annotations

import io

import pytest

from contacts import postgres_copy, services
from contacts.csv_files import ImportFileError
from contacts.models import (
    ConsentRecord,
    Contact,
    ContactImport,
    ContactImportFileChunk,
    ContactImportRejectedRow,
)
from contacts.selectors import contacts_consent_for_category, tags_by_contact
from contacts.upserting import RowOutcome
from tests.contacts.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

MESSY = (
    "\ufeffPhone,Name,External ID,Language,Timezone,Tags,attr.tier,"
    "consent_action,consent_scope,consent_evidence,consent_captured_at\n"
    '+44 7911 123456,Zoë Adams,CRM-1,en-gb,Europe/London,"vip, News",gold,'
    "opt_in,marketing,signup-form-7,2025-01-02\n"
    "07911 123457,Bob Brown,CRM-2,,,,,,,,\n"
    "not a phone,Carl,CRM-3,,,,,,,,\n"
    "447911123458,Dee,CRM-4,en,Mars/Base,,,,,,\n"
    "+447911123459,Eve,CRM-5,,,,,opt_in,marketing,,2025-01-02\n"
    ",Nobody,CRM-6,,,,,,,,\n"
    ",,,,,,,,,,\n"
    "447911123456,,,,,extra,platinum,,,,\n"
    "+44 7911 123460,Finn Brown,CRM-2,,,,,,,,\n"
)


def run_import(data: bytes, **options) -> tuple[ContactImport, list[RowOutcome]]:
    outcomes: list[RowOutcome] = []
    contact_import = services.contact_import_create(
        file=io.BytesIO(data), file_name="contacts.csv", queue=False, **options
    )
    services.contact_import_process(
        contact_import_id=contact_import.pk, on_outcomes=outcomes.extend
    )
    contact_import.refresh_from_db()
    return contact_import, outcomes


def summary(outcomes: list[RowOutcome]) -> list[tuple[int, str]]:
    return [(outcome.row, outcome.outcome) for outcome in outcomes]


def reasons(outcomes: list[RowOutcome]) -> dict[int, str]:
    return {outcome.row: outcome.reason for outcome in outcomes if outcome.outcome == "rejected"}


def test_a_messy_file_gets_exact_per_row_outcomes():
    contact_import, outcomes = run_import(MESSY.encode("utf-8"))

    assert contact_import.status == "completed"
    assert contact_import.encoding == "UTF-8 with BOM"
    assert summary(outcomes) == [
        (2, "merged"),  # the same phone as row 9, which carries the outcome
        (3, "merged"),  # the same external_id as row 10
        (4, "rejected"),
        (5, "rejected"),
        (6, "rejected"),
        (7, "rejected"),
        (9, "created"),
        (10, "created"),
    ]
    merged = {outcome.row: outcome for outcome in outcomes if outcome.outcome == "merged"}
    assert merged[2].reason == "The same person as row 9; merged into it."
    assert merged[3].reason == "The same person as row 10; merged into it."
    assert merged[2].contact_id == next(o.contact_id for o in outcomes if o.row == 9)
    assert reasons(outcomes) == {
        4: "Phone 'not a phone' contains characters other than digits, spaces, '+', '-', '(' "
        "and ')'.",
        5: "Timezone 'Mars/Base' is not an IANA timezone such as Europe/London.",
        6: "Opt-in without evidence: put the proof (form id, URL, message id) in consent_evidence.",
        7: "Phone is missing.",
    }
    assert (
        contact_import.total_rows,
        contact_import.processed_rows,
        contact_import.created_count,
        contact_import.updated_count,
        contact_import.unchanged_count,
        contact_import.merged_count,
        contact_import.rejected_count,
    ) == (8, 8, 2, 0, 0, 2, 4)
    assert Contact.objects.count() == 2


def test_duplicate_rows_merge_newest_wins_and_tags_union():
    run_import(MESSY.encode("utf-8"))

    zoe = Contact.objects.get(external_id="CRM-1")
    assert (zoe.phone, zoe.name, zoe.language, zoe.timezone) == (
        "+447911123456",
        "Zoë Adams",
        "en_GB",
        "Europe/London",
    )
    assert zoe.attributes == {"tier": "platinum"}
    assert tags_by_contact([zoe.pk]) == {zoe.pk: ["extra", "news", "vip"]}
    brown = Contact.objects.get(external_id="CRM-2")
    assert (brown.phone, brown.name) == ("+447911123460", "Finn Brown")
    assert Contact.objects.count() == 2


def test_consent_columns_are_appended_to_the_ledger_with_the_import_as_source():
    user = UserFactory()
    contact_import, _ = run_import(MESSY.encode("utf-8"), uploaded_by=user)

    record = ConsentRecord.objects.get()
    zoe = Contact.objects.get(external_id="CRM-1")
    assert (record.contact, record.action, record.scope, record.source) == (
        zoe,
        "opt_in",
        "marketing",
        "import",
    )
    assert record.evidence == "signup-form-7"
    assert record.captured_at.isoformat() == "2025-01-02T00:00:00+00:00"
    assert record.source_import == contact_import
    assert record.recorded_by == user
    assert contacts_consent_for_category(contact_ids=[zoe.pk], category="MARKETING") == {
        zoe.pk: record.pk
    }


def test_importing_the_same_file_twice_changes_nothing_the_second_time():
    data = MESSY.encode("utf-8")
    run_import(data)
    before = list(Contact.objects.order_by("pk").values())
    tags_before = tags_by_contact(Contact.objects.values_list("pk", flat=True))

    contact_import, outcomes = run_import(data)

    assert summary(outcomes) == [
        (2, "merged"),
        (3, "merged"),
        (4, "rejected"),
        (5, "rejected"),
        (6, "rejected"),
        (7, "rejected"),
        (9, "unchanged"),
        (10, "unchanged"),
    ]
    assert list(Contact.objects.order_by("pk").values()) == before
    assert tags_by_contact(Contact.objects.values_list("pk", flat=True)) == tags_before
    assert ConsentRecord.objects.count() == 1
    assert (contact_import.created_count, contact_import.unchanged_count) == (0, 2)


def test_rows_update_existing_contacts_by_phone_or_external_id():
    by_phone = ContactFactory(
        phone="+447911123456", name="Old Name", attributes={"tier": "gold", "city": "Leeds"}
    )
    services.contact_update(contact=by_phone, tags=["loyal"])
    by_external_id = ContactFactory(phone="+447911000001", external_id="CRM-9", name="Kept")
    data = (
        b"phone,name,external_id,tags,attr.tier\n"
        b"07911 123456,New Name,,vip,platinum\n"
        b"+447911000002,,CRM-9,,\n"
    )

    _, outcomes = run_import(data)

    assert summary(outcomes) == [(2, "updated"), (3, "updated")]
    by_phone.refresh_from_db()
    assert by_phone.name == "New Name"
    assert by_phone.attributes == {"tier": "platinum", "city": "Leeds"}
    assert tags_by_contact([by_phone.pk]) == {by_phone.pk: ["loyal", "vip"]}
    by_external_id.refresh_from_db()
    # The newest phone wins; the empty name in the file does not clear the stored one.
    assert (by_external_id.phone, by_external_id.name) == ("+447911000002", "Kept")


def test_a_row_whose_phone_and_external_id_belong_to_different_contacts_is_rejected():
    first = ContactFactory(phone="+447911000001", external_id="CRM-1")
    second = ContactFactory(phone="+447911000002", external_id="CRM-2")

    _, outcomes = run_import(b"phone,external_id,name\n+447911000001,CRM-2,Mixed Up\n")

    assert summary(outcomes) == [(2, "rejected")]
    assert reasons(outcomes)[2] == (
        f"Phone +447911000001 belongs to contact #{first.pk} but external_id CRM-2 to "
        f"contact #{second.pk}."
    )
    assert set(Contact.objects.values_list("name", flat=True)) == {first.name, second.name}


def test_a_latin_1_file_is_detected_and_read():
    data = "telefone;name;phone\n;José Müller;+44 7911 123456\n".encode("cp1252")

    contact_import, outcomes = run_import(data)

    assert summary(outcomes) == [(2, "created")]
    assert contact_import.encoding == "Windows-1252 (Latin-1)"
    assert contact_import.ignored_columns == ["telefone"]
    assert Contact.objects.get().name == "José Müller"


def test_rows_with_bytes_that_are_not_utf_8_are_rejected_and_the_rest_imported():
    data = (
        b"phone,name\n"
        + "+447911000001,Zoë\n".encode()
        + "+447911000002,José\n".encode("latin-1")
        + "+447911000003,Åsa\n".encode()
    )

    _, outcomes = run_import(data)

    assert summary(outcomes) == [(2, "created"), (3, "rejected"), (4, "created")]
    assert reasons(outcomes)[3] == "Encoding problem: the row has bytes that are not valid UTF-8."
    rejected = ContactImportRejectedRow.objects.get()
    assert rejected.values == {"phone": "+447911000002", "name": "Jos\ufffd"}
    assert sorted(Contact.objects.values_list("name", flat=True)) == ["Zoë", "Åsa"]


def test_semicolon_separated_files_with_first_and_last_names_are_understood():
    data = b"Mobile;First name;Last name;Locale\n07911 123456;Ann;Lee;pt-br\n"

    _, outcomes = run_import(data)

    assert summary(outcomes) == [(2, "created")]
    contact = Contact.objects.get()
    assert (contact.phone, contact.name, contact.language) == ("+447911123456", "Ann Lee", "pt_BR")


def test_the_default_region_of_the_import_reads_national_numbers():
    _, outcomes = run_import(b"phone\n(415) 555-0100\n", default_region="US")

    assert summary(outcomes) == [(2, "created")]
    assert Contact.objects.get().phone == "+14155550100"


def test_rejected_rows_are_kept_with_their_values_and_reason():
    contact_import, _ = run_import(MESSY.encode("utf-8"))

    rows = list(contact_import.rejected_rows.order_by("row_number"))
    assert [row.row_number for row in rows] == [4, 5, 6, 7]
    assert rows[0].values["Phone"] == "not a phone"
    assert rows[0].phone == ""
    assert rows[1].phone == "+447911123458"  # valid phone, bad timezone: findable for erasure
    assert rows[3].reason == "Phone is missing."


def test_an_opt_out_row_without_a_date_is_recorded_once_however_often_it_is_imported():
    contact = ContactFactory(phone="+447911123456")
    data = b"phone,consent_action\n+447911123456,opt_out\n"

    _, first = run_import(data)
    _, second = run_import(data)

    assert summary(first) == [(2, "updated")]
    assert summary(second) == [(2, "unchanged")]
    record = ConsentRecord.objects.get()
    assert (record.contact, record.action, record.scope) == (contact, "opt_out", "all")


def test_an_erased_number_is_not_brought_back_by_an_import():
    contact = ContactFactory(phone="+447911123456")
    services.contact_erase(contact=contact, erased_by=UserFactory())

    _, outcomes = run_import(b"phone,name\n07911 123456,Back Again\n")

    assert summary(outcomes) == [(2, "rejected")]
    assert "erased" in reasons(outcomes)[2]
    assert Contact.objects.filter(erased_at__isnull=True).count() == 0


def test_batches_update_progress_and_the_stored_file_is_dropped_at_the_end(settings):
    settings.TIDINGS_IMPORT_BATCH_SIZE = 2
    batches: list[list[RowOutcome]] = []
    rows = "".join(f"+4479110000{n:02d},Person {n}\n" for n in range(5))
    contact_import = services.contact_import_create(
        file=io.BytesIO(f"phone,name\n{rows}".encode()), file_name="five.csv", queue=False
    )
    assert ContactImportFileChunk.objects.filter(contact_import=contact_import).count() == 1

    services.contact_import_process(contact_import_id=contact_import.pk, on_outcomes=batches.append)

    assert [len(batch) for batch in batches] == [2, 2, 1]
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.processed_rows, contact_import.total_rows) == (
        "completed",
        5,
        5,
    )
    assert not ContactImportFileChunk.objects.filter(contact_import=contact_import).exists()


def test_an_import_is_processed_once_even_if_asked_twice():
    contact_import, _ = run_import(b"phone\n+447911123456\n")

    assert services.contact_import_process(contact_import_id=contact_import.pk) is None
    assert Contact.objects.count() == 1


def test_an_upload_queues_the_import_task_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        contact_import = services.contact_import_create(
            file=io.BytesIO(b"phone\n+447911123456\n"), file_name="one.csv"
        )

    assert len(callbacks) == 1
    contact_import.refresh_from_db()
    assert contact_import.status == "completed"
    assert Contact.objects.get().phone == "+447911123456"


def test_the_orm_fallback_for_other_databases_gives_the_same_outcomes(monkeypatch):
    monkeypatch.setattr(postgres_copy, "available", lambda: False)

    _, outcomes = run_import(MESSY.encode("utf-8"))
    _, again = run_import(MESSY.encode("utf-8"))

    assert [outcome for _, outcome in summary(outcomes)] == [
        "merged",
        "merged",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "created",
    ]
    assert {outcome for _, outcome in summary(again)} == {"merged", "unchanged", "rejected"}
    assert ConsentRecord.objects.count() == 1
    assert len(tags_by_contact(Contact.objects.values_list("pk", flat=True))) == 1


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "orm"])
def test_imported_contacts_get_their_wa_id_and_a_new_phone_moves_it(monkeypatch, copy):
    if not copy:
        monkeypatch.setattr(postgres_copy, "available", lambda: False)
    run_import(b"phone,external_id\n07911 123456,CRM-1\n")

    assert Contact.objects.get().wa_id == "447911123456"

    run_import(b"phone,external_id\n+447911000099,CRM-1\n")

    assert list(Contact.objects.values_list("phone", "wa_id")) == [
        ("+447911000099", "447911000099")
    ]


# --- Whole-file errors change nothing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\xef\xbb\xbf\n\n", "The file is empty."),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
        (b"%PDF-1.7\n", "PDF"),
        ("phone,name\n+447911123456,Ann\n".encode("utf-16"), "UTF-16"),
        (b"phone,name\n+447911123456,A\x00nn\n", "not a text file"),
        (b"name,email\nAnn,ann@example.com\n", "'phone' column (found 'name', 'email')"),
        (b'{"contacts": [{"phone": "+447911123456"}]}\n', "the first line must be a header"),
        (b"phone,Mobile\n+447911123456,+447911123457\n", "both mean phone"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_at_upload_and_nothing_is_stored(data, message):
    with pytest.raises(ImportFileError) as error:
        services.contact_import_create(file=io.BytesIO(data), file_name="bad.csv", queue=False)

    assert message in error.value.message
    assert ContactImport.objects.count() == 0
    assert ContactImportFileChunk.objects.count() == 0
    assert Contact.objects.count() == 0


def test_a_header_without_rows_fails_the_import_and_changes_nothing():
    contact_import, outcomes = run_import(b"phone,name\n\n")

    assert contact_import.status == "failed"
    assert contact_import.error == "The file has a header row but no contacts."
    assert outcomes == []
    assert Contact.objects.count() == 0


def test_a_broken_row_late_in_the_file_fails_the_whole_import_before_anything_is_written():
    giant_field = "x" * 200_000  # beyond the CSV reader's field size limit
    data = f"phone,name\n+447911000001,Ann\n+447911000002,{giant_field}\n".encode()

    contact_import, outcomes = run_import(data)

    assert contact_import.status == "failed"
    assert contact_import.error.startswith("Row 3 is not valid CSV")
    assert outcomes == []
    assert Contact.objects.count() == 0


def test_every_row_of_a_rejected_duplicate_group_is_rejected_and_offered_for_download():
    first = ContactFactory(phone="+447911000001", external_id="CRM-1")
    ContactFactory(phone="+447911000002", external_id="CRM-2")
    data = b"phone,external_id,name\n+447911000001,,Early\n+447911000001,CRM-2,Mixed Up\n"

    contact_import, outcomes = run_import(data)

    assert summary(outcomes) == [(2, "rejected"), (3, "rejected")]
    assert reasons(outcomes)[2] == reasons(outcomes)[3] + " (merged with row 3)"
    assert (contact_import.rejected_count, contact_import.merged_count) == (2, 0)
    assert list(contact_import.rejected_rows.values_list("row_number", flat=True)) == [2, 3]
    first.refresh_from_db()
    assert first.name != "Early"
