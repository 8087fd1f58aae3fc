"""The protocol policy at every protocol's login, through real clients: where the
account's domain may not use a protocol, its right password is refused with that
protocol's own answer and one log line, while an account allowed it logs in."""

import base64
import http.client
import imaplib
import poplib
import smtplib

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from smsync.auth import hash_password
from smsync.config import Config, DeliveryConfig
from smsync.edge.policy import ALL
from smsync.tap.service import Plan, SmsyncService

ALLOWED = "alice@example.org"
REFUSED = "bob@example.org"
PASSWORD = "s3cret pass"
LOCAL = "tcp:0:interface=127.0.0.1"


@pytest.fixture
def server(tmp_path):
    config = Config(delivery=DeliveryConfig(queue_dir=str(tmp_path / "queue"), hostname="mx.test"))
    plan = Plan(store_uri="memory:", config=config,
                streams={"imap": [LOCAL], "pop3": [LOCAL], "submission": [LOCAL]},
                http=("caldav", "carddav", "eas"), http_endpoints=(LOCAL,))
    service = SmsyncService(plan, stop_reactor_on_failure=False)
    service.startService()
    pytest_twisted.blockon(service.ready)
    assert service.failures == []
    digest = hash_password(PASSWORD)
    for account in (ALLOWED, REFUSED):
        pytest_twisted.blockon(service.store.accounts.add(account, digest))
    yield service
    pytest_twisted.blockon(service.stopService())


def port_of(service, label):
    for child in service:
        if getattr(child, "label", None) == label:
            return child.ports[0].getHost().port
    raise AssertionError(label)


def imap_login(port, user):
    client = imaplib.IMAP4("127.0.0.1", port)
    try:
        client.login(user, PASSWORD)
        return "OK"
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        client.shutdown()


def pop3_login(port, user):
    client = poplib.POP3("127.0.0.1", port)
    try:
        client.user(user)
        return client.pass_(PASSWORD).decode()
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        client.close()


def smtp_login(port, user):
    client = smtplib.SMTP("127.0.0.1", port)
    try:
        client.ehlo("client.test")
        # One mechanism: smtplib.login would try LOGIN after a refused PLAIN.
        client.user, client.password = user, PASSWORD
        code, text = client.auth("PLAIN", client.auth_plain)
        return f"{code} {text.decode()}"
    except smtplib.SMTPAuthenticationError as e:
        return f"{e.smtp_code} {e.smtp_error.decode()}"
    finally:
        client.close()


def dav_request(port, user):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        conn.request("PROPFIND", f"/dav/calendars/{user}/", headers={
            "Authorization": f"Basic {token}", "Depth": "0"})
        response = conn.getresponse()
        return f"{response.status} {response.read().decode('utf-8', 'replace')}"
    finally:
        conn.close()


def eas_request(port, user, version="14.1"):
    from smsync.protocols.eas.request import EASRequest, plain_query
    from smsync.protocols.eas.wbxml import Element, decode, encode

    fh = "FolderHierarchy:"
    query, headers = plain_query(EASRequest(command="FolderSync", device_id="policy1",
                                            device_type="pytest", user=user, version=version))
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    headers.update({"Authorization": f"Basic {token}", "Content-Type": "application/vnd.ms-sync.wbxml"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/Microsoft-Server-ActiveSync?" + query, headers=headers, body=encode(
            Element(fh, "FolderSync", (Element(fh, "SyncKey", (), "0"),))))
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return f"{response.status} {body.decode('utf-8', 'replace')}"
        return f"200 Status {decode(body).find(fh, 'Status').text}"
    finally:
        conn.close()


CASES = {
    # protocol: (client, label of its listener, what an allowed login answers, what a refusal)
    "imap": (imap_login, "imap", "OK", "[CONTACTADMIN] IMAP is not enabled for this account"),
    "pop3": (pop3_login, "pop3", "+OK", "-ERR [AUTH] POP3 is not enabled for this account"),
    "submission": (smtp_login, "submission", "235 2.7.0 authentication succeeded",
                   "535 5.7.8 sending mail is not enabled for this account"),
    "dav": (dav_request, "http", "207 ", "403 "),
    # Not provisioned yet (142) when allowed; UserDisabledForSync (126) when not.
    "eas": (eas_request, "http", "200 Status 142", "200 Status 126"),
}


@pytest.mark.parametrize("protocol", sorted(CASES))
@pytest_twisted.ensureDeferred
async def test_a_refused_protocol_is_refused_in_its_own_words(server, protocol, log_capture):
    client, label, allowed, refused = CASES[protocol]
    await server.store.policy.set("example.org", ALL - {protocol})
    await server.store.policy.set(ALLOWED, ALL)
    port = port_of(server, label)
    assert (await deferToThread(client, port, ALLOWED)).startswith(allowed)
    answer = await deferToThread(client, port, REFUSED)
    assert refused in answer and not answer.startswith(allowed)
    lines = [line for line in log_capture.lines("smsync.client") if "not allowed" in line]
    assert lines == [f"smsync: {protocol}: protocol not allowed for {REFUSED} from 127.0.0.1"]
    # Another protocol is still open to the refused account.
    if protocol == "eas":
        # Older devices cannot be told in a Status: they get 403.
        assert (await deferToThread(eas_request, port, REFUSED, "12.1")).startswith("403 ")
    other = "imap" if protocol != "imap" else "pop3"
    other_client, other_label, other_allowed, _ = CASES[other]
    assert (await deferToThread(other_client, port_of(server, other_label), REFUSED)).startswith(other_allowed)
