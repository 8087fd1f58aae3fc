"""A small raw SyncML client for tests: messages built with our codec, POSTed with
urllib, answers decoded. Blocking: use it from a scenario's thread."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from typing import Optional

from smsync.formats.wbxml import Element
from smsync.protocols.syncml import codec
from smsync.protocols.syncml.codepages import METINF_NS, SYNCML12
from smsync.protocols.syncml.message import Builder, child, children, text

NS = SYNCML12.namespace
b = Builder(NS)


def meta(*values) -> Element:
    return b.meta(*values)


def mi(tag: str, value=None, *kids) -> Element:
    return Builder.meta_value(tag, value, *kids)


def basic_cred(user: str, password: str) -> Element:
    return b.el("Cred", meta(mi("Format", "b64"), mi("Type", "syncml:auth-basic")),
                b.leaf("Data", base64.b64encode(f"{user}:{password}".encode()).decode()))


def md5_cred(digest: str) -> Element:
    return b.el("Cred", meta(mi("Format", "b64"), mi("Type", "syncml:auth-md5")), b.leaf("Data", digest))


class RawSyncML:
    """One device talking SyncML 1.2 to one server."""

    def __init__(self, url: str, user: str, password: str, device: str, encoding: str = "xml",
                 version=SYNCML12, context=None):
        self.url, self.user, self.password, self.device = url, user, password, device
        self.context = context  # an ssl.SSLContext for https URLs
        self.encoding = encoding
        self.version = version
        self.b = Builder(version.namespace)
        self.session_id = 1
        self.msg_id = 0
        self.cmd_id = 0
        self.resp_uri: Optional[str] = None
        self.sizes: list[int] = []

    def new_session(self) -> None:
        self.session_id += 1
        self.msg_id = 0
        self.resp_uri = None

    def cmd(self, tag: str, *kids) -> Element:
        """A command with the next CmdID."""
        self.cmd_id += 1
        return self.b.el(tag, self.b.leaf("CmdID", self.cmd_id), *kids)

    def send(self, *commands: Element, cred: Optional[Element] = None, final: bool = True,
             max_msg: Optional[int] = None, user_in_header: bool = True, raw: Optional[bytes] = None):
        """POST one message; (HTTP status, decoded answer root or None)."""
        self.msg_id += 1
        b = self.b
        header = b.el("SyncHdr", b.leaf("VerDTD", self.version.verdtd), b.leaf("VerProto", self.version.verproto),
                      b.leaf("SessionID", self.session_id), b.leaf("MsgID", self.msg_id),
                      b.loc("Target", self.url), b.loc("Source", self.device, self.user if user_in_header else None),
                      cred, meta(mi("MaxMsgSize", max_msg)) if max_msg else None)
        body = b.el("SyncBody", *commands, b.empty("Final") if final else None)
        data = raw if raw is not None else codec.encode(b.el("SyncML", header, body), self.encoding)
        request = urllib.request.Request(self.resp_uri or self.url, data=data, method="POST",
                                         headers={"Content-Type": codec.content_type(self.encoding)})
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as answer:
                payload = answer.read()
                status = answer.status
        except urllib.error.HTTPError as e:
            return e.code, None
        self.sizes.append(len(payload))
        root = codec.decode(payload, self.encoding).root
        resp = text(root, "SyncHdr", "RespURI")
        if resp:
            self.resp_uri = resp
        return status, root


def statuses(root: Element) -> list[Element]:
    return children(child(root, "SyncBody"), "Status")


def status_of(root: Element, cmd: str, ref: Optional[str] = None) -> list[str]:
    """The codes of the Status elements answering ``cmd`` (and CmdRef ``ref``)."""
    return [text(s, "Data") for s in statuses(root)
            if text(s, "Cmd") == cmd and (ref is None or text(s, "CmdRef") == ref)]


def commands(root: Element, tag: str) -> list[Element]:
    return children(child(root, "SyncBody"), tag)


def is_final(root: Element) -> bool:
    return child(child(root, "SyncBody"), "Final") is not None


def next_nonce(root: Element) -> Optional[bytes]:
    for s in statuses(root):
        if text(s, "Cmd") == "SyncHdr":
            chal = child(s, "Chal")
            found = chal and child(chal, "Meta")
            for c in (found.children if found else ()):
                if c.namespace == METINF_NS and c.tag == "NextNonce":
                    value = c.opaque if c.opaque is not None else (c.text or "").encode()
                    return base64.b64decode(value)
    return None


def anchor_meta(last: Optional[str], nxt: str) -> Element:
    return meta(mi("Anchor", None, *[e for e in (mi("Last", last) if last else None, mi("Next", nxt)) if e]))


def alert(client: RawSyncML, code: int, db: str, last: Optional[str], nxt: str,
          client_db: str = "./contacts") -> Element:
    return client.cmd("Alert", b.leaf("Data", code), b.el(
        "Item", b.loc("Target", db), b.loc("Source", client_db), anchor_meta(last, nxt)))
