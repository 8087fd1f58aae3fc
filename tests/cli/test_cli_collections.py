"""``smsync collections list``: every collection of an account, with the Add to Outlook
link of those Outlook takes as SharePoint lists, naming the configured site."""

from smsync.protocols.lists import ids, links

from .helpers import ok, run

USER = "alice@example.org"


def test_collections_list_prints_each_lists_link(site):
    out = ok("collections", "list", USER, cwd=site).out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "DISPLAY", "NAME", "ADD", "TO", "OUTLOOK"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert {"calendar", "contacts", "tasks", "notes"} <= set(by_name)
    assert by_name["notes"].rstrip().endswith("-")
    for name, link_type in (("calendar", "calendar"), ("contacts", "contacts"), ("tasks", "tasks")):
        link = by_name[name].split()[-1]
        fields = links.parse_link(link)
        assert fields["type"] == link_type and fields["ver"] == "1.1"
        assert fields["base-url"].startswith("https://") and fields["base-url"].endswith("/lists")
        assert fields["list-url"] == f"/Lists/{name}/" and fields["site-name"] == USER
        assert ids.parse_guid(fields["guid"]) is not None
    old = ok("collections", "list", USER, "--outlook-2003", cwd=site).out
    rows = {line.split()[0]: line for line in old.splitlines()[1:]}
    assert links.parse_link(rows["calendar"].split()[-1])["ver"] == "1.0"
    assert rows["tasks"].rstrip().endswith("-")  # Outlook 2003 takes no task lists


def test_the_link_names_the_configured_site(site):
    config = site / "smsync-data" / "smsync.toml"
    before = config.read_text()
    try:
        config.write_text(before + '\n[lists]\nsite_url = "https://proxy.example.org/x/lists/"\n')
        out = ok("collections", "list", USER, cwd=site).out
        link = [line for line in out.splitlines() if line.startswith("calendar")][0].split()[-1]
        assert links.parse_link(link)["base-url"] == "https://proxy.example.org/x/lists"
        config.write_text(before + '\n[lists]\nsite_url = "proxy.example.org"\n')
        bad = run("collections", "list", USER, cwd=site)
        assert bad.status == 1 and "site_url" in bad.err
    finally:
        config.write_text(before)
    bad = run("collections", "list", "nobody@example.org", cwd=site)
    assert bad.status == 1 and "no such account" in bad.err
