"""The admin landing page for staff: today's messages, the week's rates, failures, what needs
attention, running campaigns, and warnings.

Each panel is shown to those who may see what it is about (the model's view permission). The
heavy parts (message statistics, the webhook backlog) are cached for a few seconds, per timezone
and day; a cache that is down only costs the caching, never the page.

Warnings:

* a running campaign's failure rate spikes: more than `TIDINGS_DASHBOARD_FAILURE_SPIKE_RATE`
  (20%) of its last `TIDINGS_DASHBOARD_FAILURE_SPIKE_RESULTS` (200) send outcomes within the
  last hour failed, counted once it has at least `FAILURE_SPIKE_MIN_RESULTS` of them;
* a template is paused (or disabled) by Meta;
* a campaign was stopped (an account error, a paused template) and waits to be resumed;
* webhook processing falls behind: the oldest delivery not processed yet arrived more than
  `TIDINGS_DASHBOARD_WEBHOOK_LAG_SECONDS` (120) ago; or deliveries failed processing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from campaigns.models import CampaignStatus, MessageStatus
from campaigns.selectors import campaign_progress
from templates_app.models import TemplateStatus
from webhooks.models import DeliveryStatus
from whatsapp.errors import lookup

from . import selectors

logger = logging.getLogger(__name__)

T = TypeVar("T")

MESSAGE_STATS_CACHE_SECONDS = 30
WEBHOOK_CACHE_SECONDS = 10
FAILURE_SPIKE_MIN_RESULTS = 20
PANEL_ROWS = 10
RATE_DAYS = 7


@dataclass(frozen=True)
class DashboardWarning:
    text: str
    url: str = ""
    level: str = "warning"  # or "error"


def _cached(key: str, seconds: int, compute: Callable[[], T]) -> T:
    try:
        value = cache.get(key)
    except Exception as error:  # the page must not depend on the cache being up
        logger.warning("dashboard cache unavailable: %s", error)
        return compute()
    if value is not None:
        return value
    value = compute()
    try:
        cache.set(key, value, seconds)
    except Exception as error:
        logger.warning("dashboard cache unavailable: %s", error)
    return value


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _change_url(model: str, pk: int) -> str:
    return reverse(f"admin:{model}_change", args=[pk])


# --- Panels -------------------------------------------------------------------------------------


def _error_title(code: str) -> str:
    if not code.isdigit():
        return "No Meta error code"
    spec = lookup(int(code))
    return spec.title if spec else ""


def _message_statistics(tz: dt.tzinfo) -> dict[str, Any]:
    today = selectors.messages_today_by_status(tz=tz)
    days = selectors.daily_rates(days=RATE_DAYS, tz=tz)
    week_start = timezone.make_aware(dt.datetime.combine(days[0].day, dt.time.min), tz)
    failures = selectors.failures_by_code(since=week_start)
    outgoing = sum(day.outgoing for day in days)
    delivered = sum(day.delivered for day in days)
    read = sum(day.read for day in days)
    return {
        "today": [
            {"status": status, "label": label, "count": today.get(status, 0)}
            for status, label in MessageStatus.choices
            if today.get(status)
        ],
        "today_total": sum(today.values()),
        "days": [
            {
                "day": day.day,
                "created": day.created,
                "outgoing": day.outgoing,
                "delivered": day.delivered,
                "read": day.read,
                "failed": day.failed,
                "delivery_rate": _percent(day.delivered, day.outgoing),
                "read_rate": _percent(day.read, day.delivered),
            }
            for day in days
        ],
        "week": {
            "outgoing": outgoing,
            "delivered": delivered,
            "read": read,
            "delivery_rate": _percent(delivered, outgoing),
            "read_rate": _percent(read, delivered),
        },
        "failures": [
            {
                "code": code,
                "title": _error_title(code),
                "count": count,
            }
            for code, count in failures.items()
        ],
    }


def _campaign_panel(now: dt.datetime) -> tuple[list[dict[str, Any]], list[DashboardWarning]]:
    rows, warnings = [], []
    spike_rate = settings.TIDINGS_DASHBOARD_FAILURE_SPIKE_RATE
    spike_results = settings.TIDINGS_DASHBOARD_FAILURE_SPIKE_RESULTS
    for campaign in selectors.campaigns_in([CampaignStatus.RUNNING], limit=PANEL_ROWS):
        url = _change_url("campaigns_campaign", campaign.pk)
        try:
            progress = campaign_progress(campaign)
        except Exception as error:  # the progress cache lives in Redis
            logger.warning("dashboard: progress of campaign %s unavailable: %s", campaign.pk, error)
            progress = None
        done = progress.total - progress.pending if progress else None
        outcomes = selectors.campaign_recent_outcomes(campaign, limit=spike_results, now=now)
        rows.append(
            {
                "campaign": campaign,
                "url": url,
                "progress": progress,
                "done": done,
                "percent": (
                    round(100 * done / progress.total) if progress and progress.total else 0
                ),
                "recent_failure_rate": _percent(outcomes.failed, outcomes.results),
            }
        )
        if outcomes.results >= FAILURE_SPIKE_MIN_RESULTS and outcomes.failure_rate > spike_rate:
            warnings.append(
                DashboardWarning(
                    f"Campaign “{campaign.name}”: {outcomes.failed} of its last "
                    f"{outcomes.results} send results failed "
                    f"({_percent(outcomes.failed, outcomes.results):g}%, above "
                    f"{spike_rate * 100:g}%).",
                    url,
                    "error",
                )
            )
    for campaign in selectors.campaigns_in([CampaignStatus.STOPPED], limit=PANEL_ROWS):
        reason = f": {campaign.status_reason}" if campaign.status_reason else ""
        warnings.append(
            DashboardWarning(
                f"Campaign “{campaign.name}” was stopped{reason}.",
                _change_url("campaigns_campaign", campaign.pk),
            )
        )
    return rows, warnings


def _template_panel() -> tuple[list[dict[str, Any]], list[DashboardWarning]]:
    rows, warnings = [], []
    for template in selectors.templates_needing_attention(limit=PANEL_ROWS):
        url = _change_url("templates_app_messagetemplate", template.pk)
        rows.append({"template": template, "url": url})
        if template.status in (TemplateStatus.PAUSED, TemplateStatus.DISABLED):
            warnings.append(
                DashboardWarning(
                    f"Template “{template.name}” ({template.language}) is "
                    f"{template.get_status_display().lower()} by Meta: campaigns using it are "
                    f"stopped.",
                    url,
                )
            )
    return rows, warnings


def _webhook_panel(now: dt.datetime) -> tuple[dict[str, Any], list[DashboardWarning]]:
    backlog = _cached(
        "tidings:dashboard:webhooks", WEBHOOK_CACHE_SECONDS, selectors.webhook_backlog
    )
    lag = backlog.lag_seconds(now)
    threshold = settings.TIDINGS_DASHBOARD_WEBHOOK_LAG_SECONDS
    changelist = reverse("admin:webhooks_webhookdelivery_changelist")
    warnings = []
    if backlog.oldest_open_received_at is not None and lag > threshold:
        warnings.append(
            DashboardWarning(
                f"Webhook processing is behind: the oldest delivery not processed yet arrived "
                f"{_duration(lag)} ago ({backlog.open} waiting).",
                f"{changelist}?{urlencode({'status__exact': DeliveryStatus.PENDING})}",
                "error",
            )
        )
    failed = backlog.deliveries.get(DeliveryStatus.FAILED, 0)
    if failed:
        warnings.append(
            DashboardWarning(
                f"{failed} webhook deliver{'y' if failed == 1 else 'ies'} failed processing: "
                f"replay {'it' if failed == 1 else 'them'} once the cause is fixed.",
                f"{changelist}?{urlencode({'status__exact': DeliveryStatus.FAILED})}",
            )
        )
    return {
        "lag_seconds": lag,
        "lag": _duration(lag) if backlog.oldest_open_received_at else "",
        "open": backlog.open,
        "failed": failed,
        "unmatched": backlog.unmatched.get("unmatched", 0),
        "retrying": backlog.unmatched.get("retrying", 0),
        "url": changelist,
    }, warnings


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# --- The page -----------------------------------------------------------------------------------


def dashboard_context(user: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the landing page shows `user`: only the panels of what they may view."""
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    warnings: list[DashboardWarning] = []
    context: dict[str, Any] = {"now": now, "rate_days": RATE_DAYS}
    if user.has_perm("campaigns.view_message"):
        day = timezone.localdate(now, timezone=tz)
        context["messages"] = _cached(
            f"tidings:dashboard:messages:{tz}:{day.isoformat()}",
            MESSAGE_STATS_CACHE_SECONDS,
            lambda: _message_statistics(tz),
        )
        context["message_audit_url"] = reverse("admin:campaigns_message_audit")
        context["messages_url"] = reverse("admin:campaigns_message_changelist")
    if user.has_perm("campaigns.view_campaign"):
        context["campaigns"], found = _campaign_panel(now)
        warnings += found
        context["campaigns_url"] = reverse("admin:campaigns_campaign_changelist")
    if user.has_perm("templates_app.view_messagetemplate"):
        context["templates"], found = _template_panel()
        warnings += found
    if user.has_perm("webhooks.view_webhookdelivery"):
        context["webhooks"], found = _webhook_panel(now)
        warnings += found
    if user.has_perm("contacts.view_consentrecord"):
        context["consent_audit_url"] = reverse("admin:contacts_consentrecord_export")
    context["warnings"] = sorted(warnings, key=lambda warning: warning.level != "error")
    return context
