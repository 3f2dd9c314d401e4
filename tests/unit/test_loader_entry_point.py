"""Where Salt's loader finds the installed extension (`saltext/vcd_cell/loader.py`, the salt.loader entry point)."""

import importlib.util
import sys

from saltext.vcd_cell import loader


def test_every_kind_installed_is_named_with_its_directory():
    dirs = loader.get_extension_dirs()
    assert set(dirs) == set(loader.KINDS)
    assert all(len(found) == 1 and found[0].endswith(("_" + kind, kind)) for kind, found in dirs.items()), dirs


def test_a_kind_an_older_install_or_a_thin_lacks_is_left_out_and_nothing_empty_goes_on_the_path(monkeypatch):
    # salt-ssh's thin carries the package without its sub-packages; an install made before a kind was
    # added lacks that one. Salt's loader must then get the rest, and the import path no None.
    real = importlib.util.find_spec
    missing = ("saltext.vcd_cell.beacons", "saltext.vcd_cell.utils")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name in missing else real(name))
    monkeypatch.setattr(sys, "path", list(sys.path))
    dirs = loader.get_extension_dirs()
    assert "beacons" not in dirs and "modules" in dirs
    assert None not in sys.path
