"""``stssync://`` links (MS-STSSYN): what hands a list to Outlook ("Add to Outlook").

The links are pure functions the web interface and the CLI use too, so they live in
``smsync.formats.stssync``; this module keeps their names for the Lists package.
"""

from smsync.formats.stssync import (
    ESCAPED_FIELDS,
    ORDER,
    SCHEME_PART,
    TYPES,
    VERSION,
    VERSION_2003,
    base_url,
    decode_value,
    encode_value,
    guid_of,
    parse_link,
    stssync_link,
)

__all__ = ["ESCAPED_FIELDS", "ORDER", "SCHEME_PART", "TYPES", "VERSION", "VERSION_2003", "base_url",
           "decode_value", "encode_value", "guid_of", "parse_link", "stssync_link"]
