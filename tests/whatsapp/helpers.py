"""Constants and helpers shared by the integration-layer tests."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

ACCESS_TOKEN = "test-access-token"
APP_SECRET = "test-app-secret"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"

SHARED_FIXTURES = Path(
    os.environ.get(
        "TIDINGS_CLOUD_API_FIXTURES",
        Path(__file__).resolve().parents[3] / "shared" / "reference" / "cloud-api-fixtures",
    )
)


def shared_fixture(name: str) -> Any:
    """A public example payload from the reference folder, or skip the test if it is absent."""
    path = SHARED_FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared fixture {name} not available")
    return json.loads(path.read_text(encoding="utf-8"))


class WebhookSink:
    """A callable webhook target that keeps every delivery (raw body + headers), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []

    def __call__(self, body: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            self.deliveries.append((body, headers))

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for body, _ in self.deliveries]

    @property
    def statuses(self) -> list[dict[str, Any]]:
        """Every status event delivered, in delivery order."""
        return [
            status
            for body in self.bodies
            for entry in body["entry"]
            for change in entry["changes"]
            if change["field"] == "messages"
            for status in change["value"].get("statuses", [])
        ]

    @property
    def template_updates(self) -> list[dict[str, Any]]:
        return [
            change["value"]
            for body in self.bodies
            for entry in body["entry"]
            for change in entry["changes"]
            if change["field"] == "message_template_status_update"
        ]
