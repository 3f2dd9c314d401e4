"""
The reports the orchestrations leave, one a run (``vcd_rolling.rollout``, ``vcd_upgrade.upgrade``, failed
and stopped runs included): each a self-contained HTML page in the master's cache
(``<cachedir>/vcd_reports/<id>.html``) with the key figures and the group's timeline as a picture, which
a browser opens as it is. The newest ``report_keep`` (an orchestration key, 50 by default) are kept.

CLI Example:

.. code-block:: bash

    salt-run vcd_report.list
    salt-run vcd_report.show vcd_upgrade-full-20261207T055300Z
"""

import os

from salt.exceptions import SaltInvocationError

try:
    import _vcd_orchestration_journal as journals
    import _vcd_report as reports
except ImportError as exc:  # pragma: no cover - __virtual__ says what is missing
    MISSING = exc.name
else:
    MISSING = None

__virtualname__ = "vcd_report"


def __virtual__():
    if MISSING:
        return (False, f"vcd_report cannot import {MISSING}: sync the utils too (salt-run saltutil.sync_all)")
    return __virtualname__


def _model(report_id):
    try:
        path = journals.report_path(__opts__, report_id)
        entries = journals.entries(__opts__, report_id)
    except ValueError as exc:
        raise SaltInvocationError(str(exc)) from None
    except FileNotFoundError:
        raise SaltInvocationError(f"no report {report_id} (salt-run vcd_report.list lists them)") from None
    return path, reports.timeline(entries)


def list_():
    """
    The reports kept, the newest first: each one's ``id``, ``orchestration``, the plan's ``plan_id``,
    ``cells``, ``started`` (UTC), ``result`` (done, failed, or not finished: still running or its
    runner stopped) and ``path``.

    CLI Example:

    .. code-block:: bash

        salt-run vcd_report.list
    """
    found = []
    for report_id in journals.ids(__opts__):
        try:
            path, model = _model(report_id)
        except SaltInvocationError:
            continue  # removed while listed (pruned by a run that began)
        header = model["header"]
        found.append(
            {
                "id": report_id,
                "orchestration": header.get("orchestration"),
                "plan_id": header.get("id"),
                "cells": header.get("cells"),
                "started": reports.day(model["start"]),
                "result": {True: "done", False: "failed", None: "not finished"}[model["result"]],
                "path": path,
            }
        )
    return found


def show(report_id):
    """
    One report: its ``path`` (open it in a browser: the timeline is a picture) and its ``summary`` in
    text: the key figures (result, window, outage, jobs waited for and cancelled, who ran it, the plan),
    each cell's steps, and every failure with its reason.

    report_id
        The report's id, as ``vcd_report.list`` or the run's return (its ``report``, the file's name)
        gives it.

    CLI Example:

    .. code-block:: bash

        salt-run vcd_report.show vcd_upgrade-full-20261207T055300Z
    """
    report_id = os.path.basename(str(report_id)).removesuffix(journals.REPORT)
    path, model = _model(report_id)
    return {"id": report_id, "path": path, "summary": reports.summary(model)}


# "list" is a Python builtin: the function is list_, Salt calls it vcd_report.list.
__func_alias__ = {"list_": "list"}
