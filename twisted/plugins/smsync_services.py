"""twistd plugins: ``smsync`` (everything from one config) and one ``smsync-<protocol>``
per protocol. Deliberately tiny: ``twistd --help`` imports this file, so everything else
is imported only when a plugin is actually used (see ``smsync.tap``)."""

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from zope.interface import implementer


@implementer(IPlugin, IServiceMaker)
class _SmsyncServiceMaker:
    def __init__(self, protocol, description):
        self.protocol = protocol
        self.tapname = "smsync" if protocol == "smsync" else "smsync-" + protocol
        self.description = description

    @property
    def options(self):
        from smsync.tap.options import options_for

        return options_for(self.protocol)

    def makeService(self, options):
        from smsync.tap.options import make_service

        return make_service(self.protocol, options)


smsync = _SmsyncServiceMaker("smsync", "smsync: every protocol over one store, from one config file")
smsync_imap = _SmsyncServiceMaker("imap", "smsync IMAP4rev1/rev2 server")
smsync_pop3 = _SmsyncServiceMaker("pop3", "smsync POP3 server")
smsync_lmtp = _SmsyncServiceMaker("lmtp", "smsync LMTP delivery server")
smsync_smtp = _SmsyncServiceMaker("smtp", "smsync SMTP delivery (inbound) server")
smsync_submission = _SmsyncServiceMaker("submission", "smsync mail submission (AUTH required) server")
smsync_caldav = _SmsyncServiceMaker("caldav", "smsync CalDAV server")
smsync_carddav = _SmsyncServiceMaker("carddav", "smsync CardDAV server")
smsync_eas = _SmsyncServiceMaker("eas", "smsync Exchange ActiveSync server")
smsync_ews = _SmsyncServiceMaker("ews", "smsync Exchange Web Services server")
smsync_syncml = _SmsyncServiceMaker("syncml", "smsync SyncML server")
smsync_lists = _SmsyncServiceMaker("lists", "smsync Add to Outlook (SharePoint Lists web service) server")
smsync_web = _SmsyncServiceMaker("web", "smsync web interface and JSON API")
