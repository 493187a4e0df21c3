"""When a message may go out: recipient-local send times and quiet hours.

Pure functions over aware datetimes and IANA timezones, so daylight-saving changes are handled by
`zoneinfo`: a local time that does not exist on a spring-forward day resolves to the instant just
after the gap, and an ambiguous one on a fall-back day to its first occurrence.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC


def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The contact's timezone, or `default` when it is empty or unknown."""
    for candidate in (name, default, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def _instant(day: dt.date, wall_time: dt.time, tz: ZoneInfo) -> dt.datetime:
    local = dt.datetime.combine(day, wall_time.replace(tzinfo=None)).replace(tzinfo=tz, fold=0)
    # Round-trip through UTC: a wall time inside a spring-forward gap becomes a real instant.
    return local.astimezone(UTC)


def local_send_instant(
    *, day: dt.date, wall_time: dt.time, tz: ZoneInfo, not_before: dt.datetime
) -> dt.datetime:
    """The instant `wall_time` happens on `day` in `tz`; the next day's if that has passed."""
    candidate = _instant(day, wall_time, tz)
    if candidate < not_before:
        candidate = _instant(day + dt.timedelta(days=1), wall_time, tz)
    if candidate < not_before:
        # Planned long after the chosen date: the next occurrence after now.
        today = not_before.astimezone(tz).date()
        candidate = _instant(today, wall_time, tz)
        if candidate < not_before:
            candidate = _instant(today + dt.timedelta(days=1), wall_time, tz)
    return candidate


def in_quiet_hours(local: dt.time, start: dt.time, end: dt.time) -> bool:
    """Quiet hours are [start, end) in local time and may wrap midnight (22:00-08:00)."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def after_quiet_hours(
    instant: dt.datetime, *, tz: ZoneInfo, start: dt.time | None, end: dt.time | None
) -> dt.datetime:
    """`instant` itself, or the end of the quiet hours it falls into (in the recipient's zone)."""
    if start is None or end is None:
        return instant
    local = instant.astimezone(tz)
    if not in_quiet_hours(local.time().replace(tzinfo=None), start, end):
        return instant
    end_day = local.date()
    if start > end and local.time().replace(tzinfo=None) >= start:
        end_day += dt.timedelta(days=1)
    return _instant(end_day, end, tz)
