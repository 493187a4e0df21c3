"""Fixtures of the operations tests: /metrics switched on with a token, scrapes never cached."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from operations.metrics import COLLECTOR

METRICS_TOKEN = "metrics-token-for-tests"


@pytest.fixture(autouse=True)
def _metrics_settings(settings) -> None:
    settings.TIDINGS_METRICS_TOKEN = METRICS_TOKEN
    settings.TIDINGS_METRICS_ALLOWED_IPS = []
    settings.TIDINGS_METRICS_CACHE_SECONDS = 0
    COLLECTOR.reset()


def parse(text: str) -> dict[str, dict[tuple, float]]:
    """Samples by name, then by their labels as sorted (name, value) pairs."""
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def by_label(samples: dict[str, dict[tuple, float]], name: str) -> dict[str, float]:
    """A metric with one label, as {label value: value}."""
    return {labels[0][1]: value for labels, value in samples.get(name, {}).items()}


@pytest.fixture
def scrape(client):
    def run() -> dict[str, dict[tuple, float]]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
        assert response.status_code == 200, response.content
        return parse(response.content.decode())

    return run
