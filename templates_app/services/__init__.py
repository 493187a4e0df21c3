"""Writes and business rules of the templates app: drafts, submission, sync and status changes.

Public interface (what the API, admin, tasks and the apps to the right call):

* drafts: `template_create_draft`, `template_update_draft`, `template_definition_problems`,
  `template_definition_warnings` and `template_warnings` (risks that block nothing);
* submission: `template_submit`;
* sync: `template_sync` (what every entry point runs: the configured sync service, see
  `services.sync`), `template_sync_accounts`, `template_sync_account`, `template_sync_all`
  (results as `AccountSyncResult`);
* Meta's reports (webhooks): `template_record_status_change` (returns a `TemplateStatusUpdate`
  saying whether campaigns must pause), `template_record_quality_update`;
* `TemplateError`, raised with a user-facing message (and per-component problems).
"""

from __future__ import annotations

from .drafts import (
    template_create_draft,
    template_definition_problems,
    template_definition_warnings,
    template_submit,
    template_update_draft,
    template_warnings,
)
from .errors import TemplateError
from .status import (
    TemplateStatusUpdate,
    template_record_quality_update,
    template_record_status_change,
)
from .sync import (
    AccountSyncResult,
    template_sync,
    template_sync_account,
    template_sync_accounts,
    template_sync_all,
)

__all__ = [
    "AccountSyncResult",
    "TemplateError",
    "TemplateStatusUpdate",
    "template_create_draft",
    "template_definition_problems",
    "template_definition_warnings",
    "template_record_quality_update",
    "template_record_status_change",
    "template_submit",
    "template_sync",
    "template_sync_account",
    "template_sync_accounts",
    "template_sync_all",
    "template_update_draft",
    "template_warnings",
]
