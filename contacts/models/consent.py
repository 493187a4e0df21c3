"""The consent ledger: every opt-in and opt-out ever given, never changed or removed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConsentLedgerIsAppendOnly(Exception):
    """Raised on any attempt to change or delete a consent record."""

    def __init__(self) -> None:
        super().__init__(
            "Consent records are append-only: record a new opt-in or opt-out instead of "
            "changing or deleting one."
        )


class ConsentAction(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_OUT = "opt_out", "Opt-out"


class ConsentScope(models.TextChoices):
    """What kind of messages a record is about.

    `all` covers both: an opt-out of `all` stops utility messages too, while an opt-out of
    `marketing` leaves order updates and other utility messages allowed.
    """

    MARKETING = "marketing", "Marketing"
    UTILITY = "utility", "Utility (includes authentication)"
    ALL = "all", "All messages"


class ConsentSource(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    CHECKOUT = "checkout", "Checkout"
    IMPORT = "import", "Import"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    INBOUND_KEYWORD = "inbound_keyword", "Keyword sent on WhatsApp (STOP, START, ...)"
    BUTTON = "button", "Button tapped on WhatsApp"
    WHATSAPP_PREFERENCE = "whatsapp_preference", "Stop/resume marketing in WhatsApp itself"
    # Earlier name of WHATSAPP_PREFERENCE: kept so the records written with it stay valid.
    WHATSAPP_SETTINGS = "whatsapp_settings", "Stop/resume in WhatsApp's business settings (old)"
    DELIVERY_ERROR = "delivery_error", "Meta reported the person stopped marketing (131050)"
    IN_STORE = "in_store", "In store"
    PHONE_CALL = "phone_call", "Phone call"
    OTHER = "other", "Other"


class ConsentRecordQuerySet(models.QuerySet):
    """Queryset with the bulk write paths closed: the ledger only ever grows."""

    def update(self, **kwargs: object) -> int:
        raise ConsentLedgerIsAppendOnly

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ConsentLedgerIsAppendOnly

    def bulk_update(self, objs: object, fields: object, batch_size: int | None = None) -> int:
        raise ConsentLedgerIsAppendOnly

    # Django's deletion collector and `Model.delete()` use the private `_raw_delete`.
    def _raw_delete(self, using: str) -> int:
        raise ConsentLedgerIsAppendOnly


class ConsentRecord(models.Model):
    """One opt-in or opt-out, as given by the person, with the evidence for it.

    A contact's current consent per scope is the latest record (by `captured_at`, then id) among
    the records of that scope and of `all`. Records are written by the consent services only
    (`consent_record_opt_in` / `consent_record_opt_out`, or an import) and are never updated or
    deleted: the model refuses to save an existing record or delete one, the queryset refuses
    `update`/`delete`, and on PostgreSQL a trigger refuses both as well.
    """

    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.PROTECT, related_name="consent_records"
    )
    action = models.CharField(max_length=8, choices=ConsentAction.choices)
    scope = models.CharField(max_length=16, choices=ConsentScope.choices)
    source = models.CharField(max_length=32, choices=ConsentSource.choices)
    evidence = models.TextField(
        blank=True,
        help_text="Proof: a form id, a URL, a screenshot reference, a WhatsApp message id, ...",
    )
    captured_at = models.DateTimeField(help_text="When the person gave it.")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The user (or API token's user) who recorded it; empty for system processes.",
    )
    recorded_via = models.CharField(
        max_length=200,
        blank=True,
        help_text="How it was recorded, e.g. 'API token' or 'import #4'.",
    )
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    policy_version = models.CharField(
        max_length=64, blank=True, help_text="Version of the terms or privacy notice shown."
    )
    source_import = models.ForeignKey(
        "contacts.ContactImport",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consent_records",
    )

    objects = ConsentRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-captured_at", "-id"]
        indexes = [
            models.Index(
                "contact",
                models.F("captured_at").desc(),
                models.F("id").desc(),
                name="contacts_consent_latest_idx",
            ),
            models.Index(fields=["captured_at"], name="contacts_consent_captured_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(action=ConsentAction.OPT_IN) | ~models.Q(evidence=""),
                name="%(app_label)s_%(class)s_opt_in_has_evidence",
            ),
            models.CheckConstraint(
                condition=models.Q(action__in=ConsentAction.values),
                name="%(app_label)s_%(class)s_action_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(scope__in=ConsentScope.values),
                name="%(app_label)s_%(class)s_scope_valid",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_action_display()} {self.get_scope_display()} ({self.captured_at:%Y-%m-%d})"
        )

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise ConsentLedgerIsAppendOnly
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ConsentLedgerIsAppendOnly
