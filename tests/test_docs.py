"""docs/ must stay true of the tree: the files it names exist, its links resolve, and the
names it quotes from the code are still there."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
# `smsync/store/registry.py`, `examples/maildir_vdir/`, `tests/examples/test_x.py` ...
PATH_RE = re.compile(r"`((?:smsync|examples|tests|benchmarks|twisted|docs)/[\w./-]*?)`")
LINK_RE = re.compile(r"\]\(([\w.-]+\.md)(?:#[\w-]+)?\)")
# `smsync.store.common.normalize_account`, `smsync.auth.make_portal` ...
DOTTED_RE = re.compile(r"`(smsync(?:\.\w+)+)`")
FILE_NAME_RE = re.compile(r"\.(toml|sqlite3|json|py|md)$")  # smsync.toml is a file, not a module


def test_docs_exist():
    names = {p.name for p in DOCS}
    assert {"running.md", "configuration.md", "backends.md", "embedding.md",
            "architecture.md", "performance.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_paths_and_links_exist(doc):
    text = doc.read_text("utf-8")
    missing = [p for p in PATH_RE.findall(text) if "<" not in p and not (ROOT / p).exists()]
    missing += [link for link in LINK_RE.findall(text) if not (doc.parent / link).exists()]
    assert missing == []


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_quoted_names_exist(doc):
    names = {n for n in DOTTED_RE.findall(doc.read_text("utf-8")) if not FILE_NAME_RE.search(n)}
    assert [n for n in sorted(names) if not _resolves(n)] == []


def test_checks_can_fail():
    assert not _resolves("smsync.store.common.no_such_helper")
    assert PATH_RE.findall("see `smsync/nowhere.py`") == ["smsync/nowhere.py"]
