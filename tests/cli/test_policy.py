"""``smsync policy``: rules per domain and per account, the account's winning, and a
store that cannot hold a policy said so."""

import os
from pathlib import Path

import pytest

from .helpers import ok, run

ROOT = Path(__file__).resolve().parents[2]


def test_rules_per_domain_and_account(site):
    assert ok("policy", "list", cwd=site).out == "no rules: every account may use every protocol\n"
    assert ok("policy", "show", "alice@example.org", cwd=site).out == "alice@example.org: all (no rule)\n"
    assert ok("policy", "set", "Example.ORG", "imap, pop3", cwd=site).out == "example.org: imap,pop3\n"
    assert ok("policy", "show", "alice@example.org", cwd=site).out == \
        "alice@example.org: imap,pop3 (from example.org)\n"
    ok("policy", "set", "alice@example.org", "dav,imap", cwd=site)
    assert ok("policy", "show", "alice@example.org", cwd=site).out == "alice@example.org: imap,dav\n"
    assert ok("policy", "list", cwd=site).out.splitlines() == [
        "alice@example.org  imap,dav", "example.org        imap,pop3"]
    ok("policy", "set", "alice@example.org", "none", cwd=site)
    assert ok("policy", "show", "alice@example.org", cwd=site).out == "alice@example.org: none\n"
    assert ok("policy", "clear", "alice@example.org", cwd=site).out == "alice@example.org: rule removed\n"
    assert "(from example.org)" in ok("policy", "show", "alice@example.org", cwd=site).out
    ok("policy", "clear", "example.org", cwd=site)
    assert ok("policy", "show", "alice@example.org", cwd=site).out == "alice@example.org: all (no rule)\n"


@pytest.mark.parametrize("args, status, message", [
    (["policy", "set", "alice@example.org", "imap,gopher"], 2, "unknown protocol 'gopher'"),
    (["policy", "set", "not an address", "imap"], 2, "is neither user@domain nor a domain"),
    (["policy", "set", "@example.org", "imap"], 2, ""),
    (["policy", "clear", "nobody.example"], 1, "nobody.example has no rule"),
])
def test_mistakes_are_one_line(site, args, status, message):
    result = run(*args, cwd=site)
    assert result.status == status, result
    assert result.err.count("\n") == 1 and message in result.err


def test_a_store_without_a_policy_says_so(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "examples" / "maildir_vdir")])}
    uri = f"maildirvdir://{tmp_path}/store"
    ok("init", "--store", uri, cwd=tmp_path, env=env)
    shown = ok("policy", "show", "bob@example.org", "--store", uri, cwd=tmp_path, env=env)
    assert shown.out == "bob@example.org: all (the store cannot hold a protocol policy)\n"
    refused = run("policy", "set", "bob@example.org", "imap", "--store", uri, cwd=tmp_path, env=env)
    assert refused.status == 1
    assert "cannot hold a protocol policy: every account may use every protocol" in refused.err
