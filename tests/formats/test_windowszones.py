"""Windows zones: every mapped zone exists, and a zone rebuilt from its one-year rule
(how Windows and EWS describe zones) gives the tz database's offset at every hour of
that year."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from smsync.formats.windowszones import WINDOWS_TO_IANA, RuleZone, iana_zone, yearly_rule


def test_every_windows_zone_maps_to_a_known_iana_zone():
    for windows_id in WINDOWS_TO_IANA:
        assert iana_zone(windows_id) is not None, windows_id
    assert iana_zone("Mars Standard Time") is None


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "Australia/Sydney",
                                  "Pacific/Auckland", "Asia/Kolkata", "America/St_Johns", "Etc/UTC"])
def test_a_rule_zone_agrees_with_the_tz_database(name):
    zone = ZoneInfo(name)
    rule = yearly_rule(zone, 2026)
    rebuilt = RuleZone(rule.standard, rule.daylight, rule.to_daylight, rule.to_standard)
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    while at.year == 2026:
        assert at.astimezone(rebuilt).utcoffset() == at.astimezone(zone).utcoffset(), at
        # And back: local wall time to UTC, away from the switches' own hours.
        local = at.astimezone(zone).replace(tzinfo=None)
        if abs(at.astimezone(zone).utcoffset() - (at + timedelta(hours=3)).astimezone(zone).utcoffset()) \
                == timedelta(0) and abs((at - timedelta(hours=3)).astimezone(zone).utcoffset()
                                        - at.astimezone(zone).utcoffset()) == timedelta(0):
            assert local.replace(tzinfo=rebuilt).astimezone(timezone.utc) == at
        at += timedelta(hours=1)
