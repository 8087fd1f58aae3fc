"""The SyncML 1.1 and 1.2 WBXML languages: SyncML with MetInf, and DevInf.

Taken from the SyncML Representation Protocol (1.1: syncml_represent_v11 section 8;
1.2: OMA-TS-SyncML_RepPro-V1_2 section 8, code page 0 SyncML and code page 1 MetInf,
OMA-TS-SyncML_MetaInfo-V1_2) and the Device Information DTDs (syncml_devinf_v11,
OMA-TS-DS_DevInf-V1_2, code page 0), cross-checked with libwbxml's tables. A SyncML
message is one WBXML document (pages 0 and 1); a DevInf is its own document, with its own
public id, which a SyncML message carries as the opaque Data of a Put or Results item.

Public ids: SyncML writes them as strings in the string table ("-//SYNCML//DTD SyncML
1.2//EN"), which every client reads; the registered numbers (0x0FD3 SyncML 1.1, 0x0FD4
DevInf 1.1, 0x1201 SyncML 1.2, 0x1202 MetInf 1.2, 0x1203 DevInf 1.2, as libwbxml knows
them) are accepted when reading.
"""

from __future__ import annotations

import attrs

from smsync.formats.wbxml import CodePage, Vocabulary, code_page

#: XML namespaces of the pages (the SyncML page's names the version).
SYNCML11_NS = "SYNCML:SYNCML1.1"
SYNCML12_NS = "SYNCML:SYNCML1.2"
METINF_NS = "syncml:metinf"
DEVINF_NS = "syncml:devinf"

# Code page 0 of SyncML 1.1. 0x30 is reserved; SourceParent (0x39) is 1.2's, but Nokia
# phones send it in 1.1 messages too (libwbxml keeps it for them).
_SYNCML11 = """
    05 Add 06 Alert 07 Archive 08 Atomic 09 Chal 0A Cmd 0B CmdID 0C CmdRef 0D Copy
    0E Cred 0F Data 10 Delete 11 Exec 12 Final 13 Get 14 Item 15 Lang 16 LocName
    17 LocURI 18 Map 19 MapItem 1A Meta 1B MsgID 1C MsgRef 1D NoResp 1E NoResults 1F Put
    20 Replace 21 RespURI 22 Results 23 Search 24 Sequence 25 SessionID 26 SftDel
    27 Source 28 SourceRef 29 Status 2A Sync 2B SyncBody 2C SyncHdr 2D SyncML 2E Target
    2F TargetRef 31 VerDTD 32 VerProto 33 NumberOfChanges 34 MoreData 39 SourceParent"""
# SyncML 1.2 adds filtering, hierarchy and Move.
_SYNCML12 = _SYNCML11 + """
    35 Field 36 Filter 37 Record 38 FilterType 3A TargetParent 3B Move 3C Correlator"""
_METINF11 = """
    05 Anchor 06 EMI 07 Format 08 FreeID 09 FreeMem 0A Last 0B Mark 0C MaxMsgSize 0D Mem
    0E MetInf 0F Next 10 NextNonce 11 SharedMem 12 Size 13 Type 14 Version 15 MaxObjSize"""
_METINF12 = _METINF11 + " 16 FieldLevel"
_DEVINF_COMMON = """
    05 CTCap 06 CTType 07 DataStore 08 DataType 09 DevID 0A DevInf 0B DevTyp
    0C DisplayName 0D DSMem 0E Ext 0F FwV 10 HwV 11 Man 12 MaxGUIDSize 13 MaxID 14 MaxMem
    15 Mod 16 OEM 17 ParamName 18 PropName 19 Rx 1A Rx-Pref 1B SharedMem {1C} 1D SourceRef
    1E SwV 1F SyncCap 20 SyncType 21 Tx 22 Tx-Pref 23 ValEnum 24 VerCT 25 VerDTD 26 XNam
    27 XVal 28 UTC 29 SupportNumberOfChanges 2A SupportLargeObjs"""
_DEVINF11 = _DEVINF_COMMON.format_map({"1C": "1C Size"})
# 1.2 renames Size MaxSize (a property's size; Synthesis, SyncEvolution's engine, writes
# either name for the one token: both are read, MaxSize is what decoding names it), adds
# the property structure, filters and hierarchical sync; 0x2F is reserved.
_DEVINF12 = _DEVINF_COMMON.format_map({"1C": "1C MaxSize/Size"}) + """
    2B Property 2C PropParam 2D MaxOccur 2E NoTruncate 30 Filter-Rx 31 FilterCap
    32 FilterKeyword 33 FieldLevel 34 SupportHierarchicalSync"""

#: What SyncML 1.1 and 1.2 accept as charsets (UTF-8, US-ASCII, ISO-8859-1; 0 unknown):
#: some phones declare Latin-1.
CHARSETS = (0, 3, 4, 106)
#: The WBXML version SyncML clients and servers write (1.2).
WBXML_VERSION = 0x02


@attrs.frozen
class Version:
    """One SyncML version and its languages.

    Attributes:
        verdtd: the VerDTD value (``"1.2"``).
        verproto: the VerProto value (``"SyncML/1.2"``).
        namespace: the SyncML page's XML namespace.
        syncml: the message language (SyncML page 0, MetInf page 1).
        devinf: the DevInf language.
        public_ids: the public ids (strings and numbers) of a message in it.
        devinf_public_ids: the public ids of a DevInf document in it.
    """

    verdtd: str
    verproto: str
    namespace: str
    syncml: Vocabulary
    devinf: Vocabulary
    public_ids: frozenset
    devinf_public_ids: frozenset


def _version(verdtd: str, syncml_pages: tuple[CodePage, ...], devinf_table: str,
             numbers: tuple[int, int]) -> Version:
    public_id = f"-//SYNCML//DTD SyncML {verdtd}//EN"
    devinf_id = f"-//SYNCML//DTD DevInf {verdtd}//EN"
    return Version(
        verdtd, f"SyncML/{verdtd}", syncml_pages[0].namespace,
        Vocabulary(f"SyncML {verdtd}", syncml_pages, version=WBXML_VERSION,
                   public_id=public_id, charsets=CHARSETS),
        Vocabulary(f"DevInf {verdtd}", (code_page(0, "DevInf", DEVINF_NS, devinf_table),),
                   version=WBXML_VERSION, public_id=devinf_id, charsets=CHARSETS),
        frozenset((public_id, numbers[0])), frozenset((devinf_id, numbers[1])),
    )


SYNCML11 = _version("1.1", (code_page(0, "SyncML", SYNCML11_NS, _SYNCML11),
                            code_page(1, "MetInf", METINF_NS, _METINF11)),
                    _DEVINF11, (0x0FD3, 0x0FD4))
SYNCML12 = _version("1.2", (code_page(0, "SyncML", SYNCML12_NS, _SYNCML12),
                            code_page(1, "MetInf", METINF_NS, _METINF12)),
                    _DEVINF12, (0x1201, 0x1203))

#: Every version by VerDTD.
VERSIONS: dict[str, Version] = {v.verdtd: v for v in (SYNCML11, SYNCML12)}
#: Every version by its SyncML namespace.
BY_NAMESPACE: dict[str, Version] = {v.namespace: v for v in VERSIONS.values()}
#: MetInf 1.2's own public id, which a standalone MetInf document would carry.
METINF12_PUBLIC_ID = 0x1202
