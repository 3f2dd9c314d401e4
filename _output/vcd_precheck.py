"""
The report of ``vcd_upgrade.precheck`` and ``vcd_rolling.precheck`` as a person reads it: a table of
the checks (check, cell, result, detail, fix), the failures in red and the warnings in yellow when the
terminal has colours, and the verdict in a line under it. The precheck runners choose it for their
return; ``--out=json`` (or any ``--out``) shows the structure instead.

CLI Example:

.. code-block:: bash

    salt-run vcd_upgrade.precheck cells='cell*' version=10.6.0
"""

import textwrap

import salt.output
import salt.utils.color

__virtualname__ = "vcd_precheck"

COLUMNS = ("check", "cell", "result", "detail", "fix")
# The widths the detail and the fix wrap at: a row stays readable in a 160-column terminal.
WRAP = {"detail": 60, "fix": 50}
COLOURS = {"pass": "GREEN", "warn": "LIGHT_YELLOW", "fail": "LIGHT_RED"}


def __virtual__():
    return __virtualname__


def _is_report(data):
    return isinstance(data, dict) and isinstance(data.get("checks"), list) and "ready" in data


def _cells(check):
    """Each column's lines for one row: the detail and the fix wrapped, the group's row named."""
    cells = {column: [str(check.get(column) or "")] for column in COLUMNS}
    cells["cell"] = [check.get("cell") or "(group)"]
    for column, width in WRAP.items():
        cells[column] = textwrap.wrap(str(check.get(column) or ""), width) or [""]
    return cells


def output(data, **kwargs):  # pylint: disable=unused-argument
    """The table of a precheck's report; anything else as the nested outputter shows it."""
    if not _is_report(data):
        return salt.output.out_format(data, "nested", __opts__)
    colours = salt.utils.color.get_colors(__opts__.get("color"), __opts__.get("color_theme"))
    rows = [_cells(check) for check in data["checks"]]
    widths = {
        column: max([len(column)] + [len(line) for cells in rows for line in cells[column]]) for column in COLUMNS
    }
    lines = ["  ".join(column.upper().ljust(widths[column]) for column in COLUMNS).rstrip()]
    for check, cells in zip(data["checks"], rows, strict=True):
        colour = colours[COLOURS.get(check.get("result"), "ENDC")]
        for index in range(max(len(column_lines) for column_lines in cells.values())):
            parts = []
            for column in COLUMNS:
                text = cells[column][index] if index < len(cells[column]) else ""
                padded = text.ljust(widths[column])
                parts.append(f"{colour}{padded}{colours['ENDC']}" if column == "result" and text else padded)
            lines.append("  ".join(parts).rstrip())
    verdict = colours["GREEN" if data["ready"] else "LIGHT_RED"]
    lines.append(f"{verdict}{data.get('comment') or ('Ready.' if data['ready'] else 'Not ready.')}{colours['ENDC']}")
    return "\n".join(lines)
