"""
Rolling maintenance of a vCloud Director server group: one batch of cells at a time, never below a
number of serving cells, stopping at the first failure.

Called by the ``orch.vcd_rolling`` orchestration (``salt-run state.orchestrate orch.vcd_rolling``), or
directly:

.. code-block:: bash

    salt-run vcd_rolling.rollout cells='[cell1, cell2, cell3]' maintenance_sls=vcd.upgrade

For each batch of cells, in order:

1. budget: enough *other* cells answer their health check right now (asked live, never assumed);
2. ``vcd.drained`` on the batch;
3. ``maintenance_sls`` on the batch (the upgrade itself), if given;
4. ``vcd.active`` on the batch;
5. health gate: each cell of the batch serves again within ``health_timeout``.

The first failure ends the rollout: no further cell is touched and the return names the failed cell and
step. Cells that completed are recorded in the master's cache, so running the same rollout again resumes
after them; a rollout that completes forgets its record.
"""

import hashlib
import json
import logging
import time

import salt.cache
import salt.client
import salt.utils.event
import salt.utils.minions
from salt.exceptions import SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "vcd_rolling"

CACHE_BANK = "vcd_rolling"
EVENT_PREFIX = "vcd/rolling"
HEALTH_CALL_TIMEOUT = 60
TARGET_TYPES = (
    "glob",
    "pcre",
    "list",
    "grain",
    "grain_pcre",
    "pillar",
    "pillar_pcre",
    "nodegroup",
    "compound",
    "ipcidr",
)


def __virtual__():
    return __virtualname__


# -- the plan --------------------------------------------------------------------------------------


def _whole_number(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SaltInvocationError(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return value


def _seconds(name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise SaltInvocationError(f"{name} must be a number of seconds of at least {minimum}, not {value!r}")
    return value


def _resolve_cells(cells, tgt_type):
    """The rollout's cells in order: a list as given, or the minions a target expression matches, sorted."""
    if isinstance(cells, (list, tuple)):
        if not cells or not all(isinstance(cell, str) and cell for cell in cells):
            raise SaltInvocationError("cells must be a non-empty list of minion ids or a target expression")
        if len(set(cells)) != len(cells):
            raise SaltInvocationError(f"cells lists a minion twice: {cells}")
        return list(cells)
    if not isinstance(cells, str) or not cells:
        raise SaltInvocationError("cells must be a non-empty list of minion ids or a target expression")
    if tgt_type not in TARGET_TYPES:
        raise SaltInvocationError(f"tgt_type must be one of {', '.join(TARGET_TYPES)}, not {tgt_type!r}")
    matched = salt.utils.minions.CkMinions(__opts__).check_minions(cells, tgt_type)["minions"]
    if not matched:
        raise SaltInvocationError(f"The target {cells!r} ({tgt_type}) matches no accepted minion")
    return sorted(matched)


def _batches(cells, batch, min_active):
    _whole_number("batch", batch, 1)
    _whole_number("min_active", min_active, 1)
    if batch + min_active > len(cells):
        raise SaltInvocationError(
            f"{len(cells)} cell(s) cannot be taken down {batch} at a time while {min_active} keep serving: "
            "lower batch or min_active, or add cells"
        )
    return [cells[i : i + batch] for i in range(0, len(cells), batch)]


def _rollout_id(cells, maintenance_sls):
    """The same cells and maintenance make the same rollout, so a re-run finds its record."""
    digest = hashlib.sha256(json.dumps([cells, maintenance_sls]).encode()).hexdigest()
    return digest[:12]


# -- talking to the cells --------------------------------------------------------------------------


class _Cells:
    """Runs functions on the cells' minions and reads their answers."""

    def __init__(self, timeout):
        self.client = salt.client.get_local_client(__opts__["conf_file"])
        self.timeout = timeout

    def call(self, cells, fun, arg=(), kwarg=None, timeout=None):
        """``{cell: return}``; a cell that did not answer is missing."""
        return self.client.cmd(cells, fun, arg=list(arg), kwarg=kwarg, tgt_type="list", timeout=timeout or self.timeout)

    def serving(self, cells):
        """The cells among ``cells`` whose health check answers "Service is up." right now."""
        if not cells:
            return []
        answers = self.call(cells, "vcd_cell.health", timeout=HEALTH_CALL_TIMEOUT)
        return [cell for cell in cells if isinstance(answers.get(cell), dict) and answers[cell].get("up")]

    def close(self):
        self.client.destroy()

    def apply(self, cells, sls, pillar):
        """``state.apply sls`` on ``cells`` at once; returns ``{cell: None or why it failed}``."""
        # queue: a state run still going on a cell (one a dead rollout started) is waited for, not refused.
        kwarg = {"queue": True, "pillar": pillar} if pillar else {"queue": True}
        answers = self.call(cells, "state.apply", arg=[sls], kwarg=kwarg)
        return {cell: _state_failure(answers.get(cell)) for cell in cells}


def _state_failure(answer):
    """None when a state run succeeded, else a sentence saying why it did not."""
    if answer is None:
        return "the minion did not answer"
    if not isinstance(answer, dict):
        return "; ".join(answer) if isinstance(answer, list) else str(answer)
    failed = [result for result in answer.values() if not isinstance(result, dict) or not result.get("result")]
    if not failed:
        return None
    return " ".join(str(r.get("comment", "")) if isinstance(r, dict) else str(r) for r in failed) or "a state failed"


# -- progress --------------------------------------------------------------------------------------


def _fire(tag, data):
    event = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False)
    try:
        event.fire_event(data, f"{EVENT_PREFIX}/{tag}")
    finally:
        event.destroy()


class _Record:
    """What a rollout has done, in the master's cache, so that a re-run resumes."""

    def __init__(self, rollout_id):
        self.cache = salt.cache.factory(__opts__)
        self.key = rollout_id
        self.data = self.cache.fetch(CACHE_BANK, rollout_id) or {"done": []}

    def done(self, cell):
        return cell in self.data["done"]

    def mark_done(self, cells):
        self.data["done"] = self.data["done"] + [c for c in cells if c not in self.data["done"]]
        self.cache.store(CACHE_BANK, self.key, self.data)

    def forget(self):
        self.cache.flush(CACHE_BANK, self.key)


# -- the rollout -----------------------------------------------------------------------------------


def _steps(maintenance_sls):
    steps = ["budget", "vcd.drained"]
    if maintenance_sls:
        steps.append(maintenance_sls)
    return steps + ["vcd.active", "health"]


def _run_step(step, batch, context):
    """Carry out one step on a batch; returns ``{cell: None or why it failed}``."""
    cells, everyone = context["cells"], context["all"]
    if step == "budget":
        others = [cell for cell in everyone if cell not in batch]
        serving = cells.serving(others)
        if len(serving) < context["min_active"]:
            why = (
                f"only {len(serving)} of the other {len(others)} cell(s) serve right now "
                f"({', '.join(serving) or 'none'}); {context['min_active']} must keep serving"
            )
            return {cell: why for cell in batch}
        return {cell: None for cell in batch}
    if step == "health":
        limit = context["health_timeout"]
        answers = cells.call(
            batch, "vcd_cell.wait_serving", kwarg={"timeout": limit}, timeout=limit + HEALTH_CALL_TIMEOUT
        )
        return {cell: None if answers.get(cell) is True else f"not serving within {limit}s" for cell in batch}
    return cells.apply(batch, step, context["cell_pillar"])


def _roll_batch(batch, context, report):
    """All steps for one batch; returns the first failure as (cell, step, why), or None."""
    started = time.monotonic()
    for cell in batch:
        _fire(f"{cell}/start", {"rollout": context["id"], "cell": cell})
        report[cell] = {"result": "in progress", "steps": []}
    for step in context["steps"]:
        outcome = _run_step(step, batch, context)
        for cell in batch:
            report[cell]["steps"].append(step)
        failures = {cell: why for cell, why in outcome.items() if why}
        if failures:
            for cell in batch:
                failed = cell in failures
                report[cell].update(
                    result="failed" if failed else f"stopped after {step}",
                    step=step,
                    comment=failures.get(cell, "another cell of its batch failed"),
                )
                _fire(f"{cell}/finish", dict(report[cell], rollout=context["id"], cell=cell))
            cell = next(iter(failures))
            return cell, step, failures[cell]
    duration = round(time.monotonic() - started, 1)
    for cell in batch:
        report[cell].update(result="done", duration=duration)
        _fire(f"{cell}/finish", dict(report[cell], rollout=context["id"], cell=cell))
    return None


def rollout(
    cells,
    tgt_type="glob",
    batch=1,
    min_active=1,
    maintenance_sls=None,
    health_timeout=600,
    pause=0,
    timeout=7200,
    cell_pillar=None,
    rollout_id=None,
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
        An SLS applied to each cell while it is down (the upgrade); none by default.

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

        salt-run vcd_rolling.rollout cells='[cell1, cell2, cell3]' maintenance_sls=vcd.upgrade
        salt-run vcd_rolling.rollout cells='cell*' batch=2 min_active=2
    """
    try:
        ordered = _resolve_cells(cells, tgt_type)
        batches = _batches(ordered, batch, min_active)
        _seconds("health_timeout", health_timeout, 1)
        _seconds("pause", pause)
        _seconds("timeout", timeout, 1)
        if maintenance_sls is not None and (not isinstance(maintenance_sls, str) or not maintenance_sls):
            raise SaltInvocationError(f"maintenance_sls must be the name of an SLS, not {maintenance_sls!r}")
        if cell_pillar is not None and not isinstance(cell_pillar, dict):
            raise SaltInvocationError("cell_pillar must be a dictionary")
        if rollout_id is not None and (not isinstance(rollout_id, str) or not rollout_id):
            raise SaltInvocationError(f"rollout_id must be a non-empty string, not {rollout_id!r}")
    except SaltInvocationError as exc:
        __context__["retcode"] = 1
        return {"result": False, "comment": str(exc), "cells": {}}
    context = {
        "id": rollout_id or _rollout_id(ordered, maintenance_sls),
        "cells": _Cells(timeout),
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
    record = _Record(context["id"])
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
