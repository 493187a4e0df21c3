"""Sender numbers: Meta's per-number throughput cap is stored and guarded by the database."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from templates_app.models import SenderNumber, WhatsAppAccount

pytestmark = pytest.mark.django_db


def test_a_sender_number_defaults_to_metas_standard_throughput():
    account = WhatsAppAccount.objects.create(waba_id="1001", name="Acme")

    number = SenderNumber.objects.create(
        account=account, phone_number_id="2001", display_phone_number="+44 7700 900001"
    )

    assert number.throughput_per_second == 80
    assert number.messaging_limit_tier == SenderNumber.MessagingLimitTier.TIER_250
    assert str(number) == "+44 7700 900001 (Acme)"


def test_a_zero_throughput_cap_is_refused_by_the_database():
    account = WhatsAppAccount.objects.create(waba_id="1001", name="Acme")

    with pytest.raises(IntegrityError):
        SenderNumber.objects.create(
            account=account,
            phone_number_id="2001",
            display_phone_number="+44 7700 900001",
            throughput_per_second=0,
        )


def test_a_phone_number_id_belongs_to_one_sender_only():
    account = WhatsAppAccount.objects.create(waba_id="1001", name="Acme")
    SenderNumber.objects.create(account=account, phone_number_id="2001", display_phone_number="+1")

    with pytest.raises(IntegrityError):
        SenderNumber.objects.create(
            account=account, phone_number_id="2001", display_phone_number="+2"
        )
