"""The two roles the contacts app sets up (by a data migration) and what each may do.

- **Compliance**: read-only. View permissions on every contacts model; later apps add the view
  permissions of their own models (templates, campaigns, messages) to the same group. Cannot
  edit, import, send or erase.
- **Marketing**: manages contacts, tags and segments, records consent (append-only), imports CSV
  files (``add_contactimport`` is the import permission). Marketing does **not** get
  ``contacts.erase_contact``: erasure is irreversible and answers a legal request, so it is
  granted deliberately to whoever handles data-protection requests (superusers have it).
"""

from __future__ import annotations

COMPLIANCE_GROUP = "Compliance"
MARKETING_GROUP = "Marketing"

COMPLIANCE_PERMISSIONS = {
    "contact": ["view"],
    "tag": ["view"],
    "consentrecord": ["view"],
    "segment": ["view"],
    "contactimport": ["view"],
    "contactimportrejectedrow": ["view"],
}

MARKETING_PERMISSIONS = {
    "contact": ["view", "add", "change"],
    "tag": ["view", "add", "change"],
    "consentrecord": ["view", "add"],
    "segment": ["view", "add", "change", "delete"],
    "contactimport": ["view", "add"],
    "contactimportrejectedrow": ["view"],
}
