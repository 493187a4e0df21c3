"""Factories of the templates app: accounts, sender numbers and message templates."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from templates_app.models import MessageTemplate, SenderNumber, TemplateStatus, WhatsAppAccount


def order_update_components() -> list[dict]:
    """A positional utility template with a text header, a body, a footer and a URL button."""
    return [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "Order {{1}}",
            "example": {"header_text": ["A-1042"]},
        },
        {
            "type": "BODY",
            "text": "Hi {{1}}, your order {{2}} is on its way and arrives on {{3}}.",
            "example": {"body_text": [["Maria", "A-1042", "Friday"]]},
        },
        {"type": "FOOTER", "text": "Tidings demo store"},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Track order",
                    "url": "https://shop.example.com/track/{{1}}",
                    "example": ["https://shop.example.com/track/A-1042"],
                },
                {"type": "QUICK_REPLY", "text": "Stop updates"},
            ],
        },
    ]


def loyalty_offer_components() -> list[dict]:
    """A named marketing template with a named text header."""
    return [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "A reward for {{first_name}}",
            "example": {
                "header_text_named_params": [{"param_name": "first_name", "example": "Maria"}]
            },
        },
        {
            "type": "BODY",
            "text": "Hi {{first_name}}, you have {{points}} points. Use them before Sunday.",
            "example": {
                "body_text_named_params": [
                    {"param_name": "first_name", "example": "Maria"},
                    {"param_name": "points", "example": "1200"},
                ]
            },
        },
    ]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda number: f"user{number}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")


class WhatsAppAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WhatsAppAccount

    waba_id = factory.Sequence(lambda number: str(100_000_000_000_100 + number))
    name = factory.Sequence(lambda number: f"Account {number}")


class SenderNumberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SenderNumber

    account = factory.SubFactory(WhatsAppAccountFactory)
    phone_number_id = factory.Sequence(lambda number: str(200_000_000_000_100 + number))
    display_phone_number = factory.Sequence(lambda number: f"+44 7700 9{number:05d}")


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    """An APPROVED positional template as Meta would list it."""

    class Meta:
        model = MessageTemplate

    account = factory.SubFactory(WhatsAppAccountFactory)
    name = "order_update"
    language = "en_US"
    category = MessageTemplate.Category.UTILITY
    parameter_format = MessageTemplate.ParameterFormat.POSITIONAL
    components = factory.LazyFunction(order_update_components)
    status = TemplateStatus.APPROVED
    meta_template_id = factory.Sequence(lambda number: str(800_000_000_000_100 + number))

    class Params:
        draft = factory.Trait(status=TemplateStatus.DRAFT, meta_template_id="")
        named = factory.Trait(
            name="loyalty_offer",
            category=MessageTemplate.Category.MARKETING,
            parameter_format=MessageTemplate.ParameterFormat.NAMED,
            components=factory.LazyFunction(loyalty_offer_components),
        )
