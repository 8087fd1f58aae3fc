"""The schema GetList publishes for each list type: the fields every item has (MS-OUTSPS
3.2.4.2.1, the common schema) and the type's own fields, as the fields converter of the
type defines them (``converters``), each with the field ID MS-OUTSPS gives it so that
Outlook finds it by ID first (3.2.4.2) -- and the ``<List>`` element around them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import attrs
from lxml import etree

from smsync.protocols.lists.soap import clean, sp

#: Version of the published schema (``List Version``, the Batch's ``ListVersion``):
#: raised whenever the fields below change, so clients fetch the schema again.
SCHEMA_VERSION = 1
#: What ``ServerSettings/ServerVersion`` says: a Windows SharePoint Services 3.0 server,
#: which every Outlook since 2007 syncs with GetListItemChangesSinceToken.
SERVER_VERSION = "12.0.0.6421"

#: Field IDs of MS-OUTSPS 3.2.4.2 (the common and every item type's schema).
FIELD_IDS = {
    "ActualWork": "{b0b3407e-1c33-40ed-a37c-2430b7a5d081}",
    "Anniversary": "{9d76802c-13c4-484a-9872-d7f9641c4672}",
    "AssignedTo": "{53101f38-dd2e-458c-b245-0c236cc13d1a}",
    "AssistantNumber": "{f55de332-074e-4e71-a71a-b90abfad51ae}",
    "AssistantsName": "{2aea194d-e399-4f05-95af-94f87b1f2687}",
    "Attachments": "{67df98f4-9dec-48ff-a553-29bece9c5bf4}",
    "Author": "{1df5e554-ec7e-46a6-901d-d85a3881cb18}",
    "BillingInformation": "{4f03f66b-fb1e-4ed2-ab8e-f6ed3fe14844}",
    "Birthday": "{c4c7d925-bc1b-4f37-826d-ac49b4fb1bc1}",
    "Body": "{7662cd2c-f069-4dba-9e35-082cf976e170}",
    "Business2Number": "{6547d03a-76d3-4d74-9d34-f51b837c0879}",
    "CallbackNumber": "{344e9657-b17f-4344-a834-ff7c056bcc5e}",
    "CarNumber": "{92a011a9-fd1b-42e0-b6fa-afcfee1928fa}",
    "Categories": "{9ebcd900-9d05-46c8-8f4d-e46e87328844}",
    "CellPhone": "{2a464df1-44c1-4851-949d-fcd270f0ccf2}",
    "ChildrensNames": "{6440b402-8ec5-4d7a-83f4-afccb556b5cc}",
    "Comments": "{9da97a8a-1da5-4a77-98d3-4bc10456e700}",
    "Company": "{038d1503-4629-40f6-adaf-b47d1ab2d4fe}",
    "CompanyNumber": "{27cb1283-bda2-4ae8-bcff-71725b674dbb}",
    "CompanyPhonetic": "{034aae88-6e9a-4e41-bc8a-09b6c15fcdf4}",
    "ComputerNetworkName": "{86a78395-c8ad-429e-abff-be09417b523e}",
    "ContentTypeId": "{03e45e84-1992-4d42-9116-26f756012634}",
    "Created": "{8c06beca-0777-48f7-91c7-6da68bc07b69}",
    "CustomerID": "{81368791-7cbc-4230-981a-a7669ade9801}",
    "DateComplete": "{24bfa3c2-e6a0-4651-80e9-3db44bf52147}",
    "Description": "{9da97a8a-1da5-4a77-98d3-4bc10456e700}",
    "DiscussionTitle": "{c5abfdc7-3435-4183-9207-3d1146895cf8}",
    "DueDate": "{cd21b4c2-6841-4f9e-a23a-738a65f99889}",
    "Duration": "{4d54445d-1c84-4a6d-b8db-a51ded4e1acc}",
    "Editor": "{d31655d1-1d5b-4511-95a1-7a09e9b75bf2}",
    "Email": "{fce16b4c-fe53-4793-aaab-b4892e736d15}",
    "Email2": "{e232d6c8-9f49-4be2-bb28-b90570bcf167}",
    "Email3": "{8bd27dbd-29a0-4ccd-bcb4-03fe70c538b1}",
    "EncodedAbsUrl": "{7177cfc7-f399-4d4d-905d-37dd51bc90bf}",
    "EndDate": "{2684f9f2-54be-429f-ba06-76754fc056bf}",
    "EventDate": "{64cd368d-2f95-4bfc-a1f9-8d4324ecb007}",
    "EventType": "{5d1d4e76-091a-4e03-ae83-6a59847731c0}",
    "fAllDayEvent": "{7d95d1f4-f5fd-4a70-90cd-b35abc9b5bc8}",
    "FileDirRef": "{56605df6-8fa1-47e4-a04c-5b384d59609f}",
    "FileSizeDisplay": "{78a07ba4-bda8-4357-9e0f-580d64487583}",
    "FirstName": "{4a722dd4-d406-4356-93f9-2550b8f50dd0}",
    "FirstNamePhonetic": "{ea8f7ca9-2a0e-4a89-b8bf-c51a6af62c73}",
    "fRecurrence": "{f2e63656-135e-4f1c-8fc2-ccbe74071901}",
    "FTPSite": "{d733736e-4204-4812-9565-191567b27e33}",
    "FullName": "{475c2610-c157-4b91-9e2d-6855031b3538}",
    "Gender": "{23550288-91b5-4e7f-81f9-1a92661c4838}",
    "GovernmentIDNumber": "{da31d3c9-f9da-4c35-88d4-60aafa4c3f19}",
    "Hobbies": "{203fa378-6eb8-4ed9-a4f9-221a4c1fbf46}",
    "Home2Number": "{8c5a385d-2fff-42da-a4c5-f6a904f2e491}",
    "HomeAddress": "{8c66e340-0985-4d68-af03-3050ece4862b}",
    "HomeAddressCity": "{5aeabc56-57c6-4861-bc12-bd72c30fc6bd}",
    "HomeAddressCountry": "{897ecfd7-4293-4782-b463-bd68440a5fed}",
    "HomeAddressPostalCode": "{c0e4b4c6-6245-4846-8561-b8c6c01fefc1}",
    "HomeAddressStateOrProvince": "{f5b36006-69b0-418c-bd4a-f25ca7e096bb}",
    "HomeFaxNumber": "{c189a857-e6b0-488f-83a0-f4ee0a3ad01e}",
    "HomePhone": "{2ab923eb-9880-4b47-9965-ebf93ae15487}",
    "ID": "{1d22ea11-1e32-424e-89ab-9fedbadb6ce1}",
    "IMAddress": "{4cbd96f7-09c6-4b5e-ad42-1cbe123de63a}",
    "Initials": "{7a282f86-69d9-40ff-ae1c-c746cf21256b}",
    "ISDNNumber": "{a579062a-6c1d-4ad3-9d5e-035f9f2c1882}",
    "JobTitle": "{c4e0f350-52cc-4ede-904c-dd71a3d11f7d}",
    "Language": "{d81529e8-384c-4ca6-9c43-c86a256e6a44}",
    "LastNamePhonetic": "{fdc8216d-dabf-441d-8ac0-f6c626fbdc24}",
    "LinkCheckedOutTitle": "{e2a15dfd-6ab8-4aec-91ab-02f6b64045b0}",
    "LinkFilename": "{5cc6dc79-3710-4374-b433-61cb4a686c12}",
    "Location": "{288f5f32-8462-4175-8f09-dd7ba29359a9}",
    "ManagersName": "{ba934502-d68d-4960-a54b-51e15fef5fd3}",
    "MasterSeriesItemID": "{9b2bed84-7769-40e3-9b1d-7954a4053834}",
    "MiddleName": "{418c8d29-6f2e-44c3-8955-2cd7ec3e2151}",
    "Mileage": "{3126c2f1-063e-4892-828f-0696ec6e105f}",
    "Modified": "{28cf69c5-fa48-462a-b5cd-27b6f9d2bd5f}",
    "Nickname": "{6b0a2cd7-a7f9-41ca-b932-f3bebb603793}",
    "Office": "{26169ab2-4bd2-4870-b077-10f49c8a5822}",
    "ol_Department": "{c814b2cf-84c6-4f56-b4a4-c766938a97c5}",
    "OrganizationalIDNumber": "{0850ae15-19dd-431f-9c2f-3aff3ae292ce}",
    "OtherAddressCity": "{90fa9a8e-aac0-4828-9cb4-78f98416affa}",
    "OtherAddressCountry": "{3c0e9e00-8fcc-479f-9d8d-3447cda34c5b}",
    "OtherAddressPostalCode": "{0557c3f8-60c4-4dfb-b5ba-bf3c4e4386b1}",
    "OtherAddressStateOrProvince": "{f45883bc-8733-4b77-ab5d-43613986aa12}",
    "OtherAddressStreet": "{dff5dfc2-e2b7-4a19-bde7-76dabc90a3d2}",
    "OtherFaxNumber": "{aad15eb6-d7fd-47b8-abd4-adc0fe33a6ba}",
    "OtherNumber": "{96e02495-f428-48bc-9f13-06d98ba58c34}",
    "owshiddenversion": "{d4e44a66-ee3a-4d02-88c9-4ec5ff3f4cd5}",
    "PagerNumber": "{f79bf074-daf7-4c06-a314-15b287fdf4c9}",
    "PercentComplete": "{d2311440-1ed6-46ea-b46d-daa643dc3886}",
    "PersonalWebsite": "{5aa071d9-3254-40fb-82df-5cedeff0c41e}",
    "Photo": "{1020c8a0-837a-4f1b-baa1-e35aff6da169}",
    "PrimaryNumber": "{d69bcc0e-57c3-4f3b-bbc5-b090edf21f0f}",
    "Priority": "{a8eb573e-9e11-481a-a8c9-1104a54b2fbd}",
    "Profession": "{f0753a13-44b1-4269-82af-5c34c57b0c67}",
    "RadioNumber": "{d1aede4f-1352-48d9-81e2-b10097c359c1}",
    "RecurrenceData": "{d12572d0-0a1e-4438-89b5-4d0430be7603}",
    "RecurrenceID": "{dfcc8fff-7c4c-45d6-94ed-14ce0719efef}",
    "ReferredBy": "{9b4cc5a9-1119-43e4-b2a8-412c4031f92b}",
    "Role": "{eeaeaaf1-4110-465b-905e-df1073a7e0e6}",
    "SpouseName": "{f590b1de-8e28-4c17-91bc-bf4096024b7e}",
    "StartDate": "{64cd368d-2f95-4bfc-a1f9-8d4324ecb007}",
    "Status": "{c15b34c3-ce7d-490a-b133-3f4de8801b76}",
    "Suffix": "{d886eba3-d018-4103-a322-d5780127ef8a}",
    "TaskCompanies": "{3914f98e-6d99-4218-9ba3-af7370b9e7bc}",
    "TelexNumber": "{e7be7f3c-c436-481d-8865-669e5146f53c}",
    "ThreadIndex": "{cef73bf1-edf6-4dd9-9098-a07d83984700}",
    "TimeZone": "{6cc1c612-748a-48d8-88f2-944f477f301b}",
    "Title": "{fa564e0f-0c70-4ab9-b863-0177e6ddd247}",
    "TotalWork": "{f3c4a259-19a2-44b8-ab3d-e9145d07d538}",
    "TTYTDDNumber": "{f54697f1-0357-4c5a-a711-0cb654bc73e4}",
    "UID": "{63055d04-01b5-48f3-9e1e-e564e7c6b23b}",
    "UserField1": "{566656f5-17b3-4291-98a5-5074aadf77b3}",
    "UserField2": "{182d1b9e-1718-4e11-b279-38f7ed0a20d6}",
    "UserField3": "{a03eb53e-f123-4af9-9355-f92bd75c00b3}",
    "UserField4": "{adefa4ca-14c3-4694-b531-f51b706efe9d}",
    "WebPage": "{a71affd2-dcc7-4529-81bc-2fe593154a5f}",
    "WorkAddress": "{fc2e188e-ba91-48c9-9dd3-16431afddd50}",
    "WorkCity": "{6ca7bd7f-b490-402e-af1b-2813cf087b1e}",
    "WorkCountry": "{3f3a5c85-9d5a-4663-b925-8b68a678ea3a}",
    "WorkFax": "{9d1cacc8-f452-4bc1-a751-050595ad96e1}",
    "WorkPhone": "{fd630629-c165-4513-b43c-fdb16b86a14d}",
    "WorkState": "{ceac61d3-dda9-468b-b276-f4a6bb93f14f}",
    "WorkZip": "{9a631556-3dac-49db-8d2f-fb033b0fdc24}",
    "XMLTZone": "{c4b72ed6-45aa-4422-bff1-2b6750d30819}",}


@attrs.frozen
class FieldDef:
    """One ``<Field>`` of a list's schema."""

    name: str
    type: str
    display_name: str
    read_only: bool = False
    hidden: bool = False
    choices: tuple = ()
    format: Optional[str] = None
    required: bool = False


#: The common schema, and the fields SharePoint adds to every list that Outlook asks
#: for in its ViewFields (UniqueId, FileRef, PermMask, MetaInfo...).
COMMON = (
    FieldDef("ID", "Counter", "ID", read_only=True),
    FieldDef("ContentTypeId", "ContentTypeId", "Content Type ID", read_only=True, hidden=True),
    FieldDef("ContentType", "Computed", "Content Type", read_only=True),
    FieldDef("Modified", "DateTime", "Modified", read_only=True),
    FieldDef("Created", "DateTime", "Created", read_only=True),
    FieldDef("Author", "User", "Created By", read_only=True),
    FieldDef("Editor", "User", "Modified By", read_only=True),
    FieldDef("owshiddenversion", "Integer", "owshiddenversion", read_only=True, hidden=True),
    FieldDef("Attachments", "Attachments", "Attachments", read_only=True),
    FieldDef("UniqueId", "Lookup", "Unique Id", read_only=True, hidden=True),
    FieldDef("FileRef", "Lookup", "URL Path", read_only=True, hidden=True),
    FieldDef("FileDirRef", "Lookup", "Path", read_only=True, hidden=True),
    FieldDef("PermMask", "Computed", "Effective Permissions Mask", read_only=True, hidden=True),
    FieldDef("MetaInfo", "Lookup", "Property Bag", read_only=True, hidden=True),
)
COMMON_NAMES = frozenset(f.name for f in COMMON)


def field_defs(converter_fields) -> tuple:
    """The whole schema of a list whose converter publishes ``converter_fields``
    (objects with ``name``, ``type``, ``display_name`` and optionally ``choices``,
    ``read_only``, ``format``): the common fields, then the type's own, each name once."""
    out = list(COMMON)
    seen = set(COMMON_NAMES)
    for field in converter_fields:
        if field.name in seen:
            continue
        seen.add(field.name)
        out.append(FieldDef(field.name, field.type, getattr(field, "display_name", None) or field.name,
                            read_only=bool(getattr(field, "read_only", False)),
                            choices=tuple(getattr(field, "choices", ()) or ()),
                            format=getattr(field, "format", None),
                            required=bool(getattr(field, "required", False))))
    return tuple(out)


def date_fields(defs) -> frozenset:
    """Names of the DateTime fields of a schema (written as the request asks)."""
    return frozenset(f.name for f in defs if f.type == "DateTime")


def _field_element(field: FieldDef):
    node = etree.Element(sp("Field"))
    field_id = FIELD_IDS.get(field.name)
    if field_id:
        node.set("ID", field_id)
    node.set("Name", field.name)
    node.set("StaticName", field.name)
    node.set("DisplayName", clean(field.display_name))
    node.set("Type", field.type)
    node.set("SourceID", "http://schemas.microsoft.com/sharepoint/v3")
    node.set("FromBaseType", "TRUE")
    if field.read_only:
        node.set("ReadOnly", "TRUE")
    if field.hidden:
        node.set("Hidden", "TRUE")
    if field.format:
        node.set("Format", field.format)
    if field.required:
        node.set("Required", "TRUE")
    if field.choices:
        choices = etree.SubElement(node, sp("CHOICES"))
        for value in field.choices:
            etree.SubElement(choices, sp("CHOICE")).text = clean(value)
    return node


def _sp_date(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y%m%d %H:%M:%S")


@attrs.frozen
class ListInfo:
    """What the ``<List>`` element says of one list."""

    guid: str
    title: str
    description: str
    template: int
    url: str
    site_path: str
    item_count: int
    defs: tuple


def list_element(info: ListInfo, now: Optional[datetime] = None):
    """The ``<List>`` of GetList (MS-LISTSWS 2.2.4.11, ListDefinitionSchema): the
    list's attributes, its Fields, RegionalSettings (UTC, as every date served) and
    ServerSettings."""
    when = _sp_date(now or datetime.now(timezone.utc))
    node = etree.Element(sp("List"))
    root_folder = f"{info.site_path}/Lists/{info.url}"
    for name, value in (
            ("DocTemplateUrl", ""), ("DefaultViewUrl", f"{root_folder}/AllItems.aspx"),
            ("ID", info.guid), ("Title", clean(info.title)), ("Description", clean(info.description)),
            ("ImageUrl", "/_layouts/images/itgen.gif"), ("Name", info.guid), ("BaseType", "0"),
            ("FeatureId", "{00000000-0000-0000-0000-000000000000}"),
            ("ServerTemplate", str(info.template)), ("Created", when), ("Modified", when),
            ("LastDeleted", when), ("Version", str(SCHEMA_VERSION)), ("Direction", "none"),
            ("ThumbnailSize", ""), ("WebImageWidth", ""), ("WebImageHeight", ""), ("Flags", "0"),
            ("ItemCount", str(info.item_count)), ("AnonymousPermMask", "0"),
            ("RootFolder", root_folder), ("ReadSecurity", "1"), ("WriteSecurity", "1"),
            ("Author", "1"), ("EventSinkAssembly", ""), ("EventSinkClass", ""), ("EventSinkData", ""),
            ("EmailInsertsFolder", ""), ("AllowDeletion", "True"), ("AllowMultiResponses", "False"),
            ("EnableAttachments", "False"), ("EnableModeration", "False"),
            ("EnableVersioning", "False"), ("Hidden", "False"), ("MultipleDataList", "False"),
            ("Ordered", "False"), ("ShowUser", "True"), ("EnableMinorVersion", "False"),
            ("RequireCheckout", "False")):
        node.set(name, value)
    fields = etree.SubElement(node, sp("Fields"))
    for field in info.defs:
        fields.append(_field_element(field))
    regional = etree.SubElement(node, sp("RegionalSettings"))
    for name, value in (("Language", "1033"), ("Locale", "1033"), ("AdvanceHijri", "0"),
                        ("CalendarType", "1"), ("Time24", "False"), ("TimeZone", "0"),
                        ("SortOrder", "2070"), ("Presence", "False")):
        etree.SubElement(regional, sp(name)).text = value
    server = etree.SubElement(node, sp("ServerSettings"))
    for name, value in (("ServerVersion", SERVER_VERSION), ("RecycleBinEnabled", "False"),
                        ("ServerRelativeUrl", info.site_path)):
        etree.SubElement(server, sp(name)).text = value
    return node
