"""The Apple configuration profile (``.mobileconfig``) of an account: payloads for mail
over IMAP (or POP3) and SMTP submission, CalDAV, CardDAV and Exchange ActiveSync, as far
as this server runs them, from the account's connection settings (``connection``).

No password is in it: the device asks for it when the profile is installed. Each
payload's UUID is derived from the account and the payload's kind, so downloading the
profile again and installing it replaces the accounts it made instead of adding
copies.
"""

from __future__ import annotations

import plistlib
import uuid

from smsync.web.connection import Connection

CONTENT_TYPE = "application/x-apple-aspen-config"

#: The namespace of every UUID made here.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "profile.smsync.invalid")


def payload_uuid(account: str, kind: str) -> str:
    """The stable PayloadUUID of ``account``'s payload ``kind`` (upper case, as Apple
    writes them)."""
    return str(uuid.uuid5(_NAMESPACE, f"{account}\0{kind}")).upper()


def _identifier(account: str, kind: str) -> str:
    # Reverse-DNS style, which an address (its "@") is not: the account's profile UUID
    # stands for it.
    return f"org.smsync.profile.{payload_uuid(account, 'profile').lower()}.{kind}"


def _payload(account: str, kind: str, payload_type: str, name: str, **fields) -> dict:
    out = {"PayloadType": payload_type, "PayloadVersion": 1,
           "PayloadIdentifier": _identifier(account, kind),
           "PayloadUUID": payload_uuid(account, kind), "PayloadDisplayName": name,
           "PayloadDescription": f"{name} for {account}"}
    out.update(fields)
    return out


def _mail(settings: Connection) -> list:
    account = settings.account
    incoming = settings.get("imap") or settings.get("pop3")
    outgoing = settings.get("submission")
    if incoming is None or outgoing is None:
        # Apple's mail payload needs both servers; without submission the device could
        # read mail but not send it, so no half account is made.
        return []
    return [_payload(
        account, "mail", "com.apple.mail.managed", "Mail",
        EmailAccountDescription=f"{account} (smsync)",
        EmailAccountType="EmailTypeIMAP" if incoming.protocol == "imap" else "EmailTypePOP",
        EmailAddress=account,
        IncomingMailServerAuthentication="EmailAuthPassword",
        IncomingMailServerHostName=incoming.host,
        IncomingMailServerPortNumber=incoming.port,
        IncomingMailServerUseSSL=incoming.ssl,
        IncomingMailServerUsername=account,
        OutgoingMailServerAuthentication="EmailAuthPassword",
        OutgoingMailServerHostName=outgoing.host,
        OutgoingMailServerPortNumber=outgoing.port,
        OutgoingMailServerUseSSL=outgoing.ssl,
        OutgoingMailServerUsername=account,
        OutgoingPasswordSameAsIncomingPassword=True)]


def _dav(settings: Connection, protocol: str, prefix: str, payload_type: str, name: str) -> list:
    service = settings.get(protocol)
    if service is None:
        return []
    return [_payload(settings.account, protocol, payload_type, name, **{
        f"{prefix}AccountDescription": f"{settings.account} (smsync)",
        f"{prefix}HostName": service.host,
        f"{prefix}Port": service.port,
        f"{prefix}UseSSL": service.ssl,
        f"{prefix}Username": settings.account,
        f"{prefix}PrincipalURL": service.url,
    })]


def _eas(settings: Connection) -> list:
    service = settings.get("eas")
    if service is None:
        return []
    default = 443 if service.ssl else 80
    host = service.host if service.port == default else f"{service.host}:{service.port}"
    return [_payload(settings.account, "eas", "com.apple.eas.account", "Exchange ActiveSync",
                     Host=host, SSL=service.ssl, UserName=settings.account,
                     EmailAddress=settings.account,
                     # Exchange's "account name" is what the device shows.
                     AccountName=f"{settings.account} (smsync)")]


def payloads(settings: Connection) -> list:
    """The payloads of ``settings``'s profile (empty: nothing to set up)."""
    return (_mail(settings)
            + _dav(settings, "caldav", "CalDAV", "com.apple.caldav.account", "Calendars (CalDAV)")
            + _dav(settings, "carddav", "CardDAV", "com.apple.carddav.account", "Contacts (CardDAV)")
            + _eas(settings))


def mobileconfig(settings: Connection) -> bytes:
    """The profile of ``settings``'s account, as an XML property list."""
    account = settings.account
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": _identifier(account, "profile"),
        "PayloadUUID": payload_uuid(account, "profile"),
        "PayloadDisplayName": f"smsync: {account}",
        "PayloadDescription": f"Mail, calendars and contacts of {account} on {settings.host}",
        "PayloadOrganization": settings.host,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": payloads(settings),
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


def filename(account: str) -> str:
    """A safe download name for ``account``'s profile."""
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in account)
    return f"smsync-{stem}.mobileconfig"
