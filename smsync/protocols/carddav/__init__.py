"""CardDAV (RFC 6352) on the WebDAV core: the address book home, address book
properties, addressbook-query and addressbook-multiget, vCard 3.0 and 4.0 served in the
version a client asks for.

``build_resources`` is the twistd builder (``smsync.tap.registry``); ``extension``
gives the ``Extension`` to install into any ``DavApp``.
"""

from __future__ import annotations

from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.bundle import VCardExport
from smsync.formats.repair import repair_vcard
from smsync.formats.vcard import to_version
from smsync.model import CollectionKind
from smsync.protocols.carddav.filters import CARD
from smsync.protocols.carddav.properties import CARDDAV_PROPERTIES, VERSIONS, card
from smsync.protocols.carddav.reports import CARDDAV_REPORTS
from smsync.protocols.dav import MAX_XML_BODY, Extension, HomeSpec, app_for, site_resources
from smsync.protocols.dav.xml import register_prefix

register_prefix("CR", CARD)

DEFAULT_MAX_RESOURCE_SIZE = 10 * 1024 * 1024


def negotiate(content: bytes, accept: str) -> tuple[bytes, str]:
    """The vCard in the version an Accept header asks for (``text/vcard; version=4.0``),
    the first one offered that is understood; unchanged otherwise."""
    for media in accept.split(","):
        parts = [p.strip() for p in media.split(";")]
        if parts[0].lower() not in ("text/vcard", "text/x-vcard"):
            continue
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        version = params.get("version", "").strip('"')
        if version in VERSIONS:
            try:
                return to_version(content, version), f"text/vcard; charset=utf-8; version={version}"
            except (InvalidData, ValueError):
                break
    return content, "text/vcard; charset=utf-8"


def _kind(components: Optional[frozenset]) -> CollectionKind:
    return CollectionKind.ADDRESSBOOK


def home_spec(max_resource_size: int = DEFAULT_MAX_RESOURCE_SIZE) -> HomeSpec:
    return HomeSpec(
        segment="addressbooks",
        protocol="carddav",
        kinds=frozenset({CollectionKind.ADDRESSBOOK}),
        resourcetype=card("addressbook"),
        content_type="text/vcard; charset=utf-8",
        media_types=frozenset({"text/vcard", "text/x-vcard", "text/directory"}),
        choose_kind=_kind,
        conditions={
            "valid_data": card("valid-address-data"),
            "supported_component": card("valid-address-data"),
            "uid_conflict": card("no-uid-conflict"),
            "max_size": card("max-resource-size"),
            "supported_data": card("supported-address-data"),
        },
        max_resource_size=max_resource_size,
        negotiate=negotiate,
        repair=repair_vcard,
        export=VCardExport,
        suffix=".vcf",
    )


def extension(max_resource_size: int = DEFAULT_MAX_RESOURCE_SIZE) -> Extension:
    """The CardDAV extension of the WebDAV core."""
    return Extension(
        name="carddav",
        compliance=("addressbook",),
        homes=(home_spec(max_resource_size),),
        properties=CARDDAV_PROPERTIES,
        reports=CARDDAV_REPORTS,
    )


def build_resources(edge) -> dict:
    """twistd builder: ``/dav/`` (shared with CalDAV, also answering at ``/`` and
    ``/principals/``) and ``/.well-known/carddav``, over the server's ``smsync.edge.Edge``."""
    size = getattr(getattr(edge.config, "limits", None), "max_item_size", DEFAULT_MAX_RESOURCE_SIZE)
    xml = getattr(getattr(edge.config, "limits", None), "max_xml_body", MAX_XML_BODY)
    app = app_for(edge.store, edge.portal, max_resource_size=size, edge=edge, max_xml_body=xml)
    app.install(extension(size))
    return site_resources(app, "carddav")
