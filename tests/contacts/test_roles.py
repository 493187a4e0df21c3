"""The Compliance and Marketing groups created by the contacts migrations."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from contacts.roles import (
    COMPLIANCE_GROUP,
    DATA_PROTECTION_GROUP,
    INTEGRATOR_GROUP,
    MARKETING_GROUP,
)
from tests.support.roles import group_codenames

pytestmark = pytest.mark.django_db


def codenames(group_name: str) -> set[str]:
    return group_codenames(group_name, "contacts")


def test_compliance_may_only_view_contacts_data():
    assert codenames(COMPLIANCE_GROUP) == {
        "view_contact",
        "view_tag",
        "view_consentrecord",
        "view_segment",
        "view_contactimport",
        "view_contactimportrejectedrow",
    }


def test_marketing_manages_contacts_and_imports_but_cannot_erase_or_rewrite_consent():
    granted = codenames(MARKETING_GROUP)

    assert {"add_contact", "change_contact", "add_contactimport", "add_consentrecord"} <= granted
    assert "erase_contact" not in granted
    assert "delete_contact" not in granted
    assert {"change_consentrecord", "delete_consentrecord"}.isdisjoint(granted)


def test_integrators_keep_contacts_consent_segments_and_imports_in_step_but_cannot_erase():
    assert codenames(INTEGRATOR_GROUP) == {
        "view_contact",
        "add_contact",
        "change_contact",
        "view_tag",
        "view_consentrecord",
        "add_consentrecord",
        "view_segment",
        "add_segment",
        "change_segment",
        "delete_segment",
        "view_contactimport",
        "add_contactimport",
        "view_contactimportrejectedrow",
    }


def test_only_data_protection_may_erase_contacts():
    holders = set(
        Group.objects.filter(permissions__codename="erase_contact").values_list("name", flat=True)
    )

    assert holders == {DATA_PROTECTION_GROUP}
    assert codenames(DATA_PROTECTION_GROUP) == {
        "view_contact",
        "erase_contact",
        "view_consentrecord",
    }
