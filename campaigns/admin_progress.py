"""What the campaign page shows of a campaign's progress: the live figures, the funnel chart
(server-rendered SVG, so no chart library or CDN) and the breakdown of what was not sent.

Everything here reads `campaign_progress` (counters, cached for a couple of seconds), so the page
and its polling stay cheap however large the campaign is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from whatsapp.errors import lookup

from .models import Campaign, CampaignStatus, MessageStatus, SkipReason
from .selectors import CampaignProgress, campaign_progress

# Statuses in which the page keeps polling quickly: something is (or may soon be) moving.
ACTIVE_STATES = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED})
FAST_POLL_SECONDS = 2
# After the end, statuses (delivered, read) and replies still come in for a while.
SETTLING_POLL_SECONDS = 5
SETTLING_PERIOD = dt.timedelta(minutes=15)
IDLE_POLL_SECONDS = 60

STATUS_ORDER = [status.value for status in MessageStatus]
STATUS_COLOURS = {
    MessageStatus.QUEUED: "#9ca3af",
    MessageStatus.DEFERRED: "#a78bfa",
    MessageStatus.SENDING: "#60a5fa",
    MessageStatus.SENT: "#2563eb",
    MessageStatus.DELIVERED: "#0d9488",
    MessageStatus.READ: "#16a34a",
    MessageStatus.FAILED: "#dc2626",
    MessageStatus.SKIPPED: "#6b7280",
    MessageStatus.EXPIRED: "#b45309",
    MessageStatus.UNKNOWN: "#7c2d12",
}

# Reasons recorded on messages that are not skip reasons of planning.
OTHER_REASONS = {
    "cancelled": "Campaign cancelled before it was sent",
    "expired": "Not sent before the campaign's deadline",
    "outcome_unknown": "Outcome unknown after a crash (not resent)",
    "lease_expired_no_proof": "Worker lost mid-send, no proof of delivery (not resent)",
    "not_sent": "Not sent",
    "unspecified": "No reason recorded",
}


def reason_label(reason: str) -> str:
    if reason in SkipReason.values:
        return str(SkipReason(reason).label)
    return OTHER_REASONS.get(reason, reason.replace("_", " "))


def error_label(code: str) -> str:
    """Meta's error code with its title, from the error table."""
    if code == "none":
        return "No error code (network failure after every attempt)"
    spec = lookup(int(code)) if code.lstrip("-").isdigit() else None
    return f"{code} — {spec.title}" if spec else f"{code} — not in the error table"


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: int


def funnel_steps(progress: CampaignProgress, *, tracked_links: bool) -> list[FunnelStep]:
    """Queued → sent → delivered → read (→ clicked) → replied. Queued counts every message of
    the audience that was to be sent, that is all but those skipped."""
    funnel = progress.funnel
    queued = progress.total - progress.by_status.get(MessageStatus.SKIPPED, 0)
    steps = [
        FunnelStep("queued", "Queued", queued),
        FunnelStep("sent", "Sent", funnel.get("sent", 0)),
        FunnelStep("delivered", "Delivered", funnel.get("delivered", 0)),
        FunnelStep("read", "Read", funnel.get("read", 0)),
    ]
    if tracked_links or funnel.get("clicked"):
        steps.append(FunnelStep("clicked", "Clicked", funnel.get("clicked", 0)))
    steps.append(FunnelStep("replied", "Replied", funnel.get("replied", 0)))
    return steps


FUNNEL_LABEL_WIDTH = 90
FUNNEL_BAR_WIDTH = 360
FUNNEL_ROW_HEIGHT = 30
FUNNEL_COLOURS = ["#9ca3af", "#2563eb", "#0d9488", "#16a34a", "#ca8a04", "#9333ea"]


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


def funnel_svg(steps: list[FunnelStep]) -> SafeString:
    """A horizontal bar per step, its width proportional to the first step."""
    base = steps[0].count if steps else 0
    width = FUNNEL_LABEL_WIDTH + FUNNEL_BAR_WIDTH + 120
    height = FUNNEL_ROW_HEIGHT * len(steps) + 4
    rows = []
    for index, step in enumerate(steps):
        y = index * FUNNEL_ROW_HEIGHT + 2
        bar = round(FUNNEL_BAR_WIDTH * step.count / base) if base else 0
        rows.append(
            format_html(
                '<g class="funnel-step" data-step="{key}" data-count="{count}">'
                '<text x="0" y="{ty}" font-size="13" fill="currentColor">{label}</text>'
                '<rect x="{x}" y="{y}" width="{bar}" height="22" rx="3" fill="{colour}"/>'
                '<text x="{tx}" y="{ty}" font-size="13" fill="currentColor">{shown} ({pct})</text>'
                "</g>",
                key=step.key,
                count=step.count,
                label=step.label,
                x=FUNNEL_LABEL_WIDTH,
                y=y,
                bar=max(bar, 1 if step.count else 0),
                colour=FUNNEL_COLOURS[index % len(FUNNEL_COLOURS)],
                tx=FUNNEL_LABEL_WIDTH + max(bar, 0) + 8,
                ty=y + 16,
                shown=f"{step.count:,}",
                pct=_percent(step.count, base),
            )
        )
    summary = ", ".join(f"{step.label} {step.count:,}" for step in steps)
    return format_html(
        '<svg class="campaign-funnel" role="img" aria-label="Funnel: {}" '
        'xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}">'
        "<title>Funnel: {}</title>{}</svg>",
        summary,
        width,
        height,
        width,
        height,
        summary,
        format_html_join("", "{}", ((row,) for row in rows)),
    )


def _breakdown_table(title: str, rows: list[tuple[str, int]], kind: str) -> SafeString:
    if not rows:
        return SafeString("")
    return format_html(
        '<table class="campaign-breakdown" data-breakdown="{}"><caption>{}</caption>'
        "<thead><tr><th>Why</th><th>Messages</th></tr></thead><tbody>{}</tbody></table>",
        kind,
        title,
        format_html_join(
            "",
            '<tr><td>{}</td><td style="text-align:right">{}</td></tr>',
            ((label, f"{count:,}") for label, count in rows),
        ),
    )


def not_sent_breakdown(progress: CampaignProgress) -> SafeString:
    """Failures by Meta error code, and skips (with expired and unknown outcomes) by reason."""
    failed = sorted(progress.failed_by_code.items(), key=lambda item: (-item[1], item[0]))
    skipped = sorted(progress.skipped_by_reason.items(), key=lambda item: (-item[1], item[0]))
    failed_table = _breakdown_table(
        "Failed, by Meta error code",
        [(error_label(code), count) for code, count in failed],
        "failed",
    )
    skipped_table = _breakdown_table(
        "Skipped, expired or unknown, by reason",
        [(reason_label(reason), count) for reason, count in skipped],
        "skipped",
    )
    if not failed and not skipped:
        return format_html("<p>{}</p>", "Every message so far was sent (or is on its way).")
    return format_html("{}{}", failed_table, skipped_table)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class CampaignFigures:
    """Everything the live parts of the campaign page show, computed once per refresh."""

    campaign: Campaign
    progress: CampaignProgress
    planned: bool

    @property
    def settled(self) -> int:
        return self.progress.total - self.progress.pending

    @property
    def percent(self) -> int:
        total = self.progress.total
        if not self.planned:
            return 0
        return round(100 * self.settled / total) if total else 100

    @property
    def counts(self) -> list[tuple[str, str, int, str]]:
        """(status, label, count, colour) for every status with messages, in the ledger's order."""
        by_status = self.progress.by_status
        return [
            (status, str(MessageStatus(status).label), by_status[status], STATUS_COLOURS[status])
            for status in STATUS_ORDER
            if by_status.get(status)
        ]

    @property
    def rate_text(self) -> str:
        return f"{self.progress.rate_per_second:.1f} messages/s"

    @property
    def eta_text(self) -> str:
        status = self.campaign.status
        if not self.planned:
            return "not planned yet" if status != CampaignStatus.RUNNING else "planning…"
        if not self.progress.pending:
            return "nothing left to send"
        if status != CampaignStatus.RUNNING:
            return f"{self.progress.pending:,} waiting ({self.campaign.get_status_display()})"
        if self.progress.eta_seconds is None:
            return f"{self.progress.pending:,} left; no sends in the last seconds"
        return f"about {_duration(self.progress.eta_seconds)} left"

    @property
    def summary_text(self) -> str:
        if not self.planned:
            if self.campaign.status == CampaignStatus.RUNNING:
                return f"Planning the audience: {self.progress.total:,} messages planned so far."
            return "Not planned yet: the audience is planned when the campaign starts."
        return (
            f"{self.settled:,} of {self.progress.total:,} messages settled ({self.percent}%)"
            f" — {self.campaign.get_status_display()}"
        )

    @property
    def poll_seconds(self) -> int | None:
        """How often the page refreshes: never for a draft, every couple of seconds while it
        sends, and less often once it has ended."""
        campaign = self.campaign
        if campaign.status == CampaignStatus.DRAFT:
            return None
        if campaign.status in ACTIVE_STATES:
            return FAST_POLL_SECONDS
        ended = campaign.finished_at or campaign.updated_at
        if ended and timezone.now() - ended < SETTLING_PERIOD:
            return SETTLING_POLL_SECONDS
        return IDLE_POLL_SECONDS

    def funnel(self) -> SafeString:
        return funnel_svg(
            funnel_steps(self.progress, tracked_links=bool(self.campaign.tracked_links))
        )

    def not_sent(self) -> SafeString:
        return not_sent_breakdown(self.progress)


def campaign_figures(campaign: Campaign) -> CampaignFigures:
    return CampaignFigures(
        campaign=campaign,
        progress=campaign_progress(campaign),
        planned=campaign.planned_at is not None,
    )
