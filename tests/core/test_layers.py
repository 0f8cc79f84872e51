"""core and sync never import Textual or the TUI (DESIGN.md section 2)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import importlib, json, pkgutil, sys
import tablespace.core, tablespace.sync

imported = []
for package in (tablespace.core, tablespace.sync):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
leaked = sorted(m for m in sys.modules
                if m == "textual" or m.startswith("textual.") or m == "tablespace.tui" or m.startswith("tablespace.tui."))
print(json.dumps({"imported": imported, "leaked": leaked}))
"""


def test_core_and_sync_import_neither_textual_nor_the_tui():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "tablespace.core.fold" in report["imported"]  # the walk really covered the packages
    assert "tablespace.core.store" in report["imported"]
    assert report["leaked"] == [], f"imported via core/sync: {report['leaked']}"


def test_the_probe_would_notice_a_leak():
    """The check itself can fail: importing the TUI does show up."""
    probe = PROBE.replace("import tablespace.core, tablespace.sync", "import tablespace.core, tablespace.sync, textual")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "textual" in json.loads(done.stdout.strip().splitlines()[-1])["leaked"]
