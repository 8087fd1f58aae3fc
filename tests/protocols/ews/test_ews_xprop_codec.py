"""The extended property codec (``smsync.protocols.ews.extended``): a value of every
PropertyType round-trips through its stored text, through a vCard or iCalendar line,
and through the XML of an answer and a request; ExtendedFieldURIs keep their identity;
and the settings-backed storage of messages and folders refuses what it cannot keep."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import attrs
import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.formats.contentlines import Component, Property, parse_components, serialize
from smsync.protocols.ews import extended, extended_store, ids, shapes
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.soap import t

#: Text an XML document can carry (what a client can send).
xml_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
                   .filter(lambda c: c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd"
                           or c > "\uffff"))
SCALAR_VALUES = {
    "String": xml_text,
    "Boolean": st.sampled_from(["true", "false"]),
    "Short": st.integers(-2 ** 15, 2 ** 16 - 1).map(str),
    "Integer": st.integers(-2 ** 31, 2 ** 32 - 1).map(str),
    "Long": st.integers(-2 ** 63, 2 ** 64 - 1).map(str),
    "Currency": st.integers(-2 ** 63, 2 ** 63 - 1).map(str),
    "Double": st.floats(allow_nan=False, allow_infinity=False).map(repr),
    "Float": st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    "ApplicationTime": st.floats(0, 1e6, allow_nan=False).map(repr),
    "SystemTime": st.datetimes(datetime(1601, 1, 1), datetime(9999, 1, 1), timezones=st.just(timezone.utc))
    .map(lambda d: d.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")),
    "Binary": st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode("ascii")),
    "CLSID": st.uuids().map(str),
}


@st.composite
def typed_values(draw):
    scalar = draw(st.sampled_from(sorted(SCALAR_VALUES)))
    if draw(st.booleans()):
        return f"{scalar}Array", draw(st.lists(SCALAR_VALUES[scalar], min_size=1, max_size=5))
    return scalar, [draw(SCALAR_VALUES[scalar])]


@settings(max_examples=300)
@given(typed_values())
def test_values_round_trip_through_stored_text_and_content_lines(typed):
    kind, values = typed
    stored = extended.encode(kind, values)
    assert extended.decode(stored) == (kind, values)
    assert extended.encode(*extended.decode(stored)) == stored
    for name, inner in (("VCARD", None), ("VCALENDAR", "VEVENT")):
        target = Component(inner or name, [Property("UID", "x")])
        root = target if inner is None else Component(name, [], [target])
        extended.set_in(target, {"name/00020329-0000-0000-c000-000000000046/a%20b": stored})
        back = parse_components(serialize(root))[0]
        back = back if inner is None else back.components[0]
        assert extended.component_props(back) == {"name/00020329-0000-0000-c000-000000000046/a%20b": stored}


@settings(max_examples=200)
@given(typed_values())
def test_values_round_trip_through_the_xml_of_an_answer(typed):
    kind, values = typed
    uri = extended.Uri(kind, tag=0x3A4F)
    stored = extended.encode(kind, values)
    element = extended.property_element(uri, stored)
    reparsed = etree.fromstring(etree.tostring(element))
    assert extended.read_value(reparsed, kind) == stored


uris = st.one_of(
    st.builds(lambda tag, kind: extended.Uri(kind, tag=tag),
              st.integers(0, 0x7FFF) | st.just(0xFFFF), st.sampled_from(sorted(extended.TYPES))),
    st.builds(lambda set_id, name, kind: extended.Uri(kind, set_id=str(set_id), name=name),
              st.uuids(), xml_text.filter(lambda s: 0 < len(s) <= 255), st.sampled_from(sorted(extended.TYPES))),
    st.builds(lambda dist, pid, kind: extended.Uri(kind, set_id=extended.DISTINGUISHED_SETS[dist], pid=pid,
                                                   distinguished=dist),
              st.sampled_from(sorted(extended.DISTINGUISHED_SETS)), st.integers(0, 0xFFFFFFFF),
              st.sampled_from(sorted(extended.TYPES))),
)


@given(uris)
def test_an_extended_field_uri_keeps_its_identity(uri):
    back = extended.parse_uri(etree.fromstring(etree.tostring(uri.element())))
    assert back == uri and back.key == uri.key
    # The key is a parameter value that needs no quoting.
    assert not set(uri.key) & set(',;:"') and not any(ord(c) < 32 for c in uri.key)


def test_a_distinguished_set_and_its_guid_are_one_property():
    by_name = etree.fromstring(f'<t:ExtendedFieldURI xmlns:t="{t("x")[1:-2]}" DistinguishedPropertySetId="PublicStrings" '
                               'PropertyName="Keywords" PropertyType="StringArray"/>')
    by_guid = etree.fromstring(f'<t:ExtendedFieldURI xmlns:t="{t("x")[1:-2]}" '
                               'PropertySetId="00020329-0000-0000-C000-000000000046" '
                               'PropertyName="Keywords" PropertyType="StringArray"/>')
    assert extended.parse_uri(by_name).key == extended.parse_uri(by_guid).key
    hexed = etree.fromstring(f'<t:ExtendedFieldURI xmlns:t="{t("x")[1:-2]}" PropertyTag="0x1090" '
                             'PropertyType="Integer"/>')
    decimal = etree.fromstring(f'<t:ExtendedFieldURI xmlns:t="{t("x")[1:-2]}" PropertyTag="4240" '
                               'PropertyType="Integer"/>')
    assert extended.parse_uri(hexed).key == extended.parse_uri(decimal).key == "tag/0x1090"
    assert extended.parse_uri(hexed).element().get("PropertyTag") == "0x1090"


@pytest.mark.parametrize("kind, values, code", [
    ("Integer", ["12.5"], extended.INVALID_VALUE),
    ("Short", ["70000"], extended.INVALID_VALUE),
    ("Boolean", ["yes"], extended.INVALID_VALUE),
    ("SystemTime", ["tomorrow"], extended.INVALID_VALUE),
    ("Binary", ["not base64!"], extended.INVALID_VALUE),
    ("CLSID", ["{nope}"], extended.INVALID_VALUE),
    ("StringArray", [], extended.INVALID_VALUE),
    ("String", ["a", "b"], extended.INVALID_VALUE),
    ("Object", ["x"], extended.INVALID_EXTENDED),
    ("String", ["x" * (extended.MAX_VALUE + 1)], extended.TOO_LARGE),
])
def test_values_not_of_their_type_are_refused(kind, values, code):
    with pytest.raises(EWSError) as caught:
        extended.encode(kind, values)
    assert caught.value.code == code


def test_a_shape_asks_for_extended_properties_and_render_answers_only_those_held():
    xml = (f'<m:GetItem xmlns:m="{t("x")[1:-2].replace("types", "messages")}" xmlns:t="{t("x")[1:-2]}">'
           '<m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:AdditionalProperties>'
           '<t:FieldURI FieldURI="item:Subject"/>'
           '<t:ExtendedFieldURI PropertyTag="0x3A4F" PropertyType="Integer"/>'
           '<t:ExtendedFieldURI PropertyTag="0x3A50" PropertyType="String"/>'
           '<t:ExtendedFieldURI PropertyTag="0x3A51" PropertyType="String"/>'
           '</t:AdditionalProperties></m:ItemShape></m:GetItem>')
    shape = shapes.parse_shape(etree.fromstring(xml), "ItemShape")
    assert [u.key for u in shape.extended] == ["tag/0x3a4f", "tag/0x3a50", "tag/0x3a51"]
    node = etree.Element(t("Task"))
    for tag in ("ItemId", "Subject", "DueDate", "Status"):
        etree.SubElement(node, t(tag))
    # 0x3a50 is kept as another type than asked: not answered; 0x3a51 is not kept.
    extended.render(node, {"tag/0x3a4f": "Integer:7", "tag/0x3a50": "Integer:8"}, shape)
    names = [c.tag.rpartition("}")[2] for c in node]
    assert names == ["ItemId", "Subject", "ExtendedProperty", "DueDate", "Status"]
    assert node[2].findtext(t("Value")) == "7"
    bare = etree.Element(t("Task"))
    extended.render(bare, {"tag/0x3a4f": "Integer:7"}, attrs.evolve(shape, extended=()))
    assert len(bare) == 0


# -- messages and folders in the settings ----------------------------------------------


class FakeSettings:
    def __init__(self):
        self.values = {}

    async def get(self, account, key):
        return self.values.get((account, key))

    async def set(self, account, key, value):
        if value is None:
            self.values.pop((account, key), None)
        else:
            self.values[(account, key)] = value


@attrs.define
class FakeStore:
    settings: object = None


@attrs.define
class FakeCtx:
    store: object
    account: str = "alice@example.org"


@attrs.frozen
class Info:
    uid: int


class FakeMailbox:
    id = "box1"

    def __init__(self, uids):
        self.uids = set(uids)

    async def messages(self, uids):
        return [Info(u) for u in sorted(self.uids) if u in uids]


class NoSettingsStore:
    pass


@pytest_twisted.ensureDeferred
async def test_a_store_without_settings_refuses_to_keep_message_and_folder_properties():
    ctx = FakeCtx(NoSettingsStore())
    with pytest.raises(EWSError) as caught:
        await extended_store.change_message(ctx, FakeMailbox([1]), 1, {"tag/0x3a4f": "Integer:1"})
    assert caught.value.code == extended.CANNOT_SAVE
    with pytest.raises(EWSError) as caught:
        await extended_store.change_folder(ctx, ids.FolderRef(ctx.account, ids.MAIL_FOLDER, "box1"),
                                           {"tag/0x3a4f": "Integer:1"})
    assert caught.value.code == extended.CANNOT_SAVE
    # Nothing to keep is no refusal, and reading finds nothing.
    await extended_store.change_message(ctx, FakeMailbox([1]), 1, {})
    assert await extended_store.message_table(ctx, "box1") == {}


@pytest_twisted.ensureDeferred
async def test_message_properties_are_cleaned_lazily_and_capped():
    ctx = FakeCtx(FakeStore(FakeSettings()))
    box = FakeMailbox([1, 2, 3])
    for uid in (1, 2, 3):
        await extended_store.change_message(ctx, box, uid, {"tag/0x3a4f": f"Integer:{uid}"})
    box.uids = {3, 4}  # 1 and 2 were expunged
    await extended_store.change_message(ctx, box, 4, {"tag/0x3a4f": "Integer:4"})
    assert sorted(await extended_store.message_table(ctx, "box1")) == ["3", "4"]
    await extended_store.change_message(ctx, box, 3, {"tag/0x3a4f": None})
    assert sorted(await extended_store.message_table(ctx, "box1")) == ["4"]
    big = extended.encode("String", ["x" * 30000])
    await extended_store.change_message(ctx, box, 3, {"name/a/1": big})
    with pytest.raises(EWSError) as caught:
        await extended_store.change_message(ctx, box, 4, {"name/a/2": big, "name/a/3": big})
    assert caught.value.code == extended.TOO_LARGE
    stored = json.loads(ctx.store.settings.values[(ctx.account, "ews:xprop:m:box1")])
    assert sorted(stored) == ["3", "4"] and "name/a/2" not in stored["4"]


# -- other protocols' edits keep them --------------------------------------------------

XPROP = "X-SMSYNC-EWS-XPROP;X-KEY=tag/0x3a4f:StringArray:a\\,b,c\r\n"
CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Erin Example\r\nN:Example;Erin;;;\r\n"
        + XPROP + "END:VCARD\r\n").encode()
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:e1\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:20260504T090000Z\r\nDTEND:20260504T100000Z\r\n"
         "SUMMARY:Planning\r\n" + XPROP + "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()
TODO = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:t1\r\n"
        "DTSTAMP:20260101T000000Z\r\nSUMMARY:Review\r\n" + XPROP + "END:VTODO\r\nEND:VCALENDAR\r\n").encode()


@pytest.mark.parametrize("module, data, namespace, field, component", [
    ("contacts", CARD, "Contacts:", "FirstName", "VCARD"),
    ("calendar", EVENT, "Calendar:", "Subject", "VEVENT"),
    ("tasks", TODO, "Tasks:", "Subject", "VTODO"),
])
def test_an_eas_edit_keeps_the_extended_properties(module, data, namespace, field, component):
    import importlib

    from smsync.formats.wbxml import Element

    converter = importlib.import_module(f"smsync.protocols.eas.{module}")
    app = converter.to_application_data(data, "16.1")
    changed = Element(app.namespace, app.tag, [
        Element(c.namespace, c.tag, text="Edited") if (c.namespace, c.tag) == (namespace, field) else c
        for c in app.children])
    assert changed != app
    stored = converter.from_application_data(changed, "16.1", existing=data)
    assert b"Edited" in stored
    root = parse_components(stored)[0]
    target = root if root.name == component else next(c for c in root.components if c.name == component)
    assert extended.component_props(target) == {"tag/0x3a4f": "StringArray:a\\,b,c"}
    assert extended.decode("StringArray:a\\,b,c") == ("StringArray", ["a,b", "c"])


def test_well_known_message_tags_follow_the_flags():
    from smsync.protocols.ews import extended_flags as wk

    assert wk.props_of({"\\Seen", "\\Flagged", "\\Answered"}, True) == {
        wk.FLAG_STATUS: "Integer:2", wk.MESSAGE_FLAGS: "Integer:17", wk.LAST_VERB: "Integer:102"}
    assert wk.props_of({"\\Draft", "$Forwarded", "\\Answered"}, False) == {
        wk.MESSAGE_FLAGS: "Integer:8", wk.LAST_VERB: "Integer:104"}
    add, remove, rest = wk.to_flags({wk.FLAG_STATUS: "Integer:2", wk.LAST_VERB: None,
                                     wk.MESSAGE_FLAGS: "Integer:0", "tag/0x3a4f": "Integer:1"})
    assert (add, remove, rest) == ({"\\Flagged"}, {"\\Answered", "$Forwarded", "\\Seen"},
                                   {"tag/0x3a4f": "Integer:1"})
    assert wk.to_flags({wk.FLAG_STATUS: None, wk.LAST_VERB: "Integer:102"})[:2] == ({"\\Answered"}, {"\\Flagged"})
