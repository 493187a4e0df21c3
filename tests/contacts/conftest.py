"""Users in each role the contacts app knows, and API clients for them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from contacts.roles import COMPLIANCE_GROUP, MARKETING_GROUP
from tests.contacts.factories import UserFactory


@pytest.fixture
def compliance_user():
    return UserFactory(username="compliance", groups=[COMPLIANCE_GROUP])


@pytest.fixture
def marketing_user():
    return UserFactory(username="marketing", groups=[MARKETING_GROUP])


@pytest.fixture
def privacy_officer():
    """Marketing rights plus erasure, granted deliberately."""
    user = UserFactory(username="dpo", groups=[MARKETING_GROUP])
    user.user_permissions.add(Permission.objects.get(codename="erase_contact"))
    return user


@pytest.fixture
def admin_user_account():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def api_client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api_as():
    return api_client_for
