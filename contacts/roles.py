"""The groups Tidings sets up (by data migrations in each app) and what each may do.

- **Marketing** (staff, admin): manages contacts, tags and segments, records consent
  (append-only), imports CSV files (``add_contactimport`` is the import permission), manages
  templates, data sources and campaigns (drafts, dry runs, tests to contacts, pause, cancel,
  retry), and reads the message ledger and the replies. It cannot **launch** (schedule, start,
  resume, or send a test to a staff number without a consent check): that is
  ``campaigns.launch_campaign``, so one person prepares a send and another approves it.
- **Campaign launchers**: ``launch_campaign`` (and view campaigns). Add the approver to
  Marketing and Campaign launchers; a team without four-eyes adds everyone to both.
- **Compliance** (staff, admin): read-only everywhere (every model of every app), the consent
  and message audit exports. Cannot edit, import, send or erase.
- **Data protection**: ``contacts.erase_contact`` (and view contacts and consent). Erasure is
  irreversible and answers a legal request, so it is granted deliberately to whoever handles
  data-protection requests; Marketing and Compliance do not have it.
- **Integrator** (API only, through tokens; the user is not staff, so the admin refuses it):
  contacts, consent, segments and imports; reads templates; authors campaigns (no launch) and
  sends one-off messages (``campaigns.add_message``).
"""

from __future__ import annotations

COMPLIANCE_GROUP = "Compliance"
MARKETING_GROUP = "Marketing"
INTEGRATOR_GROUP = "Integrator"
DATA_PROTECTION_GROUP = "Data protection"
CAMPAIGN_LAUNCHERS_GROUP = "Campaign launchers"
