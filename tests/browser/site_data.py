"""Prepare the browser tests' site, in its own process (`python -m tests.browser.site_data`,
with the site's environment): migrate, seed the demo data as `make run` does, and create the two
staff members the tests log in as. Prints one line of JSON with what the tests need to know.

* **marketer**: the Marketing group, plus the campaign permissions including the separate one to
  launch (granted to the user as well, so the tests do not depend on how the groups are set up);
* **auditor**: the Compliance group, plus the view permission of every model (and nothing else).
"""

from __future__ import annotations

import json
import sys

import django

PASSWORDS = {"marketer": "marketer-browser-pass-1", "auditor": "auditor-browser-pass-1"}
MARKETING_EXTRA = [
    ("campaigns", "view_campaign"),
    ("campaigns", "add_campaign"),
    ("campaigns", "change_campaign"),
    ("campaigns", "launch_campaign"),
    ("campaigns", "view_message"),
    ("campaigns", "view_messagestatusevent"),
    ("campaigns", "view_datasource"),
    ("webhooks", "view_inboundmessage"),
]
OUR_APPS = ["contacts", "templates_app", "campaigns", "webhooks"]


def prepare() -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.core.management import call_command

    from contacts.roles import COMPLIANCE_GROUP, MARKETING_GROUP

    call_command("migrate", interactive=False, verbosity=0)
    call_command("seed_demo", verbosity=0)
    users = get_user_model()

    marketer, _ = users.objects.get_or_create(username="marketer", defaults={"is_staff": True})
    marketer.set_password(PASSWORDS["marketer"])
    marketer.save()
    marketer.groups.add(Group.objects.get(name=MARKETING_GROUP))
    for app_label, codename in MARKETING_EXTRA:
        marketer.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )

    auditor, _ = users.objects.get_or_create(username="auditor", defaults={"is_staff": True})
    auditor.set_password(PASSWORDS["auditor"])
    auditor.save()
    compliance = Group.objects.get(name=COMPLIANCE_GROUP)
    auditor.groups.add(compliance)
    auditor.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=OUR_APPS, codename__startswith="view_"
        )
    )
    # Erasure may be deliberately given to Compliance (it answers legal requests): then its
    # action is the one write the auditor is offered.
    compliance_erases = compliance.permissions.filter(codename="erase_contact").exists()
    return {"passwords": PASSWORDS, "compliance_erases": compliance_erases}


if __name__ == "__main__":
    django.setup()
    facts = prepare()
    sys.stdout.write(json.dumps(facts) + "\n")
