"""Running a CSV import: two streaming passes over the stored file, then batched upserts.

Pass one reads every row to find whole-file problems and duplicate rows (same phone or external
id anywhere in the file) before anything is written, so a refused file changes nothing. Pass two
reads the rows again and applies them in batches of ``TIDINGS_IMPORT_BATCH_SIZE`` rows, each in
its own transaction together with the progress counters, so the admin shows progress and a
crashed import can simply be run again (importing the same rows twice changes nothing).
Duplicates are merged into one input at the group's last row ("newest wins, tags union").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from contacts.csv_files import (
    ImportFileError,
    ParsedRow,
    PhoneBook,
    encoding_label,
    inspect_file,
    iter_identity_keys,
    iter_rows,
)
from contacts.duplicates import DuplicateGroups
from contacts.models import ContactImport, ContactImportFileChunk, ContactImportRejectedRow
from contacts.upserting import (
    CREATED,
    MERGED,
    REJECTED,
    UNCHANGED,
    UPDATED,
    ContactInput,
    RowOutcome,
    upsert_contacts,
)

logger = logging.getLogger(__name__)

OutcomeCallback = Callable[[list[RowOutcome]], None]
# An import untouched for this long is taken to have lost its worker and may be run again.
STALE_AFTER = timedelta(minutes=20)
_COUNTERS = {
    CREATED: "created_count",
    UPDATED: "updated_count",
    UNCHANGED: "unchanged_count",
    MERGED: "merged_count",
    REJECTED: "rejected_count",
}


def stored_chunks(contact_import_id: int) -> Iterator[bytes]:
    """The stored file, one chunk (about 1 MiB) per query, so it is never loaded whole."""
    indexes = ContactImportFileChunk.objects.filter(contact_import_id=contact_import_id)
    for index in indexes.order_by("index").values_list("index", flat=True):
        data = ContactImportFileChunk.objects.filter(
            contact_import_id=contact_import_id, index=index
        ).values_list("data", flat=True)[0]
        yield bytes(data)


def claim(contact_import_id: int) -> ContactImport | None:
    """Mark the import running if it is waiting (or was abandoned); None if another run has it."""
    now = timezone.now()
    claimed = ContactImport.objects.filter(
        Q(status=ContactImport.Status.PENDING)
        | Q(status=ContactImport.Status.RUNNING, updated_at__lt=now - STALE_AFTER),
        pk=contact_import_id,
    ).update(
        status=ContactImport.Status.RUNNING,
        started_at=now,
        updated_at=now,
        processed_rows=0,
        created_count=0,
        updated_count=0,
        unchanged_count=0,
        merged_count=0,
        rejected_count=0,
    )
    if not claimed:
        return None
    ContactImportRejectedRow.objects.filter(contact_import_id=contact_import_id).delete()
    return ContactImport.objects.select_related("uploaded_by").get(pk=contact_import_id)


def run(contact_import: ContactImport, *, on_outcomes: OutcomeCallback | None = None) -> None:
    """Import the file of a claimed import; `on_outcomes` receives each batch's row outcomes."""

    def open_chunks() -> Iterator[bytes]:
        return stored_chunks(contact_import.pk)

    phones = PhoneBook(contact_import.default_region)
    try:
        layout = inspect_file(open_chunks())
        groups = DuplicateGroups()
        total = 0
        for row, phone, external_id in iter_identity_keys(open_chunks, layout, phones):
            total += 1
            # Rows without a valid phone are rejected in pass two and never join a group.
            if phone:
                keys = [("phone", phone)]
                if external_id:
                    keys.append(("external_id", external_id))
                groups.add(row, keys)
        if not total:
            raise ImportFileError("The file has a header row but no contacts.")
    except ImportFileError as error:
        _finish(contact_import, failed_because=error.message)
        return
    group_of, last_row_of = groups.groups()
    del groups
    ContactImport.objects.filter(pk=contact_import.pk).update(
        total_rows=total,
        encoding=encoding_label(layout.encoding),
        header=[title.strip().lstrip("\ufeff") for title in layout.header],
        ignored_columns=layout.ignored_columns,
        updated_at=timezone.now(),
    )

    batch_size = settings.TIDINGS_IMPORT_BATCH_SIZE
    batch = _Batch(contact_import, on_outcomes)
    pending: dict[int, ContactInput] = {}
    for parsed in iter_rows(open_chunks, layout, phones):
        batch.remember(parsed)
        root = group_of.get(parsed.row)
        if parsed.input is None:
            batch.rejected.append(parsed)
        elif root is None:
            batch.add(parsed.input)
        elif root in pending:
            pending[root] = pending[root].merged_with(parsed.input)
        else:
            pending[root] = parsed.input
        # A group is complete at its last row, even when that row itself was rejected.
        if root is not None and last_row_of[root] == parsed.row and root in pending:
            batch.add(pending.pop(root))
        if batch.ready_rows >= batch_size:
            batch.flush()
    batch.flush()
    _finish(contact_import)


class _Batch:
    def __init__(self, contact_import: ContactImport, on_outcomes: OutcomeCallback | None) -> None:
        self.contact_import = contact_import
        self.on_outcomes = on_outcomes
        self.inputs: list[ContactInput] = []
        self.rejected: list[ParsedRow] = []
        self.input_rows = 0
        # Values of rows seen but not yet written (a duplicate group may span batches).
        self.values: dict[int, dict[str, str]] = {}

    @property
    def ready_rows(self) -> int:
        return len(self.rejected) + self.input_rows

    def add(self, contact_input: ContactInput) -> None:
        self.inputs.append(contact_input)
        self.input_rows += len(contact_input.rows)

    def remember(self, parsed: ParsedRow) -> None:
        self.values[parsed.row] = parsed.values

    def flush(self) -> None:
        if not self.inputs and not self.rejected:
            return
        contact_import = self.contact_import
        with transaction.atomic():
            outcomes = upsert_contacts(
                self.inputs,
                recorded_by=contact_import.uploaded_by,
                recorded_via=f"import #{contact_import.pk} ({contact_import.file_name})",
                source_import=contact_import,
            )
            outcomes += [
                RowOutcome(parsed.row, REJECTED, None, parsed.reason, parsed.phone)
                for parsed in self.rejected
            ]
            outcomes.sort(key=lambda outcome: outcome.row)
            ContactImportRejectedRow.objects.bulk_create(
                [
                    ContactImportRejectedRow(
                        contact_import=contact_import,
                        row_number=outcome.row,
                        reason=outcome.reason,
                        values=self.values.get(outcome.row, {}),
                        phone=outcome.phone,
                    )
                    for outcome in outcomes
                    if outcome.outcome == REJECTED
                ]
            )
            counts = dict.fromkeys(_COUNTERS.values(), 0)
            for outcome in outcomes:
                counts[_COUNTERS[outcome.outcome]] += 1
            ContactImport.objects.filter(pk=contact_import.pk).update(
                processed_rows=F("processed_rows") + len(outcomes),
                updated_at=timezone.now(),
                **{name: F(name) + count for name, count in counts.items()},
            )
        for outcome in outcomes:
            self.values.pop(outcome.row, None)
        self.inputs, self.rejected, self.input_rows = [], [], 0
        if self.on_outcomes:
            self.on_outcomes(outcomes)


def _finish(contact_import: ContactImport, *, failed_because: str = "") -> None:
    """Record the end of an import and drop the stored file: it holds personal data."""
    with transaction.atomic():
        ContactImport.objects.filter(pk=contact_import.pk).update(
            status=ContactImport.Status.FAILED
            if failed_because
            else ContactImport.Status.COMPLETED,
            error=failed_because,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        ContactImportFileChunk.objects.filter(contact_import=contact_import).delete()
    contact_import.refresh_from_db()


def fail_unexpectedly(contact_import_id: int, error: BaseException) -> None:
    logger.exception("contact import %s stopped", contact_import_id, exc_info=error)
    ContactImport.objects.filter(pk=contact_import_id, status=ContactImport.Status.RUNNING).update(
        status=ContactImport.Status.FAILED,
        error=(
            f"The import stopped unexpectedly ({type(error).__name__}). Rows counted as processed "
            "are saved; upload the file again to import the rest (rows already imported will be "
            "unchanged)."
        ),
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    ContactImportFileChunk.objects.filter(contact_import_id=contact_import_id).delete()
