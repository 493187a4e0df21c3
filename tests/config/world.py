"""A small but complete Tidings world for tests that walk the whole API or admin: one object of
every kind, in every state an endpoint needs, and a user (with a token) in each group."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.authtoken.models import Token

from campaigns.conversions import conversion_record
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Conversion,
    DataSource,
    Message,
    MessageStatus,
)
from contacts.models import Contact, ContactImport, Segment
from contacts.roles import (
    CAMPAIGN_LAUNCHERS_GROUP,
    COMPLIANCE_GROUP,
    DATA_PROTECTION_GROUP,
    INTEGRATOR_GROUP,
    MARKETING_GROUP,
)
from subscriptions.models import Subscription
from subscriptions.services import subscription_create, subscription_update
from templates_app.models import MessageTemplate, SenderNumber
from tests.campaigns.factories import (
    CampaignFactory,
    ContactFactory,
    MessageFactory,
    MessageTemplateFactory,
    SegmentFactory,
    SenderNumberFactory,
    opt_in,
)
from tests.campaigns.personalisation.factories import DataSourceFactory
from tests.templates_app.factories import UserFactory
from whatsapp import reset_provider

# Every group, and whether its members are staff (may log into the admin).
ROLES = {
    MARKETING_GROUP: True,
    COMPLIANCE_GROUP: True,
    CAMPAIGN_LAUNCHERS_GROUP: True,
    DATA_PROTECTION_GROUP: True,
    INTEGRATOR_GROUP: False,
}


@dataclass
class World:
    contact: Contact
    spare_contact: Contact
    template: MessageTemplate
    draft_template: MessageTemplate
    sender: SenderNumber
    segment: Segment
    spare_segment: Segment
    draft: Campaign
    running: Campaign
    paused: Campaign
    completed: Campaign
    data_source: DataSource
    failed_message: Message
    contact_import: ContactImport
    conversion: Conversion
    subscription: Subscription
    disabled_subscription: Subscription
    users: dict[str, object] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


def member_of(group_name: str, *, staff: bool, username: str | None = None):
    user = UserFactory(username=username or f"{group_name.lower().replace(' ', '-')}-member")
    user.is_staff = staff
    user.set_password("correct horse battery staple")
    user.save()
    user.groups.add(Group.objects.get(name=group_name))
    return user


def build_world() -> World:
    # The sandbox provider is cached with the state directory of the test that first used it;
    # this test's sandbox (in its own tmp directory) must not remember templates submitted before.
    reset_provider()
    template = MessageTemplateFactory()
    sender = SenderNumberFactory(account=template.account)
    contact = ContactFactory(name="Maria", external_id="C-1042")
    opt_in(contact)
    spare_contact = ContactFactory(name="Ana", external_id="C-1043")
    opt_in(spare_contact)
    segment = SegmentFactory(name="Everyone")

    def campaign(status: str, **fields) -> Campaign:
        return CampaignFactory(
            template=template, sender=sender, segment=segment, status=status, **fields
        )

    now = timezone.now()
    completed = campaign(CampaignStatus.COMPLETED, planned_at=now, finished_at=now)
    failed_message = MessageFactory(
        campaign=completed,
        contact=contact,
        status=MessageStatus.FAILED,
        error_code=131000,
        failed_at=now - dt.timedelta(minutes=5),
    )
    world = World(
        contact=contact,
        spare_contact=spare_contact,
        template=template,
        draft_template=MessageTemplateFactory(
            account=template.account, name="welcome_offer", draft=True
        ),
        sender=sender,
        segment=segment,
        spare_segment=SegmentFactory(name="Unused"),
        draft=campaign(CampaignStatus.DRAFT),
        running=campaign(CampaignStatus.RUNNING, planned_at=now, started_at=now),
        paused=campaign(CampaignStatus.PAUSED, planned_at=now, started_at=now),
        completed=completed,
        data_source=DataSourceFactory(),
        failed_message=failed_message,
        contact_import=ContactImport.objects.create(file_name="contacts.csv"),
        conversion=conversion_record(
            contact=contact,
            order_id="ORD-1",
            value=Decimal("49.90"),
            currency="EUR",
            occurred_at=now - dt.timedelta(minutes=1),
            fingerprint="world",
        ).conversion,
        # Port 9 (discard) refuses connections: a test event fails fast and harmlessly.
        subscription=subscription_create(
            target_url="http://127.0.0.1:9/hooks", event_types=["message.delivered"]
        ),
        disabled_subscription=subscription_update(
            subscription=subscription_create(
                target_url="http://127.0.0.1:9/paused", event_types=["message.read"]
            ),
            active=False,
        ),
    )
    for group_name, staff in ROLES.items():
        user = member_of(group_name, staff=staff)
        world.users[group_name] = user
        world.tokens[group_name] = Token.objects.create(user=user).key
    return world
