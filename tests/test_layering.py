"""The layering of DESIGN.md, enforced by reading every module's imports (no importing).

* A protocol (``smsync/protocols/<name>/``) imports only the core it is allowed --
  interfaces, model, errors, formats, sync, auth, _async, notify, clientlog and the front
  door ``edge`` -- plus the stdlib,
  Twisted and third-party libraries; never a store and never another protocol (except
  the shared WebDAV core ``dav`` that ``caldav`` and ``carddav`` are built on); and the
  shared scheduling core ``smsync.scheduling`` (iTIP/iMIP) that CalDAV, EAS and EWS call.
* ``smsync.scheduling`` imports only the contract and the formats (interfaces, model,
  errors, formats): never a protocol, a store, the sync engine or the edge.
* ``smsync.edge`` (the front door) imports only the core: never a protocol, a concrete
  store, the server assembly (``smsync.tap``) or the CLI.
* ``smsync.store`` never imports ``smsync.protocols``.
* ``smsync.formats`` imports no store, protocol, sync or scheduling code.
* ``smsync.sync`` works on any backend: no protocol, no concrete store.
* The example backend uses only public smsync modules, like any third party.

Imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "smsync"

#: Core modules a protocol may import (and anything below them).
PROTOCOL_MAY_IMPORT = (
    "smsync.interfaces",
    "smsync.model",
    "smsync.errors",
    "smsync.formats",
    "smsync.sync",
    "smsync.auth",
    "smsync._async",
    "smsync.notify",
    "smsync.clientlog",
    "smsync.edge",
    "smsync.scheduling",
)

#: All the scheduling core may import of smsync: it is shared by protocols, so it stands
#: below them, on the contract and the formats alone.
SCHEDULING_MAY_IMPORT = ("smsync.interfaces", "smsync.model", "smsync.errors", "smsync.formats",
                         "smsync.scheduling")

#: What the front door may not import: protocols, concrete stores, and what assembles
#: or drives servers (they import the edge, not the other way round).
EDGE_MAY_NOT_IMPORT = ("smsync.protocols", "smsync.store", "smsync.tap", "smsync.cli",
                       "smsync.testing", "smsync.plugins")

#: Protocols built on another one's shared core, as DESIGN.md describes for WebDAV.
PROTOCOL_MAY_BUILD_ON = {"caldav": {"dav"}, "carddav": {"dav"}}


def module_name(path: Path, base: Path = ROOT) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports, relative imports resolved.

    ``from a import b`` yields both ``a`` and ``a.b``: ``b`` may be a submodule, and
    checking both errs on the side of catching ``from smsync.store import sqlite``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def modules_under(directory: Path, base: Path = ROOT):
    """(module name, imports) of every .py file under ``directory``."""
    for path in sorted(directory.rglob("*.py")):
        name = module_name(path, base)
        yield name, imported_modules(path.read_text("utf-8"), name, path.name == "__init__.py")


def protocol_violations(module: str, imports: set[str]) -> list[str]:
    """What a protocol module ``smsync.protocols.<name>...`` imports that it must not."""
    own = module.split(".")[2] if module.count(".") >= 2 else None
    allowed_protocols = {own} | PROTOCOL_MAY_BUILD_ON.get(own, set())
    bad = []
    for name in sorted(imports):
        if not within(name, "smsync") or name in ("smsync", "smsync.protocols"):
            continue
        if within(name, "smsync.protocols"):
            if name.split(".")[2] not in allowed_protocols:
                bad.append(f"{module} imports another protocol: {name}")
        elif not any(within(name, core) for core in PROTOCOL_MAY_IMPORT):
            bad.append(f"{module} imports {name}, outside what protocols may use")
    return bad


def scheduling_violations(module: str, imports: set[str]) -> list[str]:
    """What a scheduling module ``smsync.scheduling...`` imports that it must not."""
    return [f"{module} imports {name} (scheduling stands on the contract and formats only)"
            for name in sorted(imports)
            if within(name, "smsync") and name != "smsync"
            and not any(within(name, ok) for ok in SCHEDULING_MAY_IMPORT)]


def edge_violations(module: str, imports: set[str]) -> list[str]:
    """What a front-door module ``smsync.edge...`` imports that it must not."""
    return [f"{module} imports {name} (the edge stands on the core only)"
            for name in sorted(imports)
            if any(within(name, prefix) for prefix in EDGE_MAY_NOT_IMPORT)]


def forbidden(imports_by_module, prefixes, why: str) -> list[str]:
    return [
        f"{module} imports {name} ({why})"
        for module, imports in imports_by_module
        for name in sorted(imports)
        if any(within(name, prefix) for prefix in prefixes)
    ]


# ---------------------------------------------------------------------------------------


def test_protocols_import_only_the_core():
    bad = []
    for module, imports in modules_under(PACKAGE / "protocols"):
        bad += protocol_violations(module, imports)
    assert bad == []


def test_scheduling_imports_only_the_contract_and_formats():
    bad = []
    for module, imports in modules_under(PACKAGE / "scheduling"):
        bad += scheduling_violations(module, imports)
    assert bad == []


def test_edge_imports_only_the_core():
    bad = []
    for module, imports in modules_under(PACKAGE / "edge"):
        bad += edge_violations(module, imports)
    assert bad == []


def test_store_never_imports_protocols():
    found = forbidden(modules_under(PACKAGE / "store"), ["smsync.protocols"], "stores know none")
    assert found == []


def test_formats_import_no_store_protocol_or_sync():
    prefixes = ["smsync.store", "smsync.protocols", "smsync.sync", "smsync.scheduling"]
    assert forbidden(modules_under(PACKAGE / "formats"), prefixes, "formats are pure") == []


def test_sync_imports_no_protocol_or_concrete_store():
    bad = []
    for module, imports in modules_under(PACKAGE / "sync"):
        for name in sorted(imports):
            concrete_store = within(name, "smsync.store") and not any(
                within(name, ok) for ok in ("smsync.store.common", "smsync.store.registry")
            ) and name != "smsync.store"
            if within(name, "smsync.protocols") or concrete_store:
                bad.append(f"{module} imports {name} (sync works over the interfaces)")
    assert bad == []


def test_example_backend_uses_only_public_smsync():
    example = ROOT / "examples" / "maildir_vdir"
    prefixes = ["smsync.store.memory", "smsync.store.sqlite", "smsync.protocols", "smsync.testing"]
    found = forbidden(modules_under(example, example), prefixes, "third parties use the public API")
    assert found == []


def test_example_protocol_imports_what_protocols_may():
    # The example is the one new protocols copy: it must keep the rule they will keep.
    path = ROOT / "examples" / "mailcount_protocol" / "mailcount.py"
    module = "smsync.protocols.mailcount.mailcount"
    assert protocol_violations(module, imported_modules(path.read_text("utf-8"), module, False)) == []


# The checks above pass vacuously on an empty tree; these make sure they can fail.


def test_the_layers_checked_exist():
    for layer in ("store", "formats", "edge", "scheduling"):
        assert any(True for _ in modules_under(PACKAGE / layer)), layer
    assert any(True for _ in modules_under(ROOT / "examples" / "maildir_vdir"))


@pytest.mark.parametrize(
    "module, source, violates",
    [
        ("smsync.protocols.imap.server", "from smsync.store.sqlite import backend", True),
        ("smsync.protocols.imap.server", "import smsync.store.memory", True),
        ("smsync.protocols.imap.server", "from smsync.store import memory", True),
        ("smsync.protocols.imap.server", "from smsync.protocols.pop3 import x", True),
        ("smsync.protocols.imap.server", "from ..pop3 import server", True),
        ("smsync.protocols.imap.server", "from .. import eas", True),
        ("smsync.protocols.imap.server", "def f():\n    from smsync.config import load", True),
        ("smsync.protocols.imap.server", "from . import parser\nfrom ..imap import encode", False),
        ("smsync.protocols.imap.server", "import twisted.internet, attrs, email", False),
        ("smsync.protocols.imap.server", "from smsync.formats.message import parse_message", False),
        ("smsync.protocols.imap.server", "from smsync import errors, model, _async", False),
        ("smsync.protocols.caldav.report", "from smsync.protocols.dav import core", False),
        ("smsync.protocols.caldav.report", "from ..dav.core import Resource", False),
        ("smsync.protocols.dav.core", "from smsync.protocols.caldav import x", True),
        ("smsync.protocols.imap.server", "from smsync.edge import logins", False),
        ("smsync.protocols.pop3.server", "from smsync.edge.devices import Client", False),
        ("smsync.protocols.pop3.server", "def f():\n    from ...edge import sasl", False),
        ("smsync.protocols.eas.commands.meeting", "from smsync.scheduling import itip", False),
        ("smsync.protocols.eas.commands.meeting", "from ....scheduling.imip import reply_message", False),
        ("smsync.protocols.eas.commands.meeting", "import smsync.schedulingx", True),
    ],
)
def test_protocol_rule_catches_violations(module, source, violates):
    imports = imported_modules(source, module, is_package=False)
    assert bool(protocol_violations(module, imports)) == violates, imports


@pytest.mark.parametrize(
    "module, source, violates",
    [
        ("smsync.scheduling.itip", "from smsync.formats.contentlines import parse_components", False),
        ("smsync.scheduling.calendar", "from smsync.model import CollectionKind\nfrom . import itip", False),
        ("smsync.scheduling.imip", "from smsync.errors import NotFound\nimport email, attrs", False),
        ("smsync.scheduling.imip", "from smsync.interfaces import IMailbox", False),
        ("smsync.scheduling.itip", "from smsync.protocols.eas import calendar", True),
        ("smsync.scheduling.itip", "from ..protocols.caldav import x", True),
        ("smsync.scheduling.calendar", "def f():\n    from smsync.store.memory import store", True),
        ("smsync.scheduling.calendar", "from smsync.sync import SyncAdapter", True),
        ("smsync.scheduling.imip", "from smsync.edge.outbound import Submitter", True),
        ("smsync.scheduling.imip", "from smsync import _async", True),
        ("smsync.scheduling.imip", "from smsync import config", True),
    ],
)
def test_scheduling_rule_catches_violations(module, source, violates):
    imports = imported_modules(source, module, is_package=False)
    assert bool(scheduling_violations(module, imports)) == violates, imports


@pytest.mark.parametrize(
    "module, source, violates",
    [
        ("smsync.edge.logins", "from smsync.protocols.imap import server", True),
        ("smsync.edge.devices", "def f():\n    from ..protocols.dav import server", True),
        ("smsync.edge.outbound.queue", "from smsync.store.sqlite import backend", True),
        ("smsync.edge.outbound", "import smsync.store.memory", True),
        ("smsync.edge.services", "from smsync.tap import service", True),
        ("smsync.edge.policy", "from smsync.cli.common import say", True),
        ("smsync.edge.logins", "from smsync.interfaces import IAccountAvatar", False),
        ("smsync.edge.services", "from smsync.config import Config", False),
        ("smsync.edge.outbound", "from .queue import Relayer\nfrom .. import tls", False),
    ],
)
def test_edge_rule_catches_violations(module, source, violates):
    imports = imported_modules(source, module, is_package=module.count(".") == 2
                               and module.endswith("outbound"))
    assert bool(edge_violations(module, imports)) == violates, imports


def test_forbidden_sees_relative_and_lazy_imports():
    module = "smsync.store.sqlite.mail"
    source = "def f():\n    from ...protocols.imap import server\n"
    imports = imported_modules(source, module, is_package=False)
    assert forbidden([(module, imports)], ["smsync.protocols"], "test")
    fine = imported_modules("from .. import common", module, is_package=False)
    assert not forbidden([(module, fine)], ["smsync.protocols"], "test")
