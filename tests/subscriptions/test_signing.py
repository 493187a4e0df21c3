"""Signatures: what a receiver checks, done the way the README documents it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time

import pytest
from django.utils import timezone

from subscriptions.models import Subscription
from subscriptions.services import subscription_rotate_secret
from subscriptions.signing import subscription_secret, verify_signature
from tests.campaigns.factories import ContactFactory

from .conftest import opt_out

pytestmark = pytest.mark.django_db


def readme_verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The README's receiver snippet, written out independently of the code under test."""
    fields = [part.split("=", 1) for part in header.split(",")]
    timestamp = next(value for key, value in fields if key == "t")
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(timestamp)) <= tolerance
    return fresh and any(
        hmac.compare_digest(expected, value) for key, value in fields if key == "v1"
    )


def test_the_secret_is_derived_from_the_master_key_and_the_public_id(settings):
    settings.TIDINGS_SUBSCRIPTION_SIGNING_KEY = "master-key-1"

    secret = subscription_secret("sub_abc")

    expected = hmac.new(
        b"master-key-1", b"tidings.subscriptions.v1:sub_abc", hashlib.sha256
    ).hexdigest()
    assert secret == f"whsec_{expected}"
    assert subscription_secret("sub_abd") != secret
    settings.TIDINGS_SUBSCRIPTION_SIGNING_KEY = "master-key-2"
    assert subscription_secret("sub_abc") != secret


def test_no_secret_is_stored_with_the_subscription(subscribe):
    subscription = subscribe("contact.opted_out")
    secret = subscription_secret(subscription.public_id)

    stored = Subscription.objects.filter(pk=subscription.pk).values().get()

    assert secret not in {str(value) for value in stored.values()}
    assert secret.removeprefix("whsec_") not in {str(value) for value in stored.values()}


def test_a_delivered_event_verifies_with_the_documented_algorithm(subscribe, feed, receiver):
    subscription = subscribe("contact.opted_out")
    opt_out(ContactFactory())

    feed()

    [request] = receiver.requests
    header = request.headers["X-Tidings-Signature"]
    secret = subscription_secret(subscription.public_id)
    assert header.startswith("t=") and header.count("v1=") == 1
    assert readme_verify(secret, header, request.body)
    assert verify_signature(request.body, header, secret)
    assert request.headers["Content-Type"] == "application/json"


def test_a_changed_body_a_wrong_secret_or_an_old_timestamp_does_not_verify(
    subscribe, feed, receiver
):
    subscription = subscribe("contact.opted_out")
    opt_out(ContactFactory())
    feed()
    [request] = receiver.requests
    header = request.headers["X-Tidings-Signature"]
    secret = subscription_secret(subscription.public_id)

    assert not readme_verify(secret, header, request.body + b" ")
    assert not readme_verify(subscription_secret("sub_other"), header, request.body)
    assert not verify_signature(request.body, header, secret, now=time.time() + 301)


def test_after_a_rotation_both_secrets_sign_until_the_grace_period_ends(
    subscribe, feed, receiver, settings
):
    # given
    subscription = subscribe("contact.opted_out")
    old_secret = subscription_secret(subscription.public_id)

    # when: the secret is rotated, and an event goes out
    rotated = subscription_rotate_secret(subscription_id=subscription.pk)
    opt_out(ContactFactory())
    feed()

    # then: signed with the new secret and the old one
    new_secret = subscription_secret(rotated.public_id)
    assert new_secret != old_secret
    [request] = receiver.requests
    header = request.headers["X-Tidings-Signature"]
    assert header.count("v1=") == 2
    assert readme_verify(new_secret, header, request.body)
    assert readme_verify(old_secret, header, request.body)

    # when: the grace period is over
    Subscription.objects.filter(pk=subscription.pk).update(
        secret_rotated_at=timezone.now() - dt.timedelta(hours=25)
    )
    opt_out(ContactFactory())
    feed()

    # then: only the new secret signs
    header = receiver.requests[1].headers["X-Tidings-Signature"]
    assert header.count("v1=") == 1
    assert readme_verify(new_secret, header, receiver.requests[1].body)
    assert not readme_verify(old_secret, header, receiver.requests[1].body)
