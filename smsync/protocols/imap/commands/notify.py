"""NOTIFY (RFC 5465): NOTIFY NONE, and NOTIFY SET [STATUS] with its event groups checked
against RFC 5465's rules before ``notifications.Notifications`` takes them on."""

from __future__ import annotations

from smsync.protocols.imap.commands import AUTH, CommandBad, Reply, command
from smsync.protocols.imap.notifications import Notifications
from smsync.protocols.imap.notifysyntax import (
    ANNOTATION_CHANGE, FLAG_CHANGE, MAILBOX_NAME, MESSAGE_EVENTS, MESSAGE_EXPUNGE, MESSAGE_NEW,
    SELECTED_FILTERS, SUBSCRIPTION_CHANGE,
)

#: The events this server reports, as BADEVENT lists them. AnnotationChange needs
#: ANNOTATE (RFC 5257), MailboxMetadataChange and ServerMetadataChange METADATA (RFC
#: 5464), neither of which is offered.
SUPPORTED = (MESSAGE_NEW, MESSAGE_EXPUNGE, FLAG_CHANGE, MAILBOX_NAME, SUBSCRIPTION_CHANGE)


def check(groups) -> None:
    """The rules of RFC 5465 whose breach is a BAD.

    Raises:
        CommandBad: which one was broken.
    """
    selected = [g for g in groups if g.filter in SELECTED_FILTERS]
    if len(selected) > 1:
        # 6.1: "Only one of the mailbox specifiers affecting the currently selected
        # mailbox can be specified in any NOTIFY command."
        raise CommandBad("only one of SELECTED and SELECTED-DELAYED may be given")
    for group in groups:
        events = set(group.events)
        if group.filter in SELECTED_FILTERS and events - MESSAGE_EVENTS:
            # 6.1: "It is an error to specify other types of events with either the
            # SELECTED or the SELECTED-DELAYED selector."
            raise CommandBad(f"{group.filter} takes message events only")
        if (MESSAGE_NEW in events) != (MESSAGE_EXPUNGE in events):
            # 5: "If one of MessageNew or MessageExpunge is specified, then both events
            # MUST be specified. Otherwise, the server MUST respond with the tagged BAD".
            raise CommandBad("MessageNew and MessageExpunge go together")
        if events & {FLAG_CHANGE, ANNOTATION_CHANGE} and MESSAGE_NEW not in events:
            # 5: "If the FlagChange and/or AnnotationChange events are specified,
            # MessageNew and MessageExpunge MUST also be specified by the client."
            raise CommandBad(f"{sorted(events & {FLAG_CHANGE, ANNOTATION_CHANGE})[0]} needs MessageNew and MessageExpunge")


@command("NOTIFY", AUTH)
async def notify(conn, cmd):
    session = conn.session
    spec = cmd.args
    if spec.groups is None:
        session.set_notifications(None)
        return None
    check(spec.groups)
    unsupported = sorted({e for g in spec.groups for e in g.events} - set(SUPPORTED))
    if unsupported:
        # 3.1: "If the client requests information for events of an unsupported type,
        # the server MUST refuse the command with a tagged NO response (not a BAD). This
        # response SHOULD contain the BADEVENT response code, which MUST list names of
        # all events supported by the server."
        return Reply("NO", f"{unsupported[0]} is not reported here", "BADEVENT (" + " ".join(SUPPORTED) + ")")
    notifications = await Notifications.start(session, spec.groups, spec.status)
    session.set_notifications(notifications)
    # 3.1: "A successful NOTIFY SET command MUST cause the server to immediately return
    # any accumulated changes to the currently selected mailbox (if any) [...] a
    # successful NOTIFY SET command implies an implicit NOOP command."
    await session.report_changes(force=True)
    return None
