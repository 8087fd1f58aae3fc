"""A small raw EAS client for tests: requests built with our codec (checked against
libwbxml elsewhere), sent over http.client, answers decoded. Blocking: use it from a
scenario's thread."""

from __future__ import annotations

import base64
import http.client
from typing import Optional

from smsync.protocols.eas.request import EASRequest, plain_query
from smsync.protocols.eas.wbxml import Element, decode, encode
from smsync.testing.servers import PASSWORD, USER, client_tls_context

AS, FH, PROV, PING = "AirSync:", "FolderHierarchy:", "Provision:", "Ping:"
POLICY_TYPE = "MS-EAS-Provisioning-WBXML"


def el(namespace: str, tag: str, *children, text=None) -> Element:
    return Element(namespace, tag, children, text)


class RawEAS:
    """One device of one account talking to one server."""

    def __init__(self, port: int, user: str, password: str, device: str, *,
                 tls_context=None, version: str = "16.1", host: str = "127.0.0.1"):
        self.port, self.user, self.password, self.device = port, user, password, device
        self.tls_context, self.version, self.host = tls_context, version, host
        self.policy_key: Optional[int] = None
        self.folders: dict = {}  # server id -> (name, type)

    def post(self, command: str, body: Optional[Element], timeout: float = 30):
        """(HTTP status, decoded answer or None)."""
        request = EASRequest(command=command, device_id=self.device, device_type="pytest",
                             user=self.user, version=self.version, policy_key=self.policy_key)
        query, headers = plain_query(request)
        if self.tls_context is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.tls_context, timeout=timeout)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        headers.update({"Authorization": f"Basic {token}", "Content-Type": "application/vnd.ms-sync.wbxml"})
        conn.request("POST", "/Microsoft-Server-ActiveSync?" + query,
                     body=encode(body) if body is not None else b"", headers=headers)
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        wbxml = response.getheader("Content-Type", "").endswith("wbxml")
        return response.status, decode(payload) if payload and wbxml else None

    def provision(self) -> int:
        def ask(*extra):
            return el(PROV, "Provision", el(PROV, "Policies", el(PROV, "Policy", el(
                PROV, "PolicyType", text=POLICY_TYPE), *extra)))

        status, tree = self.post("Provision", ask())
        assert status == 200, status
        temporary = tree.find(PROV, "Policies").find(PROV, "Policy").find(PROV, "PolicyKey").text
        self.policy_key = int(temporary)
        status, tree = self.post("Provision", ask(el(PROV, "PolicyKey", text=temporary),
                                                  el(PROV, "Status", text="1")))
        assert status == 200, status
        self.policy_key = int(tree.find(PROV, "Policies").find(PROV, "Policy").find(PROV, "PolicyKey").text)
        return self.policy_key

    def folder_sync(self) -> dict:
        status, tree = self.post("FolderSync", el(FH, "FolderSync", el(FH, "SyncKey", text="0")))
        assert status == 200 and tree.find(FH, "Status").text == "1", (status, tree)
        for change in tree.find(FH, "Changes").children:
            if change.tag == "Add":
                self.folders[change.find(FH, "ServerId").text] = (
                    change.find(FH, "DisplayName").text, int(change.find(FH, "Type").text))
        return self.folders

    def folder_of_type(self, kind: int) -> str:
        return next(sid for sid, (_, t) in self.folders.items() if t == kind)

    def sync(self, folder: str, key: str, *extra: Element, commands=(), window: int = 100) -> Element:
        """One Sync of ``folder``; returns its Collection element (asserting HTTP 200)."""
        children = [el(AS, "SyncKey", text=key), el(AS, "CollectionId", text=folder)]
        if key != "0":
            children.append(el(AS, "WindowSize", text=str(window)))
        children += extra
        if commands:
            children.append(el(AS, "Commands", *commands))
        status, tree = self.post("Sync", el(AS, "Sync", el(AS, "Collections", el(AS, "Collection", *children))))
        assert status == 200 and tree is not None, status
        return tree.find(AS, "Collections").find(AS, "Collection")

    def sync_all(self, folder: str) -> tuple[str, list]:
        """Sync ``folder`` from scratch to the end: (the last key, every command sent)."""
        key = self.sync(folder, "0").find(AS, "SyncKey").text
        commands = []
        while True:
            collection = self.sync(folder, key)
            assert collection.find(AS, "Status").text == "1", collection
            key = collection.find(AS, "SyncKey").text
            found = collection.find(AS, "Commands")
            commands += list(found.children) if found is not None else []
            if collection.find(AS, "MoreAvailable") is None:
                return key, commands


def ready_device(server, name: str, version: str = "16.1") -> RawEAS:
    """A device of ``USER`` on ``server`` (a ``RunningServers`` with EAS over TLS),
    provisioned and with its folders synced."""
    phone = RawEAS(server.port("eas", tls=True), USER, PASSWORD, name,
                   tls_context=client_tls_context(), version=version)
    phone.provision()
    phone.folder_sync()
    return phone


def server_ids(commands, tag: str = "Add") -> list:
    return [c.find(AS, "ServerId").text for c in commands if c.tag == tag]


def data_of(command: Element) -> Element:
    return command.find(AS, "ApplicationData")
