"""Roles: Compliance reads templates and their history; Marketing manages templates."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from tests.support.roles import group_codenames
from tests.templates_app.factories import (
    MessageTemplateFactory,
    UserFactory,
    WhatsAppAccountFactory,
    order_update_components,
)

pytestmark = pytest.mark.django_db


def template_codenames(group_name: str) -> set[str]:
    return group_codenames(group_name, "templates_app")


def member_of(group_name: str) -> APIClient:
    user = UserFactory()
    user.groups.add(Group.objects.get(name=group_name))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_compliance_may_only_view_template_models():
    assert template_codenames("Compliance") == {
        "view_whatsappaccount",
        "view_sendernumber",
        "view_messagetemplate",
        "view_templatestatuschange",
    }


def test_marketing_manages_templates_and_nobody_may_rewrite_the_history():
    assert template_codenames("Marketing") == {
        "view_whatsappaccount",
        "view_sendernumber",
        "view_messagetemplate",
        "add_messagetemplate",
        "change_messagetemplate",
        "delete_messagetemplate",
        "view_templatestatuschange",
    }


def test_the_groups_roles_hold_in_the_api():
    template = MessageTemplateFactory()
    account = WhatsAppAccountFactory()
    draft = {
        "account": account.pk,
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": order_update_components(),
    }
    compliance, marketing = member_of("Compliance"), member_of("Marketing")

    assert compliance.get(f"/api/v1/templates/{template.pk}/").status_code == 200
    assert compliance.post("/api/v1/templates/", draft, format="json").status_code == 403
    assert marketing.post("/api/v1/templates/", draft, format="json").status_code == 201


def test_integrators_read_accounts_numbers_and_templates_to_send_them():
    assert template_codenames("Integrator") == {
        "view_whatsappaccount",
        "view_sendernumber",
        "view_messagetemplate",
        "view_templatestatuschange",
    }
