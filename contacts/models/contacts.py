"""Contacts and their tags."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from config.models import TimeStampedModel

# E.164: a '+', a country code that never starts with 0, at most 15 digits in all.
E164_REGEX = r"^\+[1-9][0-9]{5,14}$"


class Tag(models.Model):
    """A label on contacts ("vip", "newsletter"); always stored lower-case so matching is simple."""

    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(name=Lower("name")) & ~models.Q(name=""),
                name="%(app_label)s_%(class)s_name_lower_case_and_not_empty",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ContactQuerySet(models.QuerySet):
    def not_erased(self) -> ContactQuerySet:
        return self.filter(erased_at__isnull=True)


class Contact(TimeStampedModel):
    """A person we may message on WhatsApp.

    Identity: `phone` (E.164, unique) and/or `whatsapp_user_id` (Meta's business-scoped user id,
    e.g. ``US.13491208655302741918``, unique when present) — since 2026 an inbound webhook may
    carry only the latter. `wa_id` is the WhatsApp id Meta reported for the phone (digits, no '+').

    Consent: `marketing_consent` / `utility_consent` point at the opt-in `ConsentRecord` that
    currently allows messages of that kind, or are empty. They are a cache of the ledger kept by
    the consent services in the same transaction as each ledger write; the ledger is the truth and
    `manage.py check_consent` verifies that the two agree. Never write these fields directly.

    Erasure leaves the row (consent records and message metadata point at it) but clears every
    personal field; `erased_phone_hash` keeps a keyed hash of the phone so a returning number can be
    recognised without storing it.
    """

    # The three identifiers are NULL when absent (not ""), so that absent values never collide in
    # their plain unique constraints, which bulk upserts need as ON CONFLICT targets.
    phone = models.CharField(  # noqa: DJ001
        max_length=16, null=True, blank=True, help_text="E.164, e.g. +447911123456."
    )
    wa_id = models.CharField(
        "WhatsApp id", max_length=20, blank=True, db_index=True, help_text="Digits, no '+'."
    )
    whatsapp_user_id = models.CharField(  # noqa: DJ001
        "WhatsApp user id",
        max_length=160,
        null=True,
        blank=True,
        help_text="Meta's business-scoped user id (BSUID), e.g. US.13491208655302741918.",
    )
    name = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(  # noqa: DJ001
        "external id", max_length=128, null=True, blank=True, help_text="The id in your CRM."
    )
    language = models.CharField(
        max_length=16, blank=True, help_text="Meta locale such as en_US, pt_BR or es."
    )
    timezone = models.CharField(
        max_length=64, blank=True, help_text="IANA name, e.g. Europe/London."
    )
    attributes = models.JSONField(default=dict, blank=True, help_text="Data for personalisation.")
    tags = models.ManyToManyField(Tag, related_name="contacts", blank=True)
    last_inbound_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last message from this person; opens WhatsApp's 24-hour service window.",
    )
    marketing_consent = models.ForeignKey(
        "contacts.ConsentRecord",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The opt-in currently relied on for marketing messages (empty: not allowed).",
    )
    utility_consent = models.ForeignKey(
        "contacts.ConsentRecord",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The opt-in currently relied on for utility and authentication messages.",
    )
    erased_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    erased_phone_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("erase_contact", "Can erase a contact (irreversible)")]
        constraints = [
            models.UniqueConstraint(fields=["phone"], name="%(app_label)s_%(class)s_unique_phone"),
            models.UniqueConstraint(
                fields=["external_id"], name="%(app_label)s_%(class)s_unique_external_id"
            ),
            models.UniqueConstraint(
                fields=["whatsapp_user_id"], name="%(app_label)s_%(class)s_unique_whatsapp_user_id"
            ),
            models.CheckConstraint(
                condition=models.Q(phone__isnull=True) | models.Q(phone__regex=E164_REGEX),
                name="%(app_label)s_%(class)s_phone_is_e164",
            ),
            models.CheckConstraint(
                condition=models.Q(phone__isnull=False)
                | models.Q(whatsapp_user_id__isnull=False)
                | models.Q(erased_at__isnull=False),
                name="%(app_label)s_%(class)s_has_an_identity",
            ),
            models.CheckConstraint(
                condition=models.Q(erased_at__isnull=True)
                | models.Q(
                    phone__isnull=True,
                    whatsapp_user_id__isnull=True,
                    external_id__isnull=True,
                    marketing_consent__isnull=True,
                    utility_consent__isnull=True,
                ),
                name="%(app_label)s_%(class)s_erased_is_anonymous",
            ),
        ]

    def __str__(self) -> str:
        if self.erased_at:
            return f"erased contact #{self.pk}"
        identity = self.phone or self.whatsapp_user_id or f"#{self.pk}"
        return f"{self.name} ({identity})" if self.name else identity

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None
