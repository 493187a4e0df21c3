"""Factories for personalisation tests: data sources, and contacts shaped for them."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from campaigns.models import DataSource
from contacts.models import Contact


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    phone = factory.Sequence(lambda n: f"+4479220{n:05d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    external_id = factory.Sequence(lambda n: f"C-{n}")
    language = "en_US"
    timezone = "Europe/London"
    attributes = factory.LazyFunction(dict)


class DataSourceFactory(DjangoModelFactory):
    class Meta:
        model = DataSource
        django_get_or_create = ("name",)

    name = "loyalty"
    url_template = "http://127.0.0.1:9/customers/{external_id}"
    key_field = DataSource.KeyField.EXTERNAL_ID
    auth_header = "Authorization"
    auth_env_var = ""
    timeout_seconds = 0.5
    ttl_seconds = 3600
    max_concurrency = 8
