"""
Rolling maintenance of a vCloud Director server group: one batch of cells at a time, never below a
number of serving cells, stopping at the first failure.

Called by the ``orch.vcd_rolling`` orchestration (``salt-run state.orchestrate orch.vcd_rolling``), or
directly:

.. code-block:: bash

    salt-run vcd_rolling.rollout cells='[cell1, cell2, cell3]' maintenance_sls=os_patches

For each batch of cells, in order:

1. budget: enough *other* cells answer their health check right now (asked live, never assumed);
2. ``vcd.drained`` on the batch;
3. ``maintenance_sls`` on the batch (OS patches, hardware: never a vCD upgrade, see ``vcd_upgrade``), if given;
4. ``vcd.active`` on the batch, the health gate: each cell must serve again within ``health_timeout``.

The first failure ends the rollout: no further cell is touched and the return names the failed cell and
step. Cells that completed are recorded in the master's cache, so running the same rollout again resumes
after them; a rollout that completes forgets its record.
"""

import time

from salt.exceptions import SaltInvocationError

# What the orchestrations share, from _utils: Salt's loader puts it on the import path while it loads
# this file (synced from file_roots with saltutil.sync_all); installed, the package's entry point does.
import _vcd_cell_defaults as defaults
import _vcd_orchestration as orchestration

__virtualname__ = "vcd_rolling"

CACHE_BANK = "vcd_rolling"
EVENT_PREFIX = "vcd/rolling"


def __virtual__():
    return __virtualname__


def _batches(cells, batch, min_active):
    orchestration.whole_number("batch", batch, 1)
    orchestration.whole_number("min_active", min_active, 1)
    if batch + min_active > len(cells):
        raise SaltInvocationError(
            f"{len(cells)} cell(s) cannot be taken down {batch} at a time while {min_active} keep serving: "
            "lower batch or min_active, or add cells"
        )
    return [cells[i : i + batch] for i in range(0, len(cells), batch)]


def _fire(tag, data):
    orchestration.fire(__opts__, f"{EVENT_PREFIX}/{tag}", data)


# -- the rollout -----------------------------------------------------------------------------------


def _budget(batch, context):
    """Enough *other* cells answer their health check right now (asked live, never assumed)."""
    others = [cell for cell in context["all"] if cell not in batch]
    serving = context["cells"].serving(others)
    if len(serving) >= context["min_active"]:
        return dict.fromkeys(batch)
    why = (
        f"only {len(serving)} of the other {len(others)} cell(s) serve right now "
        f"({', '.join(serving) or 'none'}); {context['min_active']} must keep serving"
    )
    return dict.fromkeys(batch, why)


def _back_in_service(batch, context):
    """``vcd.active``: its own wait for each cell to serve, within ``health_timeout``, is the health gate."""
    pillar = orchestration.active_pillar(context["cell_pillar"], context["health_timeout"])
    return context["cells"].apply(batch, "vcd.active", pillar)


def _applying(sls):
    def apply(batch, context):
        return context["cells"].apply(batch, sls, context["cell_pillar"])

    return apply


def _steps(maintenance_sls):
    steps = [("budget", _budget), ("vcd.drained", _applying("vcd.drained"))]
    if maintenance_sls:
        steps.append((maintenance_sls, _applying(maintenance_sls)))
    return steps + [("vcd.active", _back_in_service)]


def _roll_batch(batch, context, report):
    """All steps for one batch; returns the first failure as (cell, step, why), or None."""
    started = time.monotonic()
    for cell in batch:
        _fire(f"{cell}/start", {"rollout": context["id"], "cell": cell})
        report[cell] = {"result": "in progress", "steps": []}
    failure = orchestration.run_steps(context["steps"], batch, context, report)
    if failure:
        failed_cell, step, why, outcome = failure
        for cell in batch:
            report[cell].update(
                result="failed" if outcome.get(cell) else f"stopped after {step}",
                step=step,
                comment=outcome.get(cell) or "another cell of its batch failed",
            )
            _fire(f"{cell}/finish", dict(report[cell], rollout=context["id"], cell=cell))
        return failed_cell, step, why
    duration = round(time.monotonic() - started, 1)
    for cell in batch:
        report[cell].update(result="done", duration=duration)
        _fire(f"{cell}/finish", dict(report[cell], rollout=context["id"], cell=cell))
    return None


def rollout(
    cells,
    tgt_type=defaults.ROLLOUT["tgt_type"],
    batch=defaults.ROLLOUT["batch"],
    min_active=defaults.ROLLOUT["min_active"],
    maintenance_sls=defaults.ROLLOUT["maintenance_sls"],
    health_timeout=defaults.ROLLOUT["health_timeout"],
    pause=defaults.ROLLOUT["pause"],
    timeout=defaults.ROLLOUT["timeout"],
    cell_pillar=defaults.ROLLOUT["cell_pillar"],
    rollout_id=defaults.ROLLOUT["rollout_id"],
):
    """
    Take the cells of a server group through maintenance, ``batch`` at a time, keeping at least
    ``min_active`` other cells serving, and stop at the first failure.

    cells
        A list of minion ids (the order of the rollout), or a target expression (cells sorted by id).

    tgt_type
        How to read a target expression: glob, pcre, grain, compound, ...

    batch
        Cells taken down at once.

    min_active
        Other cells that must answer their health check before a batch goes down; at least 1.

    maintenance_sls
        An SLS applied to each cell while it is down: maintenance that leaves the vCD software alone (OS
        patches, hardware). Never a vCD upgrade or patch: the cells share one database, so an upgrade
        takes the whole server group down at once (``vcd_upgrade.upgrade``). None by default.

    health_timeout
        Seconds a cell may take to serve again after ``vcd.active``.

    pause
        Seconds to wait between batches.

    timeout
        Seconds to wait for a state run on the cells before giving up on it.

    cell_pillar
        Pillar passed to every state run on the cells, e.g. ``{"vcd_cell": {"drain": {"timeout": 1800}}}``.

    rollout_id
        Names the rollout's record; by default derived from the cells and ``maintenance_sls``, so
        running the same rollout again resumes it.

    Events: ``vcd/rolling/<cell>/start`` and ``vcd/rolling/<cell>/finish`` on the master's bus.

    CLI Example:

    .. code-block:: bash

        salt-run vcd_rolling.rollout cells='[cell1, cell2, cell3]' maintenance_sls=os_patches
        salt-run vcd_rolling.rollout cells='cell*' batch=2 min_active=2
    """
    try:
        ordered = orchestration.resolve_cells(__opts__, cells, tgt_type)
        batches = _batches(ordered, batch, min_active)
        orchestration.seconds("health_timeout", health_timeout, 1)
        orchestration.seconds("pause", pause)
        orchestration.seconds("timeout", timeout, 1)
        orchestration.optional_text("maintenance_sls", maintenance_sls, "the name of an SLS")
        orchestration.optional_dict("cell_pillar", cell_pillar)
        orchestration.optional_text("rollout_id", rollout_id, "a non-empty string")
    except SaltInvocationError as exc:
        __context__["retcode"] = 1
        return {"result": False, "comment": str(exc), "cells": {}}
    context = {
        "id": rollout_id or orchestration.plan_id(ordered, maintenance_sls),
        "cells": orchestration.Cells(__opts__, timeout),
        "all": ordered,
        "min_active": min_active,
        "health_timeout": health_timeout,
        "cell_pillar": cell_pillar,
        "steps": _steps(maintenance_sls),
    }
    try:
        return _roll(context, batches, pause)
    finally:
        context["cells"].close()


def _roll(context, batches, pause):
    """The rollout proper, batch after batch, resuming after the cells its record lists as done."""
    ordered = context["all"]
    record = orchestration.Record(__opts__, CACHE_BANK, context["id"])
    report = {cell: {"result": "done earlier" if record.done(cell) else "not started"} for cell in ordered}
    for index, group in enumerate(batches):
        todo = [cell for cell in group if not record.done(cell)]
        if not todo:
            continue
        failure = _roll_batch(todo, context, report)
        if failure:
            cell, step, why = failure
            __context__["retcode"] = 1
            untouched = [c for c in ordered if report[c]["result"] == "not started"]
            return {
                "result": False,
                "comment": f"Stopped at {cell}, step {step}: {why}. "
                + (f"Not touched: {', '.join(untouched)}. " if untouched else "")
                + "Fix the cause and run the same rollout again to resume.",
                "rollout_id": context["id"],
                "cells": report,
            }
        record.mark_done(todo)
        if pause and index < len(batches) - 1:
            time.sleep(pause)
    record.forget()
    skipped = [c for c in ordered if report[c]["result"] == "done earlier"]
    return {
        "result": True,
        "comment": f"{len(ordered)} cell(s) rolled through maintenance"
        + (f" ({', '.join(skipped)} done in an earlier run)" if skipped else ""),
        "rollout_id": context["id"],
        "cells": report,
    }
