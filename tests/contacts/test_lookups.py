"""`__any`: the id-list lookup of the send path, one array parameter on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import ConsentRecord, Contact
from tests.contacts.factories import ContactFactory, opt_in

pytestmark = pytest.mark.django_db


def test_any_selects_exactly_the_listed_rows_with_one_parameter_for_the_list():
    first, second, _other = ContactFactory.create_batch(3)

    with CaptureQueriesContext(connection) as queries:
        found = set(
            Contact.objects.filter(pk__any=[first.pk, second.pk]).values_list("pk", flat=True)
        )

    assert found == {first.pk, second.pk}
    assert "= ANY(" in queries.captured_queries[0]["sql"]


def test_any_works_on_foreign_keys_and_an_empty_list_matches_nothing():
    contact = ContactFactory()
    record = opt_in(contact)

    assert list(ConsentRecord.objects.filter(contact_id__any=[contact.pk])) == [record]
    assert not Contact.objects.filter(pk__any=[]).exists()
