"""Posting Meta-shaped payloads to the real endpoint, signed like Meta signs them."""

from __future__ import annotations

import json
import string
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client

from whatsapp import signatures

URL = "/webhooks/whatsapp/"
PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
ENTRY_TIME = 1751247548


def payload(name: str, **values: Any) -> bytes:
    """The body of `tests/payloads/<name>.json` with its `${placeholders}` filled in.

    `timestamp` defaults to now (Meta's string of Unix seconds), `callback` to "", and
    `entry_time` (an account-level entry's integer `time`) to a fixed moment.
    """
    values.setdefault("timestamp", int(time.time()))
    values.setdefault("entry_time", ENTRY_TIME)
    values.setdefault("callback", "")
    text = string.Template((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    body = text.substitute({key: str(value) for key, value in values.items()})
    json.loads(body)  # a fixture with a typo fails here, not deep in the endpoint
    return body.encode()


def post(client: Client, body: bytes | dict, *, signature: str | None = "valid"):
    """POST a body to the endpoint; `signature` is "valid", None (missing) or a header value."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if signature == "valid":
        headers["HTTP_X_HUB_SIGNATURE_256"] = signatures.sign(raw, settings.WHATSAPP_APP_SECRET)
    elif signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return client.post(URL, data=raw, content_type="application/json", **headers)
