"""Reads of a campaign's results: what its messages cost and what they brought in.

Cost follows Meta's per-message pricing: only a delivered template message is charged, at the
rate of the pricing category Meta reported on it (`pricing.category` in the status webhook),
unless Meta reported it free (`billable: false`, or a `free_*` pricing type such as
`free_customer_service`). Rates come from TIDINGS_MESSAGE_RATES, in one currency. A charged
message whose category has no rate there is counted as *unpriced* rather than guessed.

Everything here is a handful of aggregate queries per campaign; nothing loops over messages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from babel.numbers import get_currency_precision
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum

from .models import Conversion, Message, MessageStatus

RESULTS_CACHE_SECONDS = 10
# What a conversion can be attributed to, and what the conversion rate is out of.
ATTRIBUTABLE_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
DELIVERED_STATUSES = (MessageStatus.DELIVERED, MessageStatus.READ)
FREE = Q(billable=False) | Q(pricing_type__startswith="free")
_CENTI_CENTS = Decimal("0.0001")


def message_rates() -> dict[str, Any]:
    """The rate table: ``{"currency": "USD", "marketing": Decimal("0.025"), ...}``."""
    return settings.TIDINGS_MESSAGE_RATES


def rate_for(category: str) -> Decimal | None:
    """The rate of a pricing category, None when the table has none (Meta spells some categories
    with a hyphen in one place and an underscore in another: both match)."""
    rate = message_rates().get(category.strip().lower().replace("-", "_"))
    return None if rate is None else Decimal(rate)


def money(amount: Decimal, currency: str) -> str:
    """`amount` with at least the currency's decimals and no more than it needs (0.075 USD stays
    0.075, 12 USD is 12.00, 1500 JPY is 1500)."""
    precision = get_currency_precision(currency)
    exponent = min(amount.normalize().as_tuple().exponent, -precision)
    return str(amount.quantize(Decimal(1).scaleb(exponent)))


def message_cost(message: Message) -> Decimal | None:
    """What Meta charges for this message in the rate table's currency: 0 until it is delivered
    and when Meta reported it free; None when its category has no rate."""
    if message.status not in DELIVERED_STATUSES:
        return Decimal(0)
    if message.billable is False or message.pricing_type.startswith("free"):
        return Decimal(0)
    return rate_for(message.pricing_category)


@dataclass(frozen=True)
class MessagesCost:
    currency: str
    amount: Decimal
    charged_messages: int
    unpriced_messages: int


def messages_cost(messages: QuerySet[Message]) -> MessagesCost:
    """The cost of `messages`: charged messages counted per pricing category (one query), times
    each category's rate."""
    charged = (
        messages.filter(status__in=DELIVERED_STATUSES)
        .exclude(FREE)
        .values("pricing_category")
        .annotate(n=Count("id"))
        .order_by()
    )
    amount, count, unpriced = Decimal(0), 0, 0
    for row in charged:
        count += row["n"]
        rate = rate_for(row["pricing_category"])
        if rate is None:
            unpriced += row["n"]
        else:
            amount += rate * row["n"]
    return MessagesCost(message_rates()["currency"], amount, count, unpriced)


@dataclass
class CampaignResults:
    """Conversions attributed to a campaign's messages, the revenue they brought (per currency),
    what the messages cost, the cost per conversion and the conversion rate."""

    conversions: int
    converted_contacts: int
    revenue: dict[str, str]
    messages_sent: int
    conversion_rate: float | None
    cost: str
    cost_currency: str
    cost_per_conversion: str | None
    charged_messages: int
    unpriced_messages: int
    attribution_window_hours: int

    def as_dict(self) -> dict:
        return asdict(self)


def _compute_results(campaign_id: int) -> CampaignResults:
    conversions = Conversion.objects.filter(campaign_id=campaign_id)
    totals = conversions.aggregate(n=Count("id"), contacts=Count("contact_id", distinct=True))
    revenue = {
        row["currency"]: money(row["total"], row["currency"])
        for row in conversions.values("currency").annotate(total=Sum("value")).order_by("currency")
    }
    messages = Message.objects.filter(campaign_id=campaign_id)
    sent = messages.filter(status__in=ATTRIBUTABLE_STATUSES).count()
    cost = messages_cost(messages)
    per_conversion = (
        money((cost.amount / totals["n"]).quantize(_CENTI_CENTS, ROUND_HALF_UP), cost.currency)
        if totals["n"]
        else None
    )
    return CampaignResults(
        conversions=totals["n"],
        converted_contacts=totals["contacts"],
        revenue=revenue,
        messages_sent=sent,
        conversion_rate=round(totals["contacts"] / sent, 4) if sent else None,
        cost=money(cost.amount, cost.currency),
        cost_currency=cost.currency,
        cost_per_conversion=per_conversion,
        charged_messages=cost.charged_messages,
        unpriced_messages=cost.unpriced_messages,
        attribution_window_hours=settings.TIDINGS_CONVERSION_ATTRIBUTION_HOURS,
    )


def _results_key(campaign_id: int) -> str:
    return f"tidings:campaign-results:{campaign_id}"


def campaign_results_forget(campaign_id: int) -> None:
    """Drop the cached results, so a conversion just recorded shows at once."""
    cache.delete(_results_key(campaign_id))


def campaign_results(campaign_id: int) -> CampaignResults:
    """A campaign's results, computed at most every few seconds (the stats poll is frequent)."""
    key = _results_key(campaign_id)
    cached = cache.get(key)
    if cached is not None:
        return CampaignResults(**cached)
    results = _compute_results(campaign_id)
    cache.set(key, results.as_dict(), RESULTS_CACHE_SECONDS)
    return results


def attribution_window() -> dt.timedelta:
    return dt.timedelta(hours=settings.TIDINGS_CONVERSION_ATTRIBUTION_HOURS)


def conversion_attributable_message(
    *, contact_id: int, occurred_at: dt.datetime, window: dt.timedelta
) -> Message | None:
    """The contact's latest campaign message sent within `window` before `occurred_at`.

    Only messages that left and were not reported failed count (sent, delivered, read); test
    sends and API messages have no campaign and never count. Read through the (contact, sent_at)
    index.
    """
    return (
        Message.objects.filter(
            contact_id=contact_id,
            campaign__isnull=False,
            status__in=ATTRIBUTABLE_STATUSES,
            sent_at__gte=occurred_at - window,
            sent_at__lte=occurred_at,
        )
        .order_by("-sent_at", "-id")
        .first()
    )
