"""Meta's webhook shapes, as the stand-ins and load generators of `bench/` post them.

One envelope (`object`, `entry[].changes[].value` with the number's metadata) around status
objects or inbound messages, for the one WhatsApp account and number every run uses.
"""

from __future__ import annotations

import json
from typing import Any

WABA_ID = "100000000000001"
PHONE_NUMBER_ID = "100000000000002"
DISPLAY_PHONE_NUMBER = "15550001234"


def messages_webhook(value: dict[str, Any]) -> dict[str, Any]:
    """A `messages` field change of our number carrying `value` (statuses, messages, contacts)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DISPLAY_PHONE_NUMBER,
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def status(
    *,
    wamid: str,
    status: str,
    timestamp: int | str,
    recipient: str,
    callback: str,
    **extra: Any,
) -> dict[str, Any]:
    """One status object; `extra` adds Meta's optional blocks (`pricing`, `errors`, ...)."""
    return {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient,
        "biz_opaque_callback_data": callback,
        **extra,
    }


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
