"""Erasure support: the keyed phone hash and the hook other apps use to erase their own data.

Erasing a contact must also clear data that lives in apps to the right of contacts (message
contents in `campaigns`), which contacts may not import. Those apps register a step instead::

    # campaigns/apps.py
    def ready(self):
        from contacts.erasure import register_erasure_step
        from campaigns.services import messages_erase_contents_for_contact

        register_erasure_step(messages_erase_contents_for_contact)

`contacts.services.contact_erase` runs every step inside its own transaction with the contact id
(``step(contact_id)``): if a step raises, nothing is erased and the error reaches the caller.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from django.conf import settings

ErasureStep = Callable[[int], None]

_steps: list[ErasureStep] = []


def register_erasure_step(step: ErasureStep) -> None:
    """Run `step(contact_id)` whenever a contact is erased. Registering twice has no effect."""
    if step not in _steps:
        _steps.append(step)


def unregister_erasure_step(step: ErasureStep) -> None:
    if step in _steps:
        _steps.remove(step)


def erasure_steps() -> tuple[ErasureStep, ...]:
    return tuple(_steps)


def erasure_key() -> bytes:
    """The HMAC key for phone hashes: ``TIDINGS_ERASURE_KEY``, or one derived from SECRET_KEY.

    Derived keys change when SECRET_KEY is rotated, and erased numbers would then no longer be
    recognised; production should set ``TIDINGS_ERASURE_KEY`` and never change it.
    """
    configured = settings.TIDINGS_ERASURE_KEY
    if configured:
        return configured.encode()
    return hmac.new(
        settings.SECRET_KEY.encode(), b"tidings.contacts.erasure-key", hashlib.sha256
    ).digest()


def phone_hash(phone: str) -> str:
    """Keyed hash of an E.164 number: recognisable later, not reversible without the key."""
    return hmac.new(erasure_key(), phone.encode(), hashlib.sha256).hexdigest()
