"""
A server group's readiness for its window, as a state an orchestration runs on the master: the report
of ``vcd_upgrade.precheck`` or ``vcd_rolling.precheck``, touching nothing, in test mode or not. The
SLS files ``orch.vcd_upgrade`` and ``orch.vcd_rolling`` run it in place of their orchestration when
applied with ``test=True``, so that a dry run of the window shows what the window would meet.

.. code-block:: bash

    salt-run state.orchestrate orch.vcd_upgrade pillar='{"vcd_upgrade": {...}}' test=True
"""

import salt.loader

__virtualname__ = "vcd_precheck"

# The runner functions this state runs, by the orchestration they check.
PRECHECKS = ("vcd_upgrade.precheck", "vcd_rolling.precheck")


def __virtual__():
    return __virtualname__


def _report_of(returned):
    """The report in a runner's return, which names its outputter (``{"outputter", "data"}``) or not."""
    if isinstance(returned, dict) and "outputter" in returned and "data" in returned:
        return returned["data"]
    return returned


def _table(report):
    """
    The report as the precheck's outputter shows it, without colours (a state's comment is text). The
    outputter itself, not salt.output's choice: that would take ``--out`` (``json``) over it. Where the
    outputter is not synced to the master, the report's verdict line.
    """
    outputter = salt.loader.outputters(dict(__opts__, color=False)).get("vcd_precheck")
    return outputter(report).rstrip() if outputter else report.get("comment", "")


def ready(name, precheck, **keys):
    """
    The server group is ready for its window: the runner ``precheck`` (``vcd_upgrade.precheck`` or
    ``vcd_rolling.precheck``) run with the orchestration's ``keys`` finds no check failing. Touches
    nothing. The result is True when ready (None in test mode: the window would run), False when a check
    fails; the comment is the report's table, the changes are empty; the report itself is in the state's
    ``report`` (``--out=json``).

    name
        The state's id; not read.

    precheck
        ``vcd_upgrade.precheck`` or ``vcd_rolling.precheck``.

    keys
        The orchestration's keys (``cells``, ``version``, ...), as its SLS passes them to it.

    CLI Example:

    .. code-block:: yaml

        window ready:
          vcd_precheck.ready:
            - precheck: vcd_upgrade.precheck
            - cells: [cell1, cell2, cell3]
            - version: 10.6.0
            - backup_completed: true
    """
    ret = {"name": name, "changes": {}, "result": False, "comment": ""}
    if precheck not in PRECHECKS:
        ret["comment"] = f"precheck must be one of {', '.join(PRECHECKS)}, not {precheck!r}. Nothing was touched."
        return ret
    keys = {key: value for key, value in keys.items() if not key.startswith("__")}
    report = _report_of(__salt__["saltutil.runner"](precheck, **keys))
    if not (isinstance(report, dict) and "ready" in report):
        ret["comment"] = f"{precheck} returned no report: {report!r}"
        return ret
    ret["report"] = report
    ret["comment"] = _table(report) if report.get("checks") else report.get("comment", "")
    if report["ready"]:
        ret["result"] = None if __opts__["test"] else True
    return ret
