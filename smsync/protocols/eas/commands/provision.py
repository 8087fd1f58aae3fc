"""Provision (MS-ASPROV): the two-phase download and acknowledgement of the device
policy, and the policy key every other command must then present."""

from __future__ import annotations

from smsync.edge.devices import acknowledge_wipe, wipe_request
from smsync.protocols.eas import state
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.commands.settings import save_device_information
from smsync.protocols.eas.wbxml import Element

PROV = "Provision:"
SETTINGS = "Settings:"
POLICY_TYPE = "MS-EAS-Provisioning-WBXML"

#: The policy smsync asks of devices: none of its own yet (no password required). The
#: document still lists the settings so clients that expect them find them.
POLICY_SETTINGS = (
    ("DevicePasswordEnabled", "0"), ("AlphanumericDevicePasswordRequired", "0"),
    ("RequireStorageCardEncryption", "0"), ("AttachmentsEnabled", "1"),
    ("AllowSimpleDevicePassword", "1"), ("AllowHTMLEmail", "1"),
)


def _el(ns: str, tag: str, *children, text=None) -> Element:
    return Element(ns, tag, children, text)


async def _wipe(ctx, body: Element, wipe, out: list) -> Element:
    """A device asked to wipe itself: told so in every Provision answer until it is
    removed from the devices list; its report of the wipe is recorded."""
    for tag in ("RemoteWipe", "AccountOnlyRemoteWipe"):
        report = body.find(PROV, tag)
        status = report.find(PROV, "Status") if report is not None else None
        if status is not None and status.text:
            await acknowledge_wipe(ctx.store.devices, ctx.account, ctx.device_id, status.text[:4])
            ctx.log(f"Provision: the device reports the {tag} with status {status.text[:4]}")
            return _el(PROV, "Provision", *out, _el(PROV, "Status", text="1"))
    if wipe.account_only and ctx.version != "16.1":
        # Only 16.1 devices can wipe just the account; wiping a whole phone that was
        # asked to forget one account is not ours to do.
        ctx.log(f"Provision: account-only wipe pending; a {ctx.version} device cannot do it, refused")
        raise CommandError(403, "this device is to remove the account and cannot be told so; "
                                "it is refused until it is deleted from the devices list")
    tag = "AccountOnlyRemoteWipe" if wipe.account_only else "RemoteWipe"
    ctx.log(f"Provision: {tag} sent")
    return _el(PROV, "Provision", *out, _el(PROV, "Status", text="1"), _el(PROV, tag))


def _policy_document() -> Element:
    return _el(PROV, "Data", _el(PROV, "EASProvisionDoc",
                                 *(_el(PROV, name, text=value) for name, value in POLICY_SETTINGS)))


@command("Provision", PROV, needs_policy=False)
async def provision(ctx, body):
    if body is None or (body.namespace, body.tag) != (PROV, "Provision"):
        raise CommandError(400, "Provision needs a Provision body")
    out = []
    info = body.find(SETTINGS, "DeviceInformation")
    if info is not None:
        await save_device_information(ctx, info)
        out.append(_el(SETTINGS, "DeviceInformation", _el(SETTINGS, "Status", text="1")))
    wipe = await wipe_request(ctx.store.devices, ctx.account, ctx.device_id)
    if wipe is not None:
        return await _wipe(ctx, body, wipe, out)
    policies = body.find(PROV, "Policies")
    policy = policies.find(PROV, "Policy") if policies is not None else None
    if policy is None:
        # A remote-wipe acknowledgement alone, or nothing asked: nothing to wipe.
        return _el(PROV, "Provision", *out, _el(PROV, "Status", text="1"))
    kind = policy.find(PROV, "PolicyType")
    if kind is None or kind.text != POLICY_TYPE:
        return _el(PROV, "Provision", *out, _el(PROV, "Status", text="1"), _el(
            PROV, "Policies", _el(PROV, "Policy", _el(PROV, "PolicyType", text=kind.text if kind is not None else ""),
                                  _el(PROV, "Status", text="3"))))
    saved = await state.load(ctx, state.POLICY_KEY) or {}
    acked = policy.find(PROV, "PolicyKey")
    if acked is None:
        # Phase 1: hand out the policy with a temporary key.
        temporary = state.new_policy_key()
        await state.save(ctx, state.POLICY_KEY, {**saved, "pending": temporary})
        ctx.log(f"Provision: policy sent (temporary key {temporary})")
        return _el(PROV, "Provision", *out, _el(PROV, "Status", text="1"), _el(
            PROV, "Policies", _el(
                PROV, "Policy", _el(PROV, "PolicyType", text=POLICY_TYPE),
                _el(PROV, "Status", text="1"), _el(PROV, "PolicyKey", text=str(temporary)),
                _policy_document())))
    # Phase 2: the device acknowledges the temporary key; it gets the final one.
    status = policy.find(PROV, "Status")
    if saved.get("pending") is None or acked.text != str(saved.get("pending")):
        ctx.log("Provision: acknowledgement of a key never sent")
        return _el(PROV, "Provision", *out, _el(PROV, "Status", text="1"), _el(
            PROV, "Policies", _el(PROV, "Policy", _el(PROV, "PolicyType", text=POLICY_TYPE),
                                  _el(PROV, "Status", text="5"))))
    if status is None or status.text not in ("1", "2"):
        ctx.log(f"Provision: the device did not apply the policy (status {status.text if status is not None else '-'})")
    final = state.new_policy_key()
    await state.save(ctx, state.POLICY_KEY, {"key": final})
    ctx.log(f"Provision: acknowledged, policy key {final}")
    return _el(PROV, "Provision", *out, _el(PROV, "Status", text="1"), _el(
        PROV, "Policies", _el(PROV, "Policy", _el(PROV, "PolicyType", text=POLICY_TYPE),
                              _el(PROV, "Status", text="1"), _el(PROV, "PolicyKey", text=str(final)))))
