"""Writes and business rules of the webhooks app.

Public interface (what the view, the tasks, the admin and the management command call):

* the acknowledgement path: `webhook_delivery_store` (one INSERT, processing enqueued after commit);
* processing: `webhook_deliveries_drain` (every pending delivery, in batches),
  `webhook_deliveries_process` (one batch; idempotent), `webhook_delivery_process` (one delivery;
  `replay=True` reprocesses any);
* operations: `webhook_deliveries_select`, `webhook_deliveries_replay`, `webhook_deliveries_sweep`,
  `webhook_records_purge`;
* statuses Meta reported before we could match them: `unmatched_statuses_retry`,
  `unmatched_statuses_give_up`, `unmatched_retry_delays`;
* the reply to a consent keyword, when one is configured: `consent_reply_send`.
"""

from __future__ import annotations

from .deliveries import (
    DeliveryOutcome,
    webhook_deliveries_drain,
    webhook_deliveries_process,
    webhook_deliveries_replay,
    webhook_deliveries_select,
    webhook_deliveries_sweep,
    webhook_delivery_process,
    webhook_delivery_store,
    webhook_records_purge,
)
from .replies import consent_reply_send
from .statuses import (
    UnmatchedRetryOutcome,
    unmatched_retry_delays,
    unmatched_statuses_give_up,
    unmatched_statuses_retry,
)

__all__ = [
    "DeliveryOutcome",
    "UnmatchedRetryOutcome",
    "consent_reply_send",
    "unmatched_retry_delays",
    "unmatched_statuses_give_up",
    "unmatched_statuses_retry",
    "webhook_deliveries_drain",
    "webhook_deliveries_process",
    "webhook_deliveries_replay",
    "webhook_deliveries_select",
    "webhook_deliveries_sweep",
    "webhook_delivery_process",
    "webhook_delivery_store",
    "webhook_records_purge",
]
