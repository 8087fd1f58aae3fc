"""SendMail, SmartReply and SmartForward against a real server: raw WBXML built with our
codec (and pyactivesync's send_mail), the message checked where it lands -- the other
account's Inbox, the sender's Sent folder, the relay queue -- and the outgoing-message
functions checked on their own."""

from __future__ import annotations

import email
import email.policy

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from test_eas_endpoint import FH, block, folder_sync, post, provision
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.protocols.eas import outgoing
from smsync.protocols.eas.wbxml import Element
from smsync.testing.servers import OTHER, PASSWORD, USER, RunningServers

CM = "ComposeMail:"


@pytest.fixture
def server():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("eas",), tls=True)))
    yield running
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def message(subject: str, to: str = OTHER, extra: str = "", body: str = "Hello there.") -> bytes:
    return (f"From: Alice <{USER}>\r\nTo: {to}\r\n{extra}Subject: {subject}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def compose(command: str, mime: bytes, client_id=None, save=True, source=None, replace=False,
            as_text=False) -> Element:
    children = []
    if client_id is not None:
        children.append(Element(CM, "ClientId", (), client_id))
    if source is not None:
        children.append(Element(CM, "Source", tuple(Element(CM, tag, (), value)
                                                    for tag, value in source.items())))
    if save:
        children.append(Element(CM, "SaveInSentItems"))
    if replace:
        children.append(Element(CM, "ReplaceMime"))
    if as_text:
        children.append(Element(CM, "Mime", (), mime.decode()))
    else:
        children.append(Element(CM, "Mime", opaque=mime))
    return Element(CM, command, tuple(children))


def folder_ids(port, key) -> dict:
    _, _, tree = post(port, "FolderSync", folder_sync("0"), policy_key=key)
    return {a.find(FH, "DisplayName").text: a.find(FH, "ServerId").text
            for a in tree.find(FH, "Changes").children if a.tag == "Add"}


def status_of(answer) -> str:
    status, _, tree = answer
    assert status == 200
    return "ok" if tree is None else tree.find(CM, "Status").text


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest_twisted.ensureDeferred
async def test_send_mail_reaches_the_other_inbox_and_sent_once_per_client_id(server):
    await deferToThread(_test_send_mail, server)


def _test_send_mail(server):
    port = server.port("eas", tls=True)
    key = provision(port)
    mime = message("lunch?", extra="Cc: friend@remote.example\r\nBcc: secret@example.org, "
                                   "boss@remote.example\r\n")
    assert status_of(post(port, "SendMail", compose("SendMail", mime, "c-1"), policy_key=key)) == "ok"
    # The same ClientId again (the answer was lost): not sent twice.
    assert status_of(post(port, "SendMail", compose("SendMail", mime, "c-1"), policy_key=key)) == "118"

    [received] = block(server.bodies(OTHER))
    got = parsed(received)
    assert got["Subject"] == "lunch?" and got["Bcc"] is None
    assert received.startswith(b"Return-Path: <alice@example.org>\r\nReceived: ")
    assert got["Message-ID"] and got["Date"]
    [sent] = block(server.bodies(USER, "Sent"))
    assert parsed(sent)["Bcc"] == "secret@example.org, boss@remote.example"  # the sender's copy keeps it
    sent_info = block(_messages(server, USER, "Sent"))
    assert ["\\Seen"] == sorted(sent_info[0].flags)
    # secret@example.org is no account here: it goes out with the remote ones.
    [entry] = server.service.edge.outbound.relayer.queue.entries()
    assert sorted(entry.recipients) == ["boss@remote.example", "friend@remote.example",
                                        "secret@example.org"]
    assert b"secret@" not in server.service.edge.outbound.relayer.queue.body(entry).split(b"\r\n\r\n")[0]

    # Without SaveInSentItems, nothing more in Sent; Mime as inline text works too.
    assert status_of(post(port, "SendMail", compose("SendMail", message("two"), "c-2", save=False,
                                                    as_text=True), policy_key=key)) == "ok"
    assert len(block(server.bodies(USER, "Sent"))) == 1
    assert len(block(server.bodies(OTHER))) == 2


async def _messages(server, user, folder):
    return await (await server.mailbox(folder, user)).messages()


@pytest_twisted.ensureDeferred
async def test_compose_errors_answer_their_status(server):
    await deferToThread(_test_compose_errors, server)


def _test_compose_errors(server):
    port = server.port("eas", tls=True)
    key = provision(port)
    no_rcpt = b"From: alice@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    assert status_of(post(port, "SendMail", compose("SendMail", no_rcpt, "e-1"), policy_key=key)) == "119"
    assert status_of(post(port, "SendMail", compose("SendMail", b"not a message at all", "e-2"),
                          policy_key=key)) == "107"
    assert status_of(post(port, "SendMail", Element(CM, "SendMail", (Element(CM, "ClientId", (), "e-3"),)),
                          policy_key=key)) == "103"
    source = {"FolderId": "nope", "ItemId": "1"}
    assert status_of(post(port, "SmartReply", compose("SmartReply", message("re"), "e-4", source=source),
                          policy_key=key)) == "150"
    assert status_of(post(port, "SmartForward", compose("SmartForward", message("fw"), "e-5",
                                                        source={"LongId": "RgAAAA"}),
                          policy_key=key)) == "150"
    assert block(server.bodies(OTHER)) == []


@pytest_twisted.ensureDeferred
async def test_smart_reply_quotes_and_flags_the_original(server):
    original = (b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: plans\r\n"
                b"Date: Mon, 01 Mar 2027 10:00:00 +0000\r\nMessage-ID: <plans@example.org>\r\n\r\n"
                b"Shall we meet at noon?\r\nBring the map.\r\n")
    [uid] = await server.deliver(original)
    await deferToThread(_test_smart_reply, server, uid)


def _test_smart_reply(server, uid):
    port = server.port("eas", tls=True)
    key = provision(port)
    inbox = folder_ids(port, key)["Inbox"]
    reply = message("Re: plans", to="bob@example.org", body="Yes, noon is fine.",
                    extra="In-Reply-To: <plans@example.org>\r\n")
    source = {"FolderId": inbox, "ItemId": str(uid)}
    assert status_of(post(port, "SmartReply", compose("SmartReply", reply, "r-1", source=source),
                          policy_key=key)) == "ok"
    [got] = block(server.bodies(OTHER))
    text = parsed(got).get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Yes, noon is fine.")
    assert "bob@example.org> wrote:" in text and "> Shall we meet at noon?\n> Bring the map." in text
    [info] = block(_messages(server, USER, "INBOX"))
    assert "\\Answered" in info.flags

    # SmartForward attaches the original whole; ReplaceMime sends the phone's text only.
    forward = message("Fw: plans", to="bob@example.org", body="See below.")
    assert status_of(post(port, "SmartForward", compose("SmartForward", forward, "f-1", source=source),
                          policy_key=key)) == "ok"
    replaced = message("Fw: plans (mine)", to="bob@example.org", body="All mine.")
    assert status_of(post(port, "SmartForward", compose("SmartForward", replaced, "f-2", source=source,
                                                        replace=True), policy_key=key)) == "ok"
    _, fwd, mine = block(server.bodies(OTHER))
    fwd = parsed(fwd)
    assert fwd.get_content_type() == "multipart/mixed"
    first, attached = fwd.iter_parts()
    assert first.get_content().strip() == "See below."
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_content()["Message-ID"] == "<plans@example.org>"
    assert parsed(mine).get_body(("plain",)).get_content().strip() == "All mine."
    [info] = block(_messages(server, USER, "INBOX"))
    assert {"\\Answered", "$Forwarded"} <= set(info.flags)


@pytest_twisted.ensureDeferred
async def test_pyactivesync_send_mail(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    await deferToThread(_test_pyactivesync_send_mail, server)


def _test_pyactivesync_send_mail(server):
    from email.message import EmailMessage

    from pyactivesync import Client

    note = EmailMessage()
    note["From"], note["To"], note["Subject"] = USER, OTHER, "from pyactivesync"
    note.set_content("Sent through EAS 16.1.")
    with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER,
                password=PASSWORD, device_id="pyas10") as c:
        c.send_mail(note, client_id="py-1")
    [got] = block(server.bodies(OTHER))
    assert parsed(got)["Subject"] == "from pyactivesync"
    assert len(block(server.bodies(USER, "Sent"))) == 1


# -- the outgoing-message functions -------------------------------------------------

_field_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30)


@given(st.lists(st.sampled_from(["To", "Cc", "Bcc", "Subject", "X-Tag"]), max_size=6),
       _field_text, st.booleans())
def test_without_bcc_keeps_every_other_field_and_the_body(names, value, lf):
    fields = [f"{n}: {value}" for n in names] + ["Subject: s"]
    raw = ("\r\n".join(fields) + "\r\n\r\nbody line\r\n").encode()
    if lf:
        raw = raw.replace(b"\r\n", b"\n")
    out = outgoing.without(raw, "Bcc")
    kept = [f for f in fields if not f.startswith("Bcc:")]
    assert out == ("\r\n".join(kept) + "\r\n\r\nbody line\r\n").encode()


@given(st.lists(st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.example", fullmatch=True), min_size=1,
                max_size=5))
def test_recipients_are_every_address_once(addresses):
    raw = (f"To: {', '.join(addresses)}\r\nCc: {addresses[0]}\r\nBcc: {addresses[-1]}\r\n\r\nx\r\n").encode()
    assert outgoing.recipients(raw) == list(dict.fromkeys(addresses))


def test_completed_adds_only_what_is_missing_and_invalid_mime_is_refused():
    raw = b"To: bob@example.org\r\nDate: Mon, 01 Mar 2027 10:00:00 +0000\r\n\r\nhi\r\n"
    out = outgoing.completed(raw, USER)
    assert out.endswith(raw) and out.startswith(b"From: <alice@example.org>\r\nMessage-ID: <")
    with pytest.raises(outgoing.InvalidMime):
        outgoing.split(b"")
    with pytest.raises(outgoing.InvalidMime):
        outgoing.split(b"hello world\r\n\r\nbody")


def test_forward_attaches_the_original_byte_for_byte():
    original = "From: bob@example.org\r\nSubject: caf\u00e9\r\n\r\nna\u00efve\r\n".encode()
    new = b"To: carol@example.org\r\nSubject: Fw\r\nContent-Type: text/html\r\n\r\n<p>see</p>\r\n"
    out = outgoing.with_attachment(new, b"Return-Path: <x@y>\r\n" + original)
    assert original.rstrip(b"\r\n") in out and b"Return-Path" not in out
    assert b"Content-Transfer-Encoding: 8bit" in out
    parts = list(parsed(out).iter_parts())
    assert parts[0].get_content_type() == "text/html"
    assert parts[1].get_content()["Subject"] == "caf\u00e9"


def test_reply_quotes_into_html_too():
    original = b"From: bob@example.org\r\nContent-Type: text/html\r\n\r\n<html><body><b>hi</b></body></html>\r\n"
    new = (b"To: bob@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nok\r\n--b\r\nContent-Type: text/html\r\n\r\n"
           b"<html><body>ok</body></html>\r\n--b--\r\n")
    out = parsed(outgoing.with_quote(new, original))
    assert "> hi" in out.get_body(("plain",)).get_content()
    rich = out.get_body(("html",)).get_content()
    assert '<blockquote type="cite"><b>hi</b></blockquote>' in rich and rich.rstrip().endswith("</body></html>")
