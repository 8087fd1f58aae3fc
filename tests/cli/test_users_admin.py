"""``smsync user add --admin``, ``user admin USER on|off``, ``user quota`` and ``user
list`` marking administrators: the same code the web administration pages use."""

import pytest

from .helpers import ok, run


def test_admin_flag_and_list(site):
    assert ok("user", "add", "root@example.org", "--admin", "--password", "x", cwd=site).out == \
        "added root@example.org (admin)\n"
    assert ok("user", "list", cwd=site).out.splitlines() == [
        "alice@example.org", "root@example.org (admin)"]
    assert ok("user", "admin", "Alice@Example.org", "on", cwd=site).out == \
        "alice@example.org is an administrator\n"
    ok("user", "admin", "root@example.org", "off", cwd=site)
    assert ok("user", "list", cwd=site).out.splitlines() == [
        "alice@example.org (admin)", "root@example.org"]
    ok("user", "admin", "alice@example.org", "off", cwd=site)
    ok("user", "del", "root@example.org", cwd=site)


def test_quota(site):
    assert ok("user", "quota", "alice@example.org", cwd=site).out == \
        "alice@example.org: quota unlimited, 0 octets used\n"
    assert ok("user", "quota", "alice@example.org", "1.5G", cwd=site).out == \
        "alice@example.org: quota 1.5 GiB, 0 octets used\n"
    assert ok("user", "quota", "alice@example.org", "none", cwd=site).out.startswith(
        "alice@example.org: quota unlimited")


@pytest.mark.parametrize("args, status, message", [
    (["user", "admin", "ghost@example.org", "on"], 1, "no such account: ghost@example.org"),
    (["user", "admin", "alice@example.org", "maybe"], 2, "invalid choice"),
    (["user", "quota", "alice@example.org", "lots"], 2, "is not a size such as 500M or 2G"),
    (["user", "quota", "alice@example.org", "0"], 2, "at least one octet"),
    (["user", "quota", "ghost@example.org", "1G"], 1, "no such account"),
])
def test_mistakes_are_one_line(site, args, status, message):
    result = run(*args, cwd=site)
    assert result.status == status, result
    assert message in result.err and result.err.count("\n") <= 2
