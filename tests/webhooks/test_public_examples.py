"""Every public example payload (cloud-api-fixtures, when present) through the real endpoint:
acknowledged, and processed without an error."""

from __future__ import annotations

import json

import pytest

from tests.whatsapp.helpers import SHARED_FIXTURES
from webhooks.models import DeliveryStatus


def _examples() -> list[tuple[str, bytes]]:
    if not SHARED_FIXTURES.is_dir():
        return []
    examples = []
    for path in sorted(SHARED_FIXTURES.glob("*.json")):
        if path.name.startswith("pywa__"):
            document = json.loads(path.read_text(encoding="utf-8"))
            examples += [
                (f"{path.name}:{name}", json.dumps(body).encode())
                for name, body in document.items()
            ]
        else:
            examples.append((path.name, path.read_bytes()))
    return examples


EXAMPLES = _examples()


@pytest.mark.django_db
@pytest.mark.skipif(not EXAMPLES, reason="shared cloud-api-fixtures folder not available")
@pytest.mark.parametrize(("name", "body"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_every_public_example_is_acknowledged_and_processed_without_error(deliver, name, body):
    delivery = deliver(body)

    if b'"entry"' in body:
        assert delivery.status == DeliveryStatus.PROCESSED, delivery.error
        assert delivery.summary
    else:
        # Send and error responses kept beside the webhooks are not webhooks: quarantined.
        assert delivery.status == DeliveryStatus.QUARANTINED
