"""Pure parts of the admin desk: time phrases, callback data, summary cleaning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.admin import callbacks as cb
from bot.admin.queue import QueueError, clean_summary
from bot.admin.timeparse import TimeParseError, format_local, parse_when, preset

# Saturday 21 Nov 2026, 10:00 UTC = 11:00 in Berlin (CET).
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18:30", datetime(2026, 11, 21, 17, 30, tzinfo=UTC)),  # today, local evening
        ("6:30pm", datetime(2026, 11, 21, 17, 30, tzinfo=UTC)),
        ("09:00", datetime(2026, 11, 22, 8, 0, tzinfo=UTC)),  # passed today → tomorrow
        ("tomorrow 9:00", datetime(2026, 11, 22, 8, 0, tzinfo=UTC)),
        ("tomorrow", datetime(2026, 11, 22, 8, 0, tzinfo=UTC)),
        ("today 23:15", datetime(2026, 11, 21, 22, 15, tzinfo=UTC)),
        ("tonight", datetime(2026, 11, 21, 19, 0, tzinfo=UTC)),
        ("+1h", NOW + timedelta(hours=1)),
        ("+1h30m", NOW + timedelta(minutes=90)),
        ("in 2 hours", NOW + timedelta(hours=2)),
        ("now", NOW),
        ("2026-11-21T18:30", datetime(2026, 11, 21, 17, 30, tzinfo=UTC)),  # naive = local
        ("2026-11-21 18:30", datetime(2026, 11, 21, 17, 30, tzinfo=UTC)),
        ("2026-11-21T18:30:00Z", datetime(2026, 11, 21, 18, 30, tzinfo=UTC)),
        ("2026-11-22T09:00+05:00", datetime(2026, 11, 22, 4, 0, tzinfo=UTC)),
        ("2026-11-23", datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
    ],
)
def test_phrases_in_the_admins_zone(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, BERLIN) == expected


def test_utc_is_the_default_zone() -> None:
    assert parse_when("18:30", NOW) == datetime(2026, 11, 21, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["", "soon", "25:00", "9", "2026-11-20T10:00", "2030-01-01", "tomorrow 27:00", "+0h"]
)
def test_refused(text: str) -> None:
    with pytest.raises(TimeParseError):
        parse_when(text, NOW, BERLIN)


def test_tonight_after_eight_is_soon_but_still_today() -> None:
    late = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)  # 21:00 Berlin
    assert parse_when("tonight", late, BERLIN) == late + timedelta(minutes=30)
    with pytest.raises(TimeParseError):
        parse_when("tonight", datetime(2026, 11, 21, 22, 45, tzinfo=UTC), BERLIN)


def test_presets_and_display() -> None:
    assert preset("1h", NOW, BERLIN) == NOW + timedelta(hours=1)
    assert preset("tm", NOW, BERLIN) == datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    assert format_local(datetime(2026, 11, 22, 8, 0, tzinfo=UTC), BERLIN) == "Sun 22 Nov 09:00 CET"
    with pytest.raises(TimeParseError):
        preset("xx", NOW)


def test_dst_switch_uses_the_wall_clock() -> None:
    # 29 Mar 2026: Berlin jumps from CET to CEST; "tomorrow 9:00" is 07:00 UTC, not 08:00.
    before = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert parse_when("tomorrow 9:00", before, BERLIN) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)


def test_callback_data_round_trip_and_limits() -> None:
    rows = cb.item_keyboard(2**31)
    datas = [b.callback_data for row in rows for b in row]
    assert all(d is not None and len(d.encode()) <= 64 for d in datas)
    assert cb.decode("q:s:12:1h") == cb.QueueAction("s", item_id=12, arg="1h")
    assert cb.decode("rv:ok:5:-1004444444444") == cb.QueueAction(
        "ok", article_id=5, chat_id=-1004444444444
    )
    for forged in (
        "q:ok:x",
        "q:zz:1",
        "q:ok:-3",
        "q:ok:1:2:3",
        "rv:ok:1",
        "x:ok:1",
        "q:ok:" + "9" * 70,
    ):
        assert cb.decode(forged) is None
    with pytest.raises(ValueError, match="too long"):
        cb.encode("cc", 1, "x" * 64)


def test_edited_summary_goes_through_the_sanitizer() -> None:
    cleaned = clean_summary('<b>Bold</b> <script>alert(1)</script><a href="javascript:x">y</a> & z')
    assert cleaned == "<b>Bold</b> y &amp; z"
    with pytest.raises(QueueError, match="empty"):
        clean_summary("<img src=x>")
    with pytest.raises(QueueError, match="keep it under"):
        clean_summary("word " * 400)
