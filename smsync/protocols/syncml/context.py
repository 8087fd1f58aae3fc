"""What a command handler works with while one client message is answered."""

from __future__ import annotations

from typing import Optional

import attrs
from twisted.logger import Logger

from smsync.formats.wbxml import Element
from smsync.protocols.syncml.message import Builder, child, text

log = Logger(namespace="smsync.syncml")


@attrs.define(eq=False)
class Context:
    """One client message being answered.

    Attributes:
        edge: the server's ``Edge`` (store, logins, devices).
        adapter: the endpoint's ``SyncAdapter``.
        session: the ``Session``.
        msg_id: the client message's MsgID (what Status MsgRef names).
        statuses: the Status elements of the answer so far (without CmdID).
        lines: lines for the device's log, written once the message is answered.
    """

    edge: object
    adapter: object
    session: object
    msg_id: str
    statuses: list = attrs.field(factory=list)
    lines: list = attrs.field(factory=list)
    #: Server database name -> list of ``engine.Change`` from this message.
    changes: dict = attrs.field(factory=dict)

    @property
    def store(self):
        return self.edge.store

    @property
    def account(self) -> str:
        return self.session.account

    @property
    def device_id(self) -> str:
        return self.session.device_id

    @property
    def b(self) -> Builder:
        return self.session.builder

    def note(self, line: str) -> None:
        """A line for the device's log (and the server's)."""
        log.info("syncml: {account} {device}: {line}", account=self.account,
                 device=self.device_id, line=line)
        self.lines.append(line)

    def status(self, command: Element, code: str, *, target: Optional[str] = None,
               source: Optional[str] = None, items=(), chal: Optional[Element] = None,
               cmd_ref: Optional[str] = None) -> None:
        """Answer ``command`` with Status ``code`` (nothing when it said NoResp)."""
        if child(command, "NoResp") is not None:
            return
        b = self.b
        ref = cmd_ref if cmd_ref is not None else (text(command, "CmdID") or "0")
        self.statuses.append(b.el("Status", b.leaf("MsgRef", self.msg_id), b.leaf("CmdRef", ref),
                                  b.leaf("Cmd", command.tag), b.leaf("TargetRef", target),
                                  b.leaf("SourceRef", source), chal, b.leaf("Data", code), *items))
