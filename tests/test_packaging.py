"""Every install form ships the twistd plugins (issue 11, item 1).

A wheel built from the checkout is installed into a fresh virtualenv, and so is a plain
``pip install -e .`` (no ``editable_mode=compat``); in both, ``twistd --help`` must list
the smsync plugins and ``twistd -n smsync-imap --help`` must answer. Each takes a fresh
venv and an install from the local package index: some seconds each.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent



def run(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(path)
    return path / "bin"


def assert_plugins_work(bin_dir: Path, tmp_path: Path) -> None:
    listing = run(bin_dir / "twistd", "--help", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    for name in ("smsync ", "smsync-imap", "smsync-pop3", "smsync-caldav"):
        assert name in listing.stdout, listing.stdout
    imap = run(bin_dir / "twistd", "-n", "smsync-imap", "--help", cwd=tmp_path)
    assert imap.returncode == 0, imap.stderr
    assert "--store" in imap.stdout and "--listen" in imap.stdout


def checkout_copy(tmp_path: Path) -> Path:
    """The checkout without build products: setuptools reuses a ``build/`` directory,
    so a wheel built in place can hold files the configuration no longer ships."""
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        "build", "dist", "*.egg-info", ".venv", ".git", "__pycache__", ".hypothesis"))
    return src


def test_wheel_ships_the_plugins(tmp_path):
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist",
                checkout_copy(tmp_path), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("smsync-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "twisted/plugins/smsync_services.py" in names
    # Twisted's plugin caches are made where the plugins are installed; one shipped in
    # the wheel would be stale (or name plugins of the build machine).
    assert not [n for n in names if n.endswith("dropin.cache")]
    assert "twisted/plugins/__init__.py" not in names, "must not shadow Twisted's own"

    bin_dir = fresh_venv(tmp_path / "venv")
    installed = run(bin_dir / "pip", "install", "-q", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    # Whoever installed it runs ``smsync init``, which brings the plugin caches up to date
    # (a service user could not write them later).
    (cache,) = (tmp_path / "venv").glob("lib/python*/site-packages/twisted/plugins")
    cache = cache / "dropin.cache"
    assert not cache.exists()
    init = run(bin_dir / "smsync", "init", "--data", tmp_path / "data", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert cache.exists() and b"smsync_services" in cache.read_bytes()
    assert_plugins_work(bin_dir, tmp_path)
    # The installed package is the wheel's, not this checkout.
    where = run(bin_dir / "python", "-c", "import smsync; print(smsync.__file__)", cwd=tmp_path)
    assert str(tmp_path / "venv") in where.stdout, where.stdout


def test_plain_editable_install_ships_the_plugins(tmp_path):
    bin_dir = fresh_venv(tmp_path / "venv")
    installed = run(bin_dir / "pip", "install", "-q", "-e", checkout_copy(tmp_path), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    assert_plugins_work(bin_dir, tmp_path)
