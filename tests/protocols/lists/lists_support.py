"""What the Add to Outlook tests share: the Lists service over a fresh SQLite store, a
raw SOAP client shaped as Outlook's requests (MS-OUTSPS), and a shareplum site on it."""

from __future__ import annotations

import base64
import http.client
from typing import Optional

import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.protocols.lists import SERVICE_PATH, soap
from smsync.testing.servers import PASSWORD, SQLITE, USER, RunningServers

#: What Outlook 2016 calls itself when it syncs a SharePoint list.
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.4266; Pro)"
Z = "{#RowsetSchema}row"


def start(protocols=("lists",), **kwargs) -> RunningServers:
    return pytest_twisted.blockon(ensureDeferred(RunningServers.start(protocols, SQLITE, **kwargs)))


def stop(running) -> None:
    pytest_twisted.blockon(ensureDeferred(running.stop()))


def post(port: int, body: bytes, user: Optional[str] = USER, password: str = PASSWORD,
         path: str = SERVICE_PATH, method: str = "POST", headers=None, agent: str = OUTLOOK,
         action: Optional[str] = None, soap12: bool = False):
    """``(status, headers, payload)`` of one raw request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if soap12:
        sent = {"Content-Type": "application/soap+xml; charset=utf-8"}
    else:
        sent = {"Content-Type": "text/xml; charset=utf-8"}
        if action:
            sent["SOAPAction"] = f'"http://schemas.microsoft.com/sharepoint/soap/{action}"'
    sent["User-Agent"] = agent
    if user is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    sent.update(headers or {})
    conn.request(method, path, body=body, headers=sent)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), payload


def call(port: int, operation: str, params: dict, soap12: bool = False, **kwargs) -> soap.Answer:
    """One operation; the answer read back (a fault comes with HTTP 500)."""
    version = soap.VERSION_12 if soap12 else soap.VERSION_11
    status, _headers, payload = post(port, soap.request_envelope(operation, params, version),
                                     action=operation, soap12=soap12, **kwargs)
    answer = soap.read_response(payload)
    assert (status == 200) == (answer.fault_code is None), (status, payload[:500])
    return answer


def rows_of(answer: soap.Answer) -> list[dict]:
    """The rows of a ``<listitems>`` answer, ``ows_`` stripped."""
    return [{k[4:]: v for k, v in row.attrib.items()} for row in answer.result.iter(Z)]


def changes_of(answer: soap.Answer):
    return answer.result.find(soap.sp("Changes"))


VIEW_FIELDS = ('<ViewFields Properties="TRUE"><FieldRef Name="ID"/><FieldRef Name="Title"/>'
               '<FieldRef Name="owshiddenversion"/><FieldRef Name="PermMask"/>'
               '<FieldRef Name="MetaInfo"/></ViewFields>')
QUERY_OPTIONS = ('<QueryOptions><ViewAttributes Scope="RecursiveAll"/><DateInUtc>TRUE</DateInUtc>'
                 '<IncludePermissions>FALSE</IncludePermissions><ExpandUserField>TRUE</ExpandUserField>'
                 '<IncludeAttachmentUrls>TRUE</IncludeAttachmentUrls>'
                 '<IncludeAttachmentVersion>TRUE</IncludeAttachmentVersion>'
                 '<RecurrenceOrderBy>TRUE</RecurrenceOrderBy><MeetingInstanceID>-1</MeetingInstanceID>'
                 '<OptimizeFor>FolderUrls</OptimizeFor>{paging}</QueryOptions>')


def since_token(port: int, guid: str, token: Optional[str] = None, row_limit: Optional[int] = None,
                position: Optional[str] = None, view_fields: str = VIEW_FIELDS, query: Optional[str] = None,
                **kwargs) -> soap.Answer:
    """GetListItemChangesSinceToken as MS-OUTSPS 3.1.4.7 says Outlook sends it
    (``view_fields`` ``<ViewFields/>``: every field)."""
    paging = f'<Paging ListItemCollectionPositionNext="{position}"/>' if position else ""
    params = {"listName": guid, "viewFields": view_fields,
              "queryOptions": QUERY_OPTIONS.format(paging=paging.replace("&", "&amp;"))}
    if row_limit is not None:
        params["rowLimit"] = str(row_limit)
    if token is not None:
        params["changeToken"] = token
    if query is not None:
        params["query"] = query
    return call(port, "GetListItemChangesSinceToken", params, **kwargs)


#: When a new event of the tests is (an event needs its start: MS-OUTSPS 3.2.1.1).
WHEN = {"EventDate": "2026-12-10T10:00:00Z", "EndDate": "2026-12-10T11:00:00Z"}


def batch(*methods: str, on_error: str = "Continue") -> str:
    return f'<Batch OnError="{on_error}" DateInUtc="TRUE">{"".join(methods)}</Batch>'


def method(method_id: int, cmd: str, **fields) -> str:
    inner = "".join(f'<Field Name="{k}">{_esc(str(v))}</Field>'
                    for k, v in fields.items())
    return f'<Method ID="{method_id}" Cmd="{cmd}">{inner}</Method>'


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def results_of(answer: soap.Answer) -> list:
    """``(ID, ErrorCode, row or None, attributes)`` of each Result."""
    out = []
    for result in answer.result.iter(soap.sp("Result")):
        row = result.find(Z)
        out.append((result.get("ID"), result.findtext(soap.sp("ErrorCode")),
                    {k[4:]: v for k, v in row.attrib.items()} if row is not None else None,
                    dict(result.attrib)))
    return out


def shareplum_site(port: int, user: str = USER, password: str = PASSWORD):
    """A shareplum ``Site`` on the service (blocking: call from a thread).

    shareplum's Site and List also read the site (Sites.asmx GetSite) and the list's
    views (Views.asmx GetViewCollection), which Outlook never asks and the service does
    not serve: those two reads are skipped, everything else goes to the server."""
    from requests.auth import HTTPBasicAuth
    from shareplum.list import _List2007
    from shareplum.site import _Site2007

    class _ListOnly(_List2007):
        def get_view_collection(self):
            return {}

    class _SiteOnly(_Site2007):
        def get_site(self):
            return None

        def list(self, list_name, exclude_hidden_fields=False):
            return _ListOnly(self._session, list_name, self._url, self._verify_ssl, self.users,
                             self.huge_tree, self.timeout, exclude_hidden_fields=exclude_hidden_fields,
                             site_url=self.site_url)

    return _SiteOnly(f"http://127.0.0.1:{port}/lists", auth=HTTPBasicAuth(user, password), timeout=30)
