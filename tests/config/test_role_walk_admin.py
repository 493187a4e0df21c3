"""Every admin action, as every role: which are offered, and that one not offered is refused and
changes nothing. Integrators and anonymous visitors do not get into the admin at all.

The actions are enumerated from the admin site (as a superuser sees them), so a new action that
is missing from `ADMIN_ACTIONS` fails `test_every_admin_action_has_an_expectation`.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils.timezone import now

from contacts.models import Tag
from contacts.roles import (
    CAMPAIGN_LAUNCHERS_GROUP as LAUNCHERS,
)
from contacts.roles import (
    COMPLIANCE_GROUP as COMPLIANCE,
)
from contacts.roles import (
    DATA_PROTECTION_GROUP as DATA_PROTECTION,
)
from contacts.roles import (
    INTEGRATOR_GROUP as INTEGRATOR,
)
from contacts.roles import (
    MARKETING_GROUP as MARKETING,
)
from subscriptions.models import Delivery, DeliveryState, Event, Subscription
from tests.config.test_role_walk_api import ANONYMOUS, database_state
from tests.config.world import ROLES, World, build_world
from tests.templates_app.factories import UserFactory
from webhooks.models import UnmatchedStatus, WebhookDelivery

pytestmark = pytest.mark.django_db

STAFF_ROLES = [role for role, staff in ROLES.items() if staff]
NOBODY: frozenset[str] = frozenset()

# (model label, action) -> the roles it is offered to.
ADMIN_ACTIONS: dict[tuple[str, str], frozenset[str]] = {
    ("auth.Group", "delete_selected"): NOBODY,
    ("auth.User", "delete_selected"): NOBODY,
    ("contacts.Tag", "delete_selected"): NOBODY,
    ("contacts.Contact", "erase_contacts"): frozenset({DATA_PROTECTION}),
    ("contacts.Segment", "delete_selected"): frozenset({MARKETING}),
    ("templates_app.WhatsAppAccount", "delete_selected"): NOBODY,
    ("templates_app.WhatsAppAccount", "sync_templates"): NOBODY,
    ("templates_app.SenderNumber", "delete_selected"): NOBODY,
    ("templates_app.MessageTemplate", "submit_to_meta"): frozenset({MARKETING}),
    ("campaigns.DataSource", "delete_selected"): frozenset({MARKETING}),
    ("campaigns.DataSource", "forget_cached_values"): frozenset({MARKETING}),
    ("campaigns.DataSource", "test_fetch"): frozenset({MARKETING}),
    ("campaigns.Campaign", "dry_run"): frozenset({MARKETING, COMPLIANCE, LAUNCHERS}),
    ("campaigns.Campaign", "test_send"): frozenset({MARKETING}),
    ("campaigns.Campaign", "schedule"): frozenset({LAUNCHERS}),
    ("campaigns.Campaign", "start"): frozenset({LAUNCHERS}),
    ("campaigns.Campaign", "resume"): frozenset({LAUNCHERS}),
    ("campaigns.Campaign", "pause"): frozenset({MARKETING}),
    ("campaigns.Campaign", "cancel"): frozenset({MARKETING}),
    ("campaigns.Campaign", "retry_failed"): frozenset({MARKETING}),
    ("campaigns.Campaign", "delete_selected"): frozenset({MARKETING}),
    ("campaigns.Message", "export_audit"): frozenset({MARKETING, COMPLIANCE}),
    ("subscriptions.Subscription", "delete_selected"): frozenset({MARKETING}),
    ("subscriptions.Subscription", "send_test_event"): frozenset({MARKETING}),
    ("subscriptions.Subscription", "enable_again"): frozenset({MARKETING}),
    ("subscriptions.Subscription", "rotate_secret"): frozenset({MARKETING}),
    ("subscriptions.Delivery", "deliver_again"): frozenset({MARKETING}),
    ("webhooks.WebhookDelivery", "replay"): NOBODY,
    ("webhooks.UnmatchedStatus", "retry_matching"): NOBODY,
}


def model_admins() -> dict[str, admin.ModelAdmin]:
    return {model._meta.label: model_admin for model, model_admin in admin.site._registry.items()}


def request_as(user) -> object:
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def target_of(label: str, action: str, world: World) -> int:
    """The object an action is tried on: one in the state where the action would work."""
    campaign_in_state = {
        "schedule": world.draft,
        "start": world.draft,
        "resume": world.paused,
        "pause": world.running,
        "cancel": world.running,
        "retry_failed": world.completed,
    }
    objects = {
        "auth.Group": lambda: Group.objects.get(name=MARKETING),
        "auth.User": lambda: world.users[MARKETING],
        "contacts.Tag": lambda: Tag.objects.create(name="vip"),
        "contacts.Contact": lambda: world.spare_contact,
        "contacts.Segment": lambda: world.spare_segment,
        "templates_app.WhatsAppAccount": lambda: world.template.account,
        "templates_app.SenderNumber": lambda: world.sender,
        "templates_app.MessageTemplate": lambda: world.draft_template,
        "campaigns.DataSource": lambda: world.data_source,
        "campaigns.Campaign": lambda: campaign_in_state.get(action, world.draft),
        "campaigns.Message": lambda: world.failed_message,
        "subscriptions.Subscription": lambda: world.disabled_subscription,
        "subscriptions.Delivery": lambda: delivery_of(world.subscription),
        "webhooks.WebhookDelivery": lambda: WebhookDelivery.objects.create(
            body=b"{}", sha256="0" * 64
        ),
        "webhooks.UnmatchedStatus": lambda: UnmatchedStatus.objects.create(
            wamid="wamid.unmatched", status="delivered"
        ),
    }
    return objects[label]().pk


def delivery_of(subscription: Subscription) -> Delivery:
    event = Event.objects.create(type="message.delivered", source="test", occurred_at=now())
    return Delivery.objects.create(
        subscription=subscription, event=event, state=DeliveryState.FAILED
    )


def logged_in(world: World, role: str) -> Client:
    client = Client()
    if role != ANONYMOUS:
        client.force_login(world.users[role])
    return client


def post_action(client: Client, label: str, action: str, pk: int):
    app_label, model_name = label.lower().split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    return client.post(url, {"action": action, "_selected_action": [pk], "index": 0})


def test_every_admin_action_has_an_expectation():
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    offered = {
        (label, action)
        for label, model_admin in model_admins().items()
        for action in model_admin.get_actions(request_as(superuser))
    }

    assert offered == set(ADMIN_ACTIONS)


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_each_staff_role_is_offered_exactly_its_actions(role):
    world = build_world()
    request = request_as(world.users[role])

    offered = {
        (label, action)
        for label, model_admin in model_admins().items()
        for action in model_admin.get_actions(request)
    }

    assert offered == {key for key, roles in ADMIN_ACTIONS.items() if role in roles}


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_an_action_not_offered_to_a_role_is_refused_and_changes_nothing(role):
    world = build_world()
    refused = [key for key, roles in ADMIN_ACTIONS.items() if role not in roles]
    targets = {(label, action): target_of(label, action, world) for label, action in refused}
    client = logged_in(world, role)
    before = database_state()

    wrong = {}
    for (label, action), pk in targets.items():
        response = post_action(client, label, action, pk)
        if not refusal(response, staff=ROLES.get(role, False)):
            wrong[f"{label}.{action}"] = response.status_code

    assert wrong == {}
    assert database_state() == before


def refusal(response, *, staff: bool) -> bool:
    if not staff:
        # Integrators (not staff) and anonymous visitors are sent to the login page.
        return response.status_code == 302 and response["Location"].startswith(
            reverse("admin:login")
        )
    # Without the model's view permission the list itself is refused; with it, Django answers
    # "No action selected." and redirects to the list (the action is not among the choices), or
    # shows the list again when the role has no action at all there.
    if response.status_code == 200:
        return "admin/change_list.html" in [template.name for template in response.templates]
    return response.status_code in {302, 403}


def test_an_integrator_cannot_log_into_the_admin_with_a_password():
    world = build_world()
    client = Client()

    response = client.post(
        reverse("admin:login"),
        {"username": world.users[INTEGRATOR].username, "password": "correct horse battery staple"},
    )

    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("admin:index")).status_code == 302


def admin_writes(request) -> set[tuple[str, str]]:
    """(model label, verb) for every add, change or delete the admin allows `request`."""
    return {
        (label, verb)
        for label, model_admin in model_admins().items()
        for verb, allowed in (
            ("add", model_admin.has_add_permission(request)),
            ("change", model_admin.has_change_permission(request)),
            ("delete", model_admin.has_delete_permission(request)),
        )
        if allowed
    }


def test_compliance_may_add_change_or_delete_nothing_in_the_admin():
    world = build_world()
    writes = admin_writes(request_as(world.users[COMPLIANCE]))

    assert writes == set()
    assert world.users[COMPLIANCE].is_staff


def test_marketing_writes_only_the_models_of_its_work():
    world = build_world()
    writes = admin_writes(request_as(world.users[MARKETING]))

    assert writes == {
        ("contacts.Contact", "add"),
        ("contacts.Contact", "change"),
        ("contacts.Tag", "add"),
        ("contacts.Tag", "change"),
        ("contacts.ConsentRecord", "add"),
        ("contacts.Segment", "add"),
        ("contacts.Segment", "change"),
        ("contacts.Segment", "delete"),
        ("contacts.ContactImport", "add"),
        ("templates_app.MessageTemplate", "add"),
        ("templates_app.MessageTemplate", "change"),
        ("templates_app.MessageTemplate", "delete"),
        ("campaigns.DataSource", "add"),
        ("campaigns.DataSource", "change"),
        ("campaigns.DataSource", "delete"),
        ("campaigns.Campaign", "add"),
        ("campaigns.Campaign", "change"),
        ("campaigns.Campaign", "delete"),
        ("subscriptions.Subscription", "add"),
        ("subscriptions.Subscription", "change"),
        ("subscriptions.Subscription", "delete"),
    }


def test_marketing_without_the_launch_permission_cannot_test_send_to_a_staff_number_in_the_admin():
    world = build_world()
    before = database_state()
    url = reverse("admin:campaigns_campaign_test_send", args=[world.draft.pk])

    response = logged_in(world, MARKETING).post(url, {"phone": "+44 7911 123999"})

    assert response.status_code == 200  # the form again, with the refusal
    assert "permission to launch" in response.content.decode()
    assert database_state() == before


@pytest.mark.parametrize(("role", "allowed"), [(MARKETING, True), (COMPLIANCE, False)])
def test_only_template_managers_may_sync_templates_from_the_admin(role, allowed):
    world = build_world()
    url = reverse("admin:templates_app_messagetemplate_sync")

    response = logged_in(world, role).post(url)

    assert response.status_code == (302 if allowed else 403)


def test_superusers_keep_every_action():
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    request = request_as(superuser)

    assert all(
        action in model_admins()[label].get_actions(request) for label, action in ADMIN_ACTIONS
    )
