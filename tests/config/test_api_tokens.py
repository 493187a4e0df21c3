"""`manage.py create_api_token`: a token for an integrator, printed once, that the API accepts."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.templates_app.factories import UserFactory

pytestmark = pytest.mark.django_db


def create_api_token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_an_api_only_integrator_is_created_with_a_token_that_the_api_accepts():
    key, notes = create_api_token("crm-sync", "--group", "Integrator", "--create-user")

    user = get_user_model().objects.get(username="crm-sync")
    assert Token.objects.get(user=user).key == key
    assert (user.is_staff, user.has_usable_password()) == (False, False)
    assert list(user.groups.values_list("name", flat=True)) == ["Integrator"]
    assert "Created API-only user 'crm-sync'" in notes
    assert "printed once" in notes
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/contacts/").status_code == 200
    assert client.get("/api/v1/data-sources/").status_code == 200
    assert client.post("/api/v1/templates/sync/").status_code == 403


def test_a_missing_user_is_not_created_without_create_user():
    with pytest.raises(CommandError, match=r"No user .ghost.\. Add --create-user"):
        create_api_token("ghost")

    assert not get_user_model().objects.filter(username="ghost").exists()


def test_an_unknown_group_is_refused_naming_the_groups_there_are():
    with pytest.raises(
        CommandError, match=r"No group named Integrators; the groups are: .*Integrator"
    ):
        create_api_token("crm-sync", "--group", "Integrators", "--create-user")

    assert not get_user_model().objects.filter(username="crm-sync").exists()


def test_an_existing_token_is_never_shown_again_and_is_replaced_only_with_rotate():
    user = UserFactory(username="erp")
    old = Token.objects.create(user=user).key

    with pytest.raises(CommandError, match=r"already has a token .* Add --rotate"):
        create_api_token("erp")
    assert Token.objects.get(user=user).key == old

    new, notes = create_api_token("erp", "--rotate")

    assert new != old
    assert Token.objects.get(user=user).key == new
    assert "Replaced the API token of 'erp'" in notes
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert client.get("/api/v1/contacts/").status_code == 401


def test_an_existing_staff_user_keeps_its_staff_status_and_gains_the_group():
    user = UserFactory(username="analyst", is_staff=True)

    key, _ = create_api_token("analyst", "--group", "Compliance")

    user.refresh_from_db()
    assert user.is_staff
    assert Token.objects.get(user=user).key == key
    assert list(user.groups.values_list("name", flat=True)) == ["Compliance"]


def test_an_inactive_user_gets_no_token():
    UserFactory(username="left", is_active=False)

    with pytest.raises(CommandError, match="inactive"):
        create_api_token("left")

    assert not Token.objects.exists()


def test_an_administrator_creates_a_token_in_the_admin():
    integrator = UserFactory(username="shop")
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))

    response = client.post("/admin/authtoken/tokenproxy/add/", {"user": integrator.pk})

    assert response.status_code == 302
    assert Token.objects.filter(user=integrator).exists()
