"""
The vcd_cell Salt extension, as an installed package: ``saltext.vcd_cell`` in the ``saltext`` namespace
that Salt extensions share.

``pip install .`` installs ``_modules/``, ``_states/`` and ``_runners/`` of this repository as the
sub-packages ``saltext.vcd_cell.modules``, ``.states`` and ``.runners``, and registers
:func:`saltext.vcd_cell.loader.get_extension_dirs` under the ``salt.loader`` entry point group, so
Salt finds the modules without a file_roots sync. The repository's directories stay the one copy of
the code, served by file_roots as well.
"""
