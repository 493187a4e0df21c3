"""Recipient-local send times and quiet hours, across timezones and daylight-saving changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from campaigns.scheduling import after_quiet_hours, in_quiet_hours, local_send_instant, zone

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_ten_oclock_local_is_a_different_instant_in_each_timezone():
    now = at("2026-03-01 00:00")
    day = dt.date(2026, 3, 2)

    instants = {
        name: local_send_instant(day=day, wall_time=dt.time(10), tz=ZoneInfo(name), not_before=now)
        for name in ("Europe/London", "America/Sao_Paulo", "Asia/Kolkata")
    }

    assert instants == {
        "Europe/London": at("2026-03-02 10:00"),
        "America/Sao_Paulo": at("2026-03-02 13:00"),
        "Asia/Kolkata": at("2026-03-02 04:30"),
    }


def test_a_local_time_already_past_moves_to_the_next_day():
    now = at("2026-03-02 11:00")

    instant = local_send_instant(
        day=dt.date(2026, 3, 2), wall_time=dt.time(10), tz=ZoneInfo("Europe/London"), not_before=now
    )

    assert instant == at("2026-03-03 10:00")


def test_ten_oclock_follows_the_clocks_on_the_day_they_change():
    now = at("2026-03-01 00:00")
    london = ZoneInfo("Europe/London")

    before = local_send_instant(
        day=dt.date(2026, 3, 28), wall_time=dt.time(10), tz=london, not_before=now
    )
    after = local_send_instant(
        day=dt.date(2026, 3, 29), wall_time=dt.time(10), tz=london, not_before=now
    )

    assert before == at("2026-03-28 10:00")  # GMT
    assert after == at("2026-03-29 09:00")  # BST, clocks went forward at 01:00 UTC


def test_a_wall_time_inside_the_spring_forward_gap_goes_out_just_after_it():
    now = at("2026-03-01 00:00")

    instant = local_send_instant(
        day=dt.date(2026, 3, 29),
        wall_time=dt.time(1, 30),
        tz=ZoneInfo("Europe/London"),
        not_before=now,
    )

    assert instant == at("2026-03-29 01:30")  # 02:30 BST: the first real instant after 01:30 GMT
    assert instant.astimezone(ZoneInfo("Europe/London")).hour == 2


def test_an_ambiguous_fall_back_wall_time_uses_its_first_occurrence():
    now = at("2026-10-01 00:00")

    instant = local_send_instant(
        day=dt.date(2026, 10, 25),
        wall_time=dt.time(1, 30),
        tz=ZoneInfo("Europe/London"),
        not_before=now,
    )

    assert instant == at("2026-10-25 00:30")  # 01:30 BST, not 01:30 GMT an hour later


def test_quiet_hours_may_wrap_midnight():
    start, end = dt.time(21), dt.time(8)

    assert in_quiet_hours(dt.time(23, 30), start, end)
    assert in_quiet_hours(dt.time(7, 59), start, end)
    assert not in_quiet_hours(dt.time(8), start, end)
    assert not in_quiet_hours(dt.time(12), start, end)
    assert not in_quiet_hours(dt.time(12), dt.time(9), dt.time(9))


def test_a_send_falling_in_quiet_hours_is_deferred_to_their_end_in_local_time():
    sao_paulo = ZoneInfo("America/Sao_Paulo")

    late_evening = after_quiet_hours(
        at("2026-06-10 01:00"), tz=sao_paulo, start=dt.time(21), end=dt.time(8)
    )  # 22:00 local
    early_morning = after_quiet_hours(
        at("2026-06-10 09:00"), tz=sao_paulo, start=dt.time(21), end=dt.time(8)
    )  # 06:00 local
    daytime = after_quiet_hours(
        at("2026-06-10 15:00"), tz=sao_paulo, start=dt.time(21), end=dt.time(8)
    )

    assert late_evening == at("2026-06-10 11:00")  # 08:00 local the next morning
    assert early_morning == at("2026-06-10 11:00")
    assert daytime == at("2026-06-10 15:00")


def test_an_unknown_or_empty_timezone_falls_back_to_the_default():
    assert zone("Mars/Olympus_Mons", "Europe/Lisbon") == ZoneInfo("Europe/Lisbon")
    assert zone("", "Europe/Lisbon") == ZoneInfo("Europe/Lisbon")
    assert zone(None, "") == ZoneInfo("UTC")


def test_quiet_hours_spanning_the_spring_forward_night_end_at_local_eight():
    london = ZoneInfo("Europe/London")

    # 23:00 GMT on Saturday; the clocks go forward at 01:00 UTC; 08:00 BST is 07:00 UTC.
    released = after_quiet_hours(
        at("2026-03-28 23:00"), tz=london, start=dt.time(22), end=dt.time(8)
    )

    assert released == at("2026-03-29 07:00")
    assert released.astimezone(london).time() == dt.time(8)


def test_quiet_hours_spanning_the_fall_back_night_end_at_local_eight():
    london = ZoneInfo("Europe/London")

    # 23:00 BST (22:00 UTC) on Saturday; the clocks go back at 01:00 UTC; 08:00 GMT is 08:00 UTC.
    released = after_quiet_hours(
        at("2026-10-24 22:00"), tz=london, start=dt.time(22), end=dt.time(8)
    )

    assert released == at("2026-10-25 08:00")


def test_a_quiet_hours_end_inside_the_spring_forward_gap_releases_just_after_it():
    new_york = ZoneInfo("America/New_York")

    # Quiet 00:00-02:30; 02:30 does not exist on 2026-03-08 (02:00 EST jumps to 03:00 EDT).
    released = after_quiet_hours(
        at("2026-03-08 06:00"), tz=new_york, start=dt.time(0), end=dt.time(2, 30)
    )  # 01:00 EST

    assert released == at("2026-03-08 07:30")  # 03:30 EDT, the first instant after the gap
