"""
The machinery of the vcd_cell execution module, states and runners: private files, one concern each,
that they import by name (``import _vcd_cell_lease``).

Salt's loader puts its ``utils`` directories on the import path while it loads any module, state or
runner: this directory synced from file_roots (``saltutil.sync_all``) into the minion's or master's
extension modules, or shipped by salt-ssh. Installed as ``saltext.vcd_cell.utils``, the package's
``salt.loader`` entry point puts it there (see ``saltext/vcd_cell/loader.py``). Their names start with
"_", so the loader never loads them as ``__utils__`` modules; they take what they need of Salt
(``__salt__``, ``__opts__``) from their callers. This file makes the directory a sub-package of
saltext.vcd_cell when installed.
"""
