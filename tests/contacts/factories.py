"""Factories of the contacts app.

Consent is written through the services (`opt_in` / `opt_out` below) so the current-consent
columns stay in step with the ledger, exactly as in production; `ConsentRecordFactory` writes the
ledger alone, for tests about the ledger itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from contacts import services
from contacts.models import (
    ConsentAction,
    ConsentRecord,
    ConsentScope,
    ConsentSource,
    Contact,
    Segment,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def groups(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        for name in extracted or []:
            self.groups.add(Group.objects.get(name=name))


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact
        skip_postgeneration_save = True

    # +44 75xx xxxxxx: a block of valid UK mobile numbers.
    phone = factory.Sequence(lambda n: f"+4475{n:08d}")
    wa_id = factory.LazyAttribute(lambda contact: contact.phone[1:] if contact.phone else "")
    name = factory.Sequence(lambda n: f"Customer {n}")
    language = "en_GB"
    timezone = "Europe/London"
    attributes = factory.LazyFunction(dict)

    @factory.post_generation
    def tags(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if extracted:
            services.contact_update(contact=self, tags=extracted)


class ConsentRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentRecord

    contact = factory.SubFactory(ContactFactory)
    action = ConsentAction.OPT_IN
    scope = ConsentScope.MARKETING
    source = ConsentSource.WEB_FORM
    evidence = factory.Sequence(lambda n: f"signup-form-submission-{n}")
    captured_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")


def ago(**delta: float) -> datetime:
    return timezone.now() - timedelta(**delta)


def opt_in(
    contact: Contact,
    scope: str = ConsentScope.MARKETING,
    *,
    captured_at: datetime | None = None,
    evidence: str = "web form submission 1234",
) -> ConsentRecord:
    return services.consent_record_opt_in(
        contact=contact,
        scope=scope,
        source=ConsentSource.WEB_FORM,
        evidence=evidence,
        captured_at=captured_at or ago(days=1),
    )


def opt_out(
    contact: Contact, scope: str = ConsentScope.MARKETING, *, captured_at: datetime | None = None
) -> ConsentRecord:
    return services.consent_record_opt_out(
        contact=contact,
        scope=scope,
        source=ConsentSource.INBOUND_KEYWORD,
        captured_at=captured_at or ago(hours=1),
    )
