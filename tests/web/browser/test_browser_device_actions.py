"""What a user does to one device in a real Chromium, and what the device then sees,
with a raw EAS client (tests/protocols/eas/eas_client.py) as the phone: rename (and a
CalDAV entry shown read-only); delete after the confirmation page, after which the
phone's old sync state is gone and its next sync starts over from SyncKey 0; remote wipe,
which the phone's next request is sent to Provision for, whose answer carries RemoteWipe,
and whose acknowledgement the device page then shows; a form edited to act on another
account's device answers Not found. Screenshots of the device and delete pages."""

from __future__ import annotations

from urllib.parse import quote

import pytest_twisted

from smsync.testing.servers import OTHER, PASSWORD, USER
from tests.protocols.eas.eas_client import FH, PROV, RawEAS, el
from tests.web.browser.browser_support import block, device_row, shot, sign_in

PROTOCOLS = ("web", "eas", "caldav")


def phone(server, name: str, user: str = USER) -> RawEAS:
    """A provisioned EAS phone of ``user`` with its folders synced."""
    device = RawEAS(server.port("eas"), user, PASSWORD, name)
    device.provision()
    device.folder_sync()
    return device


def folder_sync(device: RawEAS, key: str):
    """(HTTP status, FolderSync Status, the new SyncKey or None)."""
    status, tree = device.post("FolderSync", el(FH, "FolderSync", el(FH, "SyncKey", text=key)))
    if tree is None:
        return status, None, None
    found = tree.find(FH, "SyncKey")
    return status, tree.find(FH, "Status").text, found.text if found is not None else None


def open_device(page, device_id: str, name: str):
    """From the devices list, the page of the device ``device_id``, by its name's link."""
    page.goto("/web/devices")
    row = page.locator(f'#devices tr[data-device="{device_id}"]')
    row.get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == name


def _rename(page, server):
    device = phone(server, "RenameMe")
    sign_in(page, USER)
    open_device(page, "eas-RenameMe", "pytest")
    shot(page, "device")
    # A name of blanks is refused with the form's message, and changes nothing.
    page.get_by_label("Name").fill("   ")
    page.get_by_role("button", name="Rename").click()
    page.wait_for_load_state()
    assert "Not renamed" in page.get_by_role("alert").inner_text()
    assert block(server.store.devices.get(USER, "eas-RenameMe")).name == "pytest"
    page.get_by_label("Name").fill("Work phone")
    page.get_by_role("button", name="Rename").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "The device was renamed."
    assert page.get_by_role("heading", level=1).inner_text() == "Work phone"
    page.get_by_role("link", name="Synchronized Devices").first.click()
    page.wait_for_load_state()
    assert page.locator('#devices tr[data-device="eas-RenameMe"] td').first.inner_text() == "Work phone"
    # The phone syncs on under its new name.
    assert folder_sync(device, "0")[:2] == (200, "1")
    assert block(server.store.devices.get(USER, "eas-RenameMe")).name == "Work phone"

    # A CalDAV client's entry is named by what it sends: shown read-only.
    import caldav

    caldav.DAVClient(url=server.url + "/dav/", username=USER, password=PASSWORD).principal().calendars()
    page.goto("/web/devices")
    device_row(page, "CalDAV").get_by_role("link", name="Details").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Rename").count() == 0
    assert "cannot be renamed" in page.locator("main").inner_text()


@pytest_twisted.ensureDeferred
async def test_rename(server, browser):
    await browser.run(_rename, server.url, server)


def _delete(page, server):
    device = phone(server, "DeleteMe")
    status, code, key = folder_sync(device, "0")
    assert (status, code) == (200, "1") and key
    assert folder_sync(device, key)[:2] == (200, "1")
    sign_in(page, USER)
    page.goto(f"/web/devices/{quote('eas-DeleteMe', safe='')}")
    page.get_by_role("link", name="Delete…").click()
    page.wait_for_load_state()
    # The confirmation says what deleting does before anything is done.
    assert "sync" in page.locator("#delete-means").inner_text().lower()
    shot(page, "device-delete")
    assert block(server.store.devices.get(USER, "eas-DeleteMe"))
    page.get_by_role("button", name="Delete the device").click()
    page.wait_for_url("**/web/devices*")
    assert page.locator('#devices tr[data-device="eas-DeleteMe"]').count() == 0

    # The phone's next sync starts over: its old keys are gone (it is sent to Provision
    # first, its policy having gone with the rest), and SyncKey 0 works after that.
    status, code, _ = folder_sync(device, key)
    assert (status, code) == (200, "142"), (status, code)
    device.provision()
    status, code, _ = folder_sync(device, key)
    assert (status, code) == (200, "9"), (status, code)
    status, code, fresh = folder_sync(device, "0")
    assert (status, code) == (200, "1") and fresh
    # It is listed again, as new.
    page.goto("/web/devices")
    assert page.locator('#devices tr[data-device="eas-DeleteMe"]').count() == 1


@pytest_twisted.ensureDeferred
async def test_delete_then_the_device_starts_over(server, browser):
    await browser.run(_delete, server.url, server)


def _wipe(page, server):
    device = phone(server, "WipeMe")
    sign_in(page, USER)
    page.goto(f"/web/devices/{quote('eas-WipeMe', safe='')}")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Remote wipe", exact=True).click()
    page.wait_for_url("**notice=wipe")
    assert asked and "Erase everything" in asked[0]
    assert "not yet acknowledged" in page.locator("main").inner_text()

    # The phone's next request is sent to Provision, whose answer says RemoteWipe.
    status, code, _ = folder_sync(device, "0")
    assert (status, code) == (200, "142"), (status, code)
    status, tree = device.post("Provision", el(PROV, "Provision", el(PROV, "Policies", el(
        PROV, "Policy", el(PROV, "PolicyType", text="MS-EAS-Provisioning-WBXML")))))
    assert status == 200 and tree.find(PROV, "RemoteWipe") is not None
    assert tree.find(PROV, "Policies") is None
    # It reports the wipe done; the page says so.
    status, tree = device.post("Provision", el(PROV, "Provision", el(PROV, "RemoteWipe", el(
        PROV, "Status", text="1"))))
    assert status == 200 and tree.find(PROV, "Status").text == "1"
    page.reload()
    text = page.locator("main").inner_text()
    assert "full wipe requested" in text and "done, reported" in text, text


@pytest_twisted.ensureDeferred
async def test_remote_wipe_reaches_the_next_provision(server, browser):
    await browser.run(_wipe, server.url, server)


def _forms_of_another_account(page, server):
    phone(server, "BobsPhone", user=OTHER)
    phone(server, "AlicesPhone")
    sign_in(page, USER)
    own = f"/web/devices/{quote('eas-AlicesPhone', safe='')}"
    assert page.goto(own).status == 200
    for action in ("rename", "wipe", "delete"):
        page.goto(own if action != "delete" else own + "/delete")
        # Point the form at Bob's phone, as a hand-edited request would.
        form = page.locator(f'form[action$="/{action}"]').first
        form.evaluate("(f, target) => { f.action = target; f.removeAttribute('data-confirm'); }",
                      f"/web/devices/{quote('eas-BobsPhone', safe='')}/{action}")
        answer_of = page.expect_response(lambda r: r.request.method == "POST")
        with answer_of as answer:
            form.evaluate("f => f.submit()")
        assert answer.value.status == 404, (action, answer.value.status)
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Not found"
    # Bob's phone is there, as it was, with no wipe asked of it.
    from smsync.edge.devices import wipe_request

    assert block(server.store.devices.get(OTHER, "eas-BobsPhone")).name == "pytest"
    assert block(wipe_request(server.store.devices, OTHER, "eas-BobsPhone")) is None


@pytest_twisted.ensureDeferred
async def test_forms_cannot_act_on_another_accounts_device(server, browser):
    await browser.run(_forms_of_another_account, server.url, server)
