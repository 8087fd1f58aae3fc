"""The automatic-reply settings as EWS writes and reads them, over the core's state:
what SetUserOofSettings stores reads back the same through GetUserOofSettings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from smsync.edge import oof
from smsync.protocols.ews.operations.oof import parse_settings, settings_element
from smsync.protocols.ews.soap import t

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
_when = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=timezone.utc))


def user_settings(state, audience, start, end, internal, external):
    node = etree.Element(t("UserOofSettings"))
    etree.SubElement(node, t("OofState")).text = state
    etree.SubElement(node, t("ExternalAudience")).text = audience
    duration = etree.SubElement(node, t("Duration"))
    etree.SubElement(duration, t("StartTime")).text = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    etree.SubElement(duration, t("EndTime")).text = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    for tag, value in (("InternalReply", internal), ("ExternalReply", external)):
        etree.SubElement(etree.SubElement(node, t(tag)), t("Message")).text = value
    return node


@given(st.sampled_from(["Disabled", "Enabled", "Scheduled"]), st.sampled_from(["None", "Known", "All"]),
       _when, st.integers(1, 10_000), _text, _text)
def test_settings_read_back_as_set(state, audience, start, hours, internal, external):
    end = start + timedelta(hours=hours)
    stored = parse_settings(user_settings(state, audience, start, end, internal, external), oof.Oof())
    # Through the store's bytes, as another process reads them.
    stored = oof.Oof.from_bytes(stored.to_bytes())
    shown = settings_element(stored, datetime(2026, 12, 6, tzinfo=timezone.utc))
    assert shown.findtext(t("OofState")) == state
    assert shown.findtext(f"{t('InternalReply')}/{t('Message')}") == internal
    if state != "Disabled":
        assert shown.findtext(t("ExternalAudience")) == audience
        if audience != "None":
            assert shown.findtext(f"{t('ExternalReply')}/{t('Message')}") == external
    if state == "Scheduled":
        assert shown.findtext(f"{t('Duration')}/{t('StartTime')}") == start.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert shown.findtext(f"{t('Duration')}/{t('EndTime')}") == end.strftime("%Y-%m-%dT%H:%M:%SZ")
