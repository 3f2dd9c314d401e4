"""Where Salt's loader finds this extension's modules (the ``salt.loader`` entry point)."""

import importlib.util
import os
import sys

# The loader modules by kind, as Salt names them (the outputters are "output").
KINDS = ("modules", "states", "runners", "output", "beacons")


def _package_dir(kind):
    """The installed sub-package's directory, or None where the install predates that kind."""
    spec = importlib.util.find_spec(f"saltext.vcd_cell.{kind}")
    return os.path.dirname(spec.origin) if spec is not None and spec.origin else None


def get_extension_dirs():
    """
    The directories holding each kind of loader module, keyed as Salt's loader expects.

    The modules, states and runners import their machinery by name from ``utils`` (see
    ``_utils/__init__.py``). Salt puts the utils directories of a file_roots sync on the import path
    while it loads them, but not an extension's: so the installed package's ``utils`` directory goes
    on the import path here, when Salt asks where the extension is, before it loads any of them.
    """
    utils = _package_dir("utils")
    if utils is not None and utils not in sys.path:
        sys.path.append(utils)
    found = {kind: _package_dir(kind) for kind in KINDS}
    return {kind: [where] for kind, where in found.items() if where}
