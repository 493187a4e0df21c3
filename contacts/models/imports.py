"""CSV imports: the uploaded file (kept in the database so any worker can read it) and results."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from config.models import TimeStampedModel


class ContactImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Importing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ContactImport(TimeStampedModel):
    """One uploaded CSV file and the progress and outcome of importing it.

    The file lives in `ContactImportFileChunk` rows rather than on one machine's disk, so any
    Celery worker can process it; the chunks are removed once the import has finished (the file
    holds personal data we no longer need). The counters are updated after every batch, so the
    admin can show progress while a large import runs.
    """

    Status = ContactImportStatus

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    file_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    file_sha256 = models.CharField("file SHA-256", max_length=64, blank=True)
    default_region = models.CharField(
        max_length=2, help_text="Country assumed for numbers written without a country code."
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    encoding = models.CharField(max_length=32, blank=True)
    header = models.JSONField(
        default=list, blank=True, help_text="The file's columns, to write rejected rows back."
    )
    ignored_columns = models.JSONField(default=list, blank=True)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField("created", default=0)
    updated_count = models.PositiveIntegerField("updated", default=0)
    unchanged_count = models.PositiveIntegerField("unchanged", default=0)
    merged_count = models.PositiveIntegerField(
        "merged",
        default=0,
        help_text="Rows merged into a later row for the same person (counted there once).",
    )
    rejected_count = models.PositiveIntegerField("rejected", default=0)
    error = models.TextField(blank=True, help_text="Why the whole file was refused.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "contact import"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "running", "completed", "failed"]),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="failed") | ~models.Q(error=""),
                name="%(app_label)s_%(class)s_failure_has_error",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status"],
                condition=models.Q(status__in=["pending", "running"]),
                name="contacts_import_unfinished_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.COMPLETED, self.Status.FAILED}


class ContactImportFileChunk(models.Model):
    """A slice of an uploaded file, so a large file is stored and read without holding it whole."""

    contact_import = models.ForeignKey(
        ContactImport, on_delete=models.CASCADE, related_name="file_chunks"
    )
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["contact_import", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact_import", "index"], name="%(app_label)s_%(class)s_unique_index"
            )
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of import #{self.contact_import_id}"


class ContactImportRejectedRow(models.Model):
    """A row that was not imported, with the values as they were in the file and the reason."""

    contact_import = models.ForeignKey(
        ContactImport, on_delete=models.CASCADE, related_name="rejected_rows"
    )
    row_number = models.PositiveIntegerField(
        help_text="As a spreadsheet shows it; the header is 1."
    )
    reason = models.TextField()
    values = models.JSONField(default=dict)
    phone = models.CharField(
        max_length=16,
        blank=True,
        db_index=True,
        help_text="The row's phone in E.164 when it was valid, so erasure can find the row.",
    )

    class Meta:
        ordering = ["contact_import", "row_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact_import", "row_number"], name="%(app_label)s_%(class)s_unique_row"
            )
        ]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"
