"""The ``smsync`` command end to end, as subprocesses over a real sqlite store."""

import io
import re
import shutil

import pytest
import pytest_twisted

from smsync.auth import verify_password
from smsync.cli.mbox import iter_mbox
from smsync.config import load_config
from smsync.store.registry import open_store

from .helpers import DATA, ok, run


def store_of(root):
    return load_config(root / "smsync-data" / "smsync.toml").store.uri


async def with_store(root, work):
    """``work(store)`` (a coroutine function) on the site's store, opened in this process
    while no command runs."""
    store = await open_store(store_of(root), create=False)
    try:
        return await work(store)
    finally:
        await store.close()


def test_init_layout_and_reruns(tmp_path):
    result = ok("init", "--data", "d", cwd=tmp_path)
    assert (tmp_path / "d" / "smsync.toml").is_file() and (tmp_path / "d" / "store").is_dir()
    config = load_config(tmp_path / "d" / "smsync.toml")
    assert config.store.uri == f"sqlite://{tmp_path / 'd' / 'store'}"
    assert "IMAP: tcp:1143:interface=127.0.0.1" in result.out
    again = run("init", "--data", "d", cwd=tmp_path)
    assert again.status == 1 and again.err.count("\n") == 1
    assert again.err.startswith("smsync: error: d is already initialised")
    assert ok("init", "--data", "d", "--if-missing", cwd=tmp_path).err == ""


@pytest_twisted.ensureDeferred
async def test_init_demo_prints_a_working_password(tmp_path):
    result = ok("init", "--demo", cwd=tmp_path)
    password = re.search(r"demo account: demo@example\.test  password: (\S+)", result.out).group(1)
    assert ok("user", "list", cwd=tmp_path).out == "demo@example.test (admin)\n"

    async def check(store):
        stored = await store.accounts.password_hash("demo@example.test")
        inbox = await (await store.mail("demo@example.test")).mailbox("INBOX")
        calendar = await (await store.collections("demo@example.test")).collection("calendar")
        return verify_password(stored, password), (await inbox.info()).exists, len(await calendar.items())

    assert await with_store(tmp_path, check) == (True, 3, 2)
    # make run runs init again: it shows the same password and changes nothing
    rerun = ok("init", "--demo", "--if-missing", cwd=tmp_path)
    assert f"password: {password}" in rerun.out


@pytest_twisted.ensureDeferred
async def test_user_commands(site):
    ok("user", "add", "Bob@Example.ORG", cwd=site, stdin="from stdin\n")
    assert ok("user", "list", cwd=site).out.splitlines() == ["alice@example.org", "bob@example.org"]

    async def hash_of(store):
        return await store.accounts.password_hash("bob@example.org")

    assert verify_password(await with_store(site, hash_of), "from stdin")
    ok("user", "passwd", "bob@example.org", "--password", "changed", cwd=site)
    assert verify_password(await with_store(site, hash_of), "changed")
    ok("user", "del", "BOB@example.org", cwd=site)
    assert ok("user", "list", cwd=site).out == "alice@example.org\n"


BAD = [
    (["user", "add", "alice@example.org", "--password", "x"], 1, "account alice@example.org already exists"),
    (["user", "add", "not-an-address", "--password", "x"], 2, "account names are user@domain"),
    (["user", "add", "new@example.org"], 2, "empty password"),
    (["user", "passwd", "ghost@example.org", "--password", "x"], 1, "no such account: ghost@example.org"),
    (["user", "del", "ghost@example.org"], 1, "no such account: ghost@example.org"),
    (["user"], 2, "the following arguments are required"),
    (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    (["import", "ghost@example.org", DATA / "sample.mbox"], 1, "no such account: ghost@example.org"),
    (["import", "alice@example.org", "missing.mbox"], 1, "missing.mbox: no such file"),
    (["import", "alice@example.org", "garbage.ics"], 1, "garbage.ics is not an iCalendar file"),
    (["import", "alice@example.org", "broken.ics"], 1, "broken.ics: unexpected END:VCALENDAR"),
    (["import", "alice@example.org", "notmbox"], 1, "is not an mbox file"),
    (["import", "alice@example.org", "broken.vcf"], 1, "the last vCard has no END:VCARD"),
    (["import", "alice@example.org", "plaindir"], 1, "is a directory but not a Maildir"),
    (["import", "alice@example.org", DATA / "sample.ics", "--folder", "INBOX"], 2, "use --collection"),
    (["import", "alice@example.org", DATA / "sample.mbox", "--collection", "x"], 2, "use --folder"),
    (["import", "alice@example.org", DATA / "sample.vcf", "--collection", "calendar"], 1,
     "stopped at item 1 of 2:"),
    (["export", "alice@example.org", "--folder", "Nope", "out.mbox"], 1, "alice@example.org has no folder 'Nope'"),
    (["export", "alice@example.org", "--collection", "nope", "out.ics"], 1, "has no collection 'nope'"),
    (["export", "alice@example.org", "out.mbox"], 2, "one of the arguments --folder --collection is required"),
    (["export", "ghost@example.org", "--folder", "INBOX", "out.mbox"], 1, "no such account"),
    (["devices", "list", "ghost@example.org"], 1, "no such account: ghost@example.org"),
    (["devices", "rename", "alice@example.org", "nodev", "Phone"], 1, "alice@example.org has no device 'nodev'"),
    (["devices", "delete", "alice@example.org", "nodev"], 1, "alice@example.org has no device 'nodev'"),
    (["devices", "log", "alice@example.org", "nodev"], 1, "alice@example.org has no device 'nodev'"),
    (["devices", "wipe", "alice@example.org", "nodev"], 1, "alice@example.org has no device 'nodev'"),
    (["devices", "log", "alice@example.org", "nodev", "--limit", "0"], 2, "--limit must be at least 1"),
    (["--store", "bogus:x", "user", "list"], 1, "cannot open store bogus:x: no store backend for scheme 'bogus'"),
    (["--store", "sqlite:///nonexistent/smsync", "user", "list"], 1, "cannot open store sqlite:///nonexistent/smsync"),
    (["--store", "nocolon", "user", "list"], 1, "not a store URI"),
    (["--data", "elsewhere", "user", "list"], 1, "no elsewhere/smsync.toml"),
    (["serve", "--data", "elsewhere"], 1, "no elsewhere/smsync.toml"),
]


@pytest.mark.parametrize("args, status, message", BAD, ids=[" ".join(map(str, a[0]))[:60] for a in BAD])
def test_bad_input_is_one_line(site, args, status, message):
    (site / "garbage.ics").write_bytes(b"hello\n")
    (site / "broken.ics").write_bytes(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VCALENDAR\r\n")
    (site / "notmbox").write_bytes(b"Subject: hi\n\nno From line\n")
    (site / "broken.vcf").write_bytes(b"BEGIN:VCARD\nFN:x\n")
    (site / "plaindir").mkdir(exist_ok=True)
    result = run(*args, cwd=site)
    assert result.status == status, result
    assert result.err.startswith("smsync: error: ") and result.err.count("\n") == 1, result
    assert message in result.err, result
    assert "Traceback" not in result.err + result.out


def _bodies(mbox_bytes):
    return sorted(m.body for m in iter_mbox(io.BytesIO(mbox_bytes)))


@pytest_twisted.ensureDeferred
async def test_mbox_import_and_export_round_trip(site):
    result = ok("import", "alice@example.org", DATA / "sample.mbox", "--folder", "Imported", cwd=site)
    assert "imported 3 messages into alice@example.org Imported" in result.out
    ok("export", "alice@example.org", "--folder", "Imported", "back.mbox", cwd=site)
    original = (DATA / "sample.mbox").read_bytes()
    assert _bodies((site / "back.mbox").read_bytes()) == _bodies(original)

    async def flags(store):
        box = await (await store.mail("alice@example.org")).mailbox("Imported")
        return sorted(sorted(m.flags) for m in await box.messages(None))

    assert await with_store(site, flags) == [[], ["\\Flagged"], ["\\Seen"]]


@pytest_twisted.ensureDeferred
async def test_maildir_import(site, tmp_path):
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1700000001.M1.host:2,SF").write_bytes(b"Subject: one\n\nfirst\n")
    (maildir / "cur" / "1700000002.M2.host:2,").write_bytes(b"Subject: two\n\nsecond\n")
    (maildir / "new" / "1700000003.M3.host").write_bytes(b"Subject: three\r\n\r\nthird\r\n")
    (maildir / "tmp" / "1700000004.M4.host").write_bytes(b"Subject: partial\n\n")
    result = ok("import", "alice@example.org", maildir, "--folder", "Archive/2023", cwd=site)
    assert "imported 3 messages" in result.out

    async def contents(store):
        box = await (await store.mail("alice@example.org")).mailbox("Archive/2023")
        infos = await box.messages(None)
        return sorted([(await box.read_body(m.uid), sorted(m.flags)) for m in infos])

    assert await with_store(site, contents) == [
        (b"Subject: one\r\n\r\nfirst\r\n", ["\\Flagged", "\\Seen"]),
        (b"Subject: three\r\n\r\nthird\r\n", []),
        (b"Subject: two\r\n\r\nsecond\r\n", []),
    ]


@pytest_twisted.ensureDeferred
async def test_ics_and_vcf_import_export(site):
    first = ok("import", "alice@example.org", DATA / "sample.ics", "--collection", "work", cwd=site)
    assert "created collection work" in first.out and "imported 3 items" in first.out
    again = ok("import", "alice@example.org", DATA / "sample.ics", "--collection", "work", cwd=site)
    assert "imported 3 items" in again.out
    ok("export", "alice@example.org", "--collection", "work", "work.ics", cwd=site)
    exported = (site / "work.ics").read_bytes()
    assert exported.count(b"BEGIN:VEVENT") == 4 and exported.count(b"BEGIN:VTIMEZONE") == 1
    ok("import", "alice@example.org", DATA / "sample.vcf", cwd=site)
    cards = ok("export", "alice@example.org", "--collection", "contacts", "-", cwd=site).out
    assert cards.count("BEGIN:VCARD") == 2 and "FN:Carol Example" in cards

    async def names(store):
        work = await (await store.collections("alice@example.org")).collection("work")
        return sorted(i.name for i in await work.items())

    assert await with_store(site, names) == ["holiday@example.org.ics", "review@example.org.ics",
                                       "standup@example.org.ics"]


@pytest_twisted.ensureDeferred
async def test_import_that_fails_halfway_keeps_what_it_stored(site, tmp_path):
    events = []
    for i in range(1, 301):
        if i == 213:  # a journal entry, which an event calendar does not take
            events += ["BEGIN:VJOURNAL", "UID:journal", "DTSTAMP:20260101T000000Z", "END:VJOURNAL"]
        events += ["BEGIN:VEVENT", f"UID:ev{i:03d}", "DTSTAMP:20260101T000000Z",
                   f"DTSTART:202601{1 + i % 28:02d}T100000Z", "SUMMARY:x", "END:VEVENT"]
    path = tmp_path / "many.ics"
    path.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
                    + "\r\n".join(events) + "\r\nEND:VCALENDAR\r\n")
    ok("user", "add", "halfway@example.org", "--password", "x", cwd=site)
    result = run("import", "halfway@example.org", path, "--collection", "calendar", cwd=site)
    assert result.status == 1 and result.err.count("\n") == 1, result
    match = re.match(r"smsync: error: stopped at item 213 of 301: .+ \((\d+) imported into "
                     r"halfway@example.org calendar\)$", result.err.strip())
    assert match, result.err

    async def uids(store):
        calendar = await (await store.collections("halfway@example.org")).collection("calendar")
        return {i.uid for i in await calendar.items()}

    stored = await with_store(site, uids)
    assert {f"ev{i:03d}" for i in range(1, 213)} <= stored
    assert "journal" not in stored and len(stored) == int(match.group(1))


def test_progress_lines_when_asked(site, tmp_path):
    path = tmp_path / "many.mbox"
    with open(path, "wb") as f:
        for i in range(300):
            f.write(b"From x@example.org Sat Nov 21 19:42:03 2026\n"
                    b"Subject: m%d\nMessage-ID: <m%d@x>\n\nbody\n\n" % (i, i))
    ok("user", "add", "progress@example.org", "--password", "x", cwd=site)
    result = ok("import", "progress@example.org", path, "--progress", cwd=site)
    lines = result.err.splitlines()
    assert lines and lines[-1] == "imported 300/300 messages"
    counts = [int(re.match(r"imported (\d+)/300 messages$", line).group(1)) for line in lines]
    assert counts == sorted(counts)
    quiet = ok("import", "progress@example.org", path, cwd=site)  # not a tty, not asked
    assert quiet.err == ""


@pytest_twisted.ensureDeferred
async def test_devices_commands(site):
    async def add_device(store):
        await store.devices.seen("alice@example.org", "ANDROID123", "eas",
                                 user_agent="Android-Mail/1.0")
        for i in range(5):
            await store.devices.log("alice@example.org", "ANDROID123", f"sync {i}: 3 changes sent")

    await with_store(site, add_device)
    listing = ok("devices", "list", "alice@example.org", cwd=site).out.splitlines()
    assert listing[0].split()[:3] == ["DEVICE", "NAME", "PROTOCOL"]
    assert listing[1].startswith("ANDROID123") and "eas" in listing[1] and "Android-Mail/1.0" in listing[1]
    log = ok("devices", "log", "alice@example.org", "ANDROID123", "--limit", "2", cwd=site).out.splitlines()
    assert [line.split("  ", 1)[1] for line in log] == ["sync 3: 3 changes sent", "sync 4: 3 changes sent"]
    ok("devices", "rename", "alice@example.org", "ANDROID123", "Work phone", cwd=site)
    assert "wipe itself" in ok("devices", "wipe", "alice@example.org", "ANDROID123", cwd=site).out
    log = ok("devices", "log", "alice@example.org", "ANDROID123", cwd=site).out
    assert log.splitlines()[-1].endswith("remote wipe requested")
    assert "Work phone" in ok("devices", "list", "alice@example.org", cwd=site).out
    ok("devices", "delete", "alice@example.org", "ANDROID123", cwd=site)
    assert "no devices" in ok("devices", "list", "alice@example.org", cwd=site).out


def test_store_and_data_options_work_before_and_after_the_command(site, tmp_path):
    shutil.copytree(site / "smsync-data", tmp_path / "copy", ignore=shutil.ignore_patterns("store"))
    uri = store_of(site)
    assert "alice@example.org" in ok("--store", uri, "user", "list", cwd=tmp_path).out
    assert "alice@example.org" in ok("user", "list", "--store", uri, cwd=tmp_path).out
    assert "alice@example.org" in ok("user", "list", "--data", site / "smsync-data", cwd=tmp_path).out
