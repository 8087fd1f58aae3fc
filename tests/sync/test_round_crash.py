"""A sync round is all or nothing across a crash (issue 10, item 2).

A child process runs one round per source (calendar and Inbox) and kills itself with
SIGKILL at a point inside it: after the first write of the device's batch, after the
last, just before the new sync state is saved, and after the commit but before the
answer. The device, having no answer, sends the same request again; afterwards the store
must hold every change of the batch exactly once, every answer must say OK, and the
device's next round must bring it nothing but what it does not already hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smsync.store.registry import backends
from tests.sync.helpers import store_uri

CHILD = Path(__file__).with_name("round_child.py")
ROOT = CHILD.parent.parent.parent

#: Where the child dies: the write count includes both sources' batches (5 calendar
#: changes, then 4 mail changes).
KILL_POINTS = ["write:1", "write:5", "write:7", "state", "answer"]

#: What the store holds after the batch, applied once.
EXPECTED = {
    "events": ["event 1 moved", "new 1", "new 2", "new 3"],
    "messages": [["draft1", ["\\Draft"]], ["draft2", ["\\Draft"]],
                 ["m1", ["\\Flagged", "\\Seen"]], ["m3", []]],
}


def run_child(uri: str, statefile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHILD), uri, str(statefile), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def ok(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("scheme", [s for s in ("sqlite", "postgresql") if s in backends()])
@pytest.mark.parametrize("kill", KILL_POINTS)
def test_replayed_round_applies_once(scheme, kill, tmp_path):
    uri = store_uri(scheme, tmp_path)
    statefile = tmp_path / "state.json"
    setup = run_child(uri, statefile, "setup")
    assert setup.returncode == 0, setup.stderr[-3000:]

    died = run_child(uri, statefile, "round", kill)
    assert died.returncode == -9, (died.returncode, died.stderr[-3000:])

    again = ok(run_child(uri, statefile, "round"))
    for source in ("cal", "mail"):
        statuses = [r[0] for r in again[source]["results"]]
        assert set(statuses) == {"ok"}, (source, again[source])
    assert ok(run_child(uri, statefile, "dump")) == EXPECTED

    # The device got every add's server id; each server id names one distinct item.
    cal_ids = [r[2] for r in again["cal"]["results"]]
    assert len(set(cal_ids)) == len(cal_ids)
    # Its own changes are not echoed back to it.
    assert again["cal"]["changes"] == [] and again["mail"]["changes"] == []
