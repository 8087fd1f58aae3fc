"""Autodiscover for EWS clients, both forms, as pure functions over bytes:

* POX (``/autodiscover/autodiscover.xml``, the "outlook" schemas): the client POSTs its
  address and is told the EWS URL (``parse_pox_request``, ``pox_settings``,
  ``pox_error``);
* SOAP (``/autodiscover/autodiscover.svc``, MS-OXWSADISC): ``GetUserSettings`` asks for
  named settings of users -- ExternalEwsUrl, InternalEwsUrl, UserDisplayName,
  AutoDiscoverSMTPAddress, EwsSupportedSchemas, CasVersion...
  (``parse_user_settings``, ``user_settings_response``).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

import attrs
from lxml import etree

from smsync.edge.autodiscover import SCHEMA_NOT_SUPPORTED, AutodiscoverError
from smsync.protocols.ews import soap

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
ENVELOPE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
ERROR_NS = ENVELOPE_NS
A = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA = "http://www.w3.org/2005/08/addressing"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

MAX_REQUEST = 64 * 1024


def _valid_email(email: str) -> bool:
    return "@" in email and len(email) <= 320 and not any(c.isspace() for c in email)


def parse_pox_request(body: bytes) -> str:
    """The address an "outlook" POX request asks about; ``AutodiscoverError``."""
    try:
        root = soap.parse_xml(body, MAX_REQUEST)
    except soap.SoapFault as e:
        raise AutodiscoverError(e.message) from None
    namespace, _, local = str(root.tag)[1:].partition("}")
    if local != "Autodiscover":
        raise AutodiscoverError(f"not an Autodiscover request: {str(root.tag)[:100]}")
    request = root.find(f"{{{namespace}}}Request")
    if request is None:
        raise AutodiscoverError("no Request element")
    # The schema asked for decides first: a phone's request is one of another schema.
    schema = (request.findtext(f"{{{namespace}}}AcceptableResponseSchema") or "").strip()
    if schema != RESPONSE_NS:
        raise AutodiscoverError(f"response schema {schema[:100]!r} is not supported", SCHEMA_NOT_SUPPORTED)
    if namespace != REQUEST_NS:
        raise AutodiscoverError(f"not an outlook Autodiscover request: {namespace[:100]}")
    email = (request.findtext(f"{{{REQUEST_NS}}}EMailAddress") or "").strip()
    if not _valid_email(email):
        raise AutodiscoverError("no valid EMailAddress")
    return email


def pox_request(email: str) -> bytes:
    """The request an Outlook-style client sends for ``email`` (tests, tools)."""
    root = etree.Element(f"{{{REQUEST_NS}}}Autodiscover", nsmap={None: REQUEST_NS})
    request = etree.SubElement(root, f"{{{REQUEST_NS}}}Request")
    etree.SubElement(request, f"{{{REQUEST_NS}}}EMailAddress").text = email
    etree.SubElement(request, f"{{{REQUEST_NS}}}AcceptableResponseSchema").text = RESPONSE_NS
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def pox_settings(email: str, display_name: str, ews_url: str) -> bytes:
    """The answer telling the client of ``email`` to use EWS at ``ews_url``."""
    root = etree.Element(f"{{{ENVELOPE_NS}}}Autodiscover", nsmap={None: ENVELOPE_NS})
    response = etree.SubElement(root, f"{{{RESPONSE_NS}}}Response", nsmap={None: RESPONSE_NS})
    user = etree.SubElement(response, f"{{{RESPONSE_NS}}}User")
    etree.SubElement(user, f"{{{RESPONSE_NS}}}DisplayName").text = soap.text(display_name)
    etree.SubElement(user, f"{{{RESPONSE_NS}}}AutoDiscoverSMTPAddress").text = email
    account = etree.SubElement(response, f"{{{RESPONSE_NS}}}Account")
    etree.SubElement(account, f"{{{RESPONSE_NS}}}AccountType").text = "email"
    etree.SubElement(account, f"{{{RESPONSE_NS}}}Action").text = "settings"
    for kind in ("EXCH", "EXPR"):
        protocol = etree.SubElement(account, f"{{{RESPONSE_NS}}}Protocol")
        etree.SubElement(protocol, f"{{{RESPONSE_NS}}}Type").text = kind
        etree.SubElement(protocol, f"{{{RESPONSE_NS}}}EwsUrl").text = ews_url
        etree.SubElement(protocol, f"{{{RESPONSE_NS}}}ASUrl").text = ews_url
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def pox_error(code: int, message: str) -> bytes:
    root = etree.Element(f"{{{ENVELOPE_NS}}}Autodiscover", nsmap={None: ENVELOPE_NS})
    response = etree.SubElement(root, f"{{{ENVELOPE_NS}}}Response")
    error = etree.SubElement(response, f"{{{ENVELOPE_NS}}}Error")
    etree.SubElement(error, f"{{{ENVELOPE_NS}}}ErrorCode").text = str(code)
    etree.SubElement(error, f"{{{ENVELOPE_NS}}}Message").text = soap.text(message[:200])
    etree.SubElement(error, f"{{{ENVELOPE_NS}}}DebugData").text = ""
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


# -- SOAP GetUserSettings --------------------------------------------------------------


@attrs.frozen
class UserSettingsRequest:
    users: tuple
    settings: tuple


def parse_user_settings(body: bytes) -> UserSettingsRequest:
    """The users and settings a GetUserSettings request asks for; ``SoapFault``."""
    root = soap.parse_xml(body, MAX_REQUEST)
    if root.tag != f"{{{soap.SOAP}}}Envelope":
        raise soap.SoapFault(soap.SCHEMA_VALIDATION, "not a SOAP 1.1 envelope")
    message = root.find(f"{{{soap.SOAP}}}Body/{{{A}}}GetUserSettingsRequestMessage")
    if message is None:
        raise soap.SoapFault(soap.INVALID_REQUEST, "only GetUserSettings is served here")
    users = tuple((u.text or "").strip() for u in message.iter(f"{{{A}}}Mailbox"))
    settings = tuple((s.text or "").strip() for s in message.iter(f"{{{A}}}Setting"))
    if not users:
        raise soap.SoapFault(soap.SCHEMA_VALIDATION, "no Users")
    return UserSettingsRequest(users, settings)


def _a(parent, tag: str, value: Optional[str] = None):
    node = etree.SubElement(parent, f"{{{A}}}{tag}")
    if value is not None:
        node.text = soap.text(value)
    return node


def user_settings_response(answers: Iterable[tuple[str, Optional[Mapping[str, str]]]],
                           asked: Iterable[str]) -> bytes:
    """The GetUserSettings answer: for each ``(user, settings)`` either its settings
    (a name -> value map; the names asked for that it lacks are reported as
    SettingIsNotAvailable) or, with None, InvalidUser."""
    asked = tuple(asked)
    root = etree.Element(f"{{{soap.SOAP}}}Envelope", nsmap={"s": soap.SOAP, "a": WSA, "i": XSI})
    header = etree.SubElement(root, f"{{{soap.SOAP}}}Header")
    action = etree.SubElement(header, f"{{{WSA}}}Action")
    action.text = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse"
    info = etree.SubElement(header, f"{{{A}}}ServerVersionInfo", nsmap={"h": A})
    major, minor, build, revision = soap.VERSIONS[soap.LATEST]
    for tag, value in (("MajorVersion", major), ("MinorVersion", minor),
                       ("MajorBuildNumber", build), ("MinorBuildNumber", revision),
                       ("Version", soap.LATEST)):
        _a(info, tag, str(value))
    body = etree.SubElement(root, f"{{{soap.SOAP}}}Body")
    message = etree.SubElement(body, f"{{{A}}}GetUserSettingsResponseMessage", nsmap={None: A})
    response = _a(message, "Response")
    _a(response, "ErrorCode", "NoError")
    _a(response, "ErrorMessage", "")
    holder = _a(response, "UserResponses")
    for user, settings in answers:
        one = _a(holder, "UserResponse")
        if settings is None:
            _a(one, "ErrorCode", "InvalidUser")
            _a(one, "ErrorMessage", f"no mailbox {user[:100]} here for you")
            continue
        _a(one, "ErrorCode", "NoError")
        _a(one, "ErrorMessage", "No error.")
        errors = _a(one, "UserSettingErrors")
        values = _a(one, "UserSettings")
        for name in asked:
            if name in settings:
                setting = _a(values, "UserSetting")
                setting.set(f"{{{XSI}}}type", "StringSetting")
                _a(setting, "Name", name)
                _a(setting, "Value", settings[name])
            else:
                error = _a(errors, "UserSettingError")
                _a(error, "ErrorCode", "SettingIsNotAvailable")
                _a(error, "ErrorMessage", "")
                _a(error, "SettingName", name)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def settings_for(email: str, display_name: str, ews_url: str) -> dict:
    """The user settings this server knows for an account."""
    schemas = ", ".join(soap.VERSIONS)
    return {
        "UserDisplayName": display_name,
        "AutoDiscoverSMTPAddress": email,
        "ExternalEwsUrl": ews_url,
        "InternalEwsUrl": ews_url,
        "EwsSupportedSchemas": schemas,
        "CasVersion": ".".join(str(n) for n in soap.VERSIONS[soap.LATEST]),
        "ExternalEwsVersion": ".".join(str(n) for n in soap.VERSIONS[soap.LATEST]),
    }
