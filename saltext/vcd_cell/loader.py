"""Where Salt's loader finds this extension's modules (the ``salt.loader`` entry point)."""

import importlib.util
import os

# utils: the private machinery, on the import path while Salt loads the others (_utils/__init__.py).
KINDS = ("modules", "states", "runners", "utils")


def _package_dir(kind):
    spec = importlib.util.find_spec(f"saltext.vcd_cell.{kind}")
    return os.path.dirname(spec.origin)


def get_extension_dirs():
    """The directories holding each kind of loader module, keyed as Salt's loader expects."""
    return {kind: [_package_dir(kind)] for kind in KINDS}
