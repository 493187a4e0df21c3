"""`manage.py seed_demo`, which `make run` calls on every start."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from campaigns.models import Campaign
from campaigns.services import campaign_validation_errors
from contacts.models import ConsentRecord, Contact
from templates_app.models import MessageTemplate, SenderNumber, WhatsAppAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def project_var(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    return tmp_path / "var"


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_a_superuser_and_prints_working_credentials(project_var, client):
    output = seed()

    password = (project_var / "demo-admin-password").read_text().strip()
    assert f"admin / {password}" in output
    assert client.login(username="admin", password=password)
    assert get_user_model().objects.get(username="admin").is_superuser
    assert SenderNumber.objects.get().account == WhatsAppAccount.objects.get()
    assert "Demo ready: " in output
    languages = set(
        MessageTemplate.objects.filter(name="order_update", status="APPROVED").values_list(
            "language", flat=True
        )
    )
    assert {"en_US", "pt_BR"} <= languages
    assert Contact.objects.count() == 50
    assert ConsentRecord.objects.filter(action="opt_in").count() == 45
    campaign = Campaign.objects.get()
    assert campaign.status == "draft"
    assert campaign_validation_errors(campaign) == {}


def test_running_seed_demo_twice_changes_nothing_and_keeps_the_password(project_var):
    first = seed()
    counts = (
        get_user_model().objects.count(),
        SenderNumber.objects.count(),
        Contact.objects.count(),
        ConsentRecord.objects.count(),
        Campaign.objects.count(),
        MessageTemplate.objects.count(),
    )

    second = seed()

    assert (
        get_user_model().objects.count(),
        SenderNumber.objects.count(),
        Contact.objects.count(),
        ConsentRecord.objects.count(),
        Campaign.objects.count(),
        MessageTemplate.objects.count(),
    ) == counts
    assert first == second
