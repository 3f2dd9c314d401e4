"""
Rolling maintenance of a vCloud Director server group: one batch of cells at a time, never below a
number of serving cells, stopping at the first failure.

Called by the ``orch.vcd_rolling`` orchestration (``salt-run state.orchestrate orch.vcd_rolling``), or
directly:

.. code-block:: bash

    salt-run vcd_rolling.rollout cells='[cell1, cell2, cell3]' maintenance_sls=os_patches

For each batch of cells, in order:

1. budget: enough *other* cells answer their health check right now (asked live, never assumed);
2. ``vcd.drained`` on the batch (with ``vcenter_reconnect``, the vCenter proxies its cells run read
   before, and each such vCenter reconnected through a serving cell once they are stopped);
3. ``maintenance_sls`` on the batch (OS patches, hardware: never a vCD upgrade, see ``vcd_upgrade``), if given;
4. with ``reboot``, the hosts rebooted (``vcd_cell.reboot``), each back once it answers on a new boot
   id (on appliances, its database node healthy);
5. ``vcd.active`` on the batch, the health gate: each cell must serve again within ``health_timeout``.

Once every batch is done, each cell it maintained must serve: one that went down since (a crash) is
started again through ``vcd.active``.

The first failure ends the rollout: no further cell is touched and the return names the failed cell and
step. Cells that completed are recorded in the master's cache, so running the same rollout again resumes
after them; a rollout that completes forgets its record.

On a group of vCD appliances (every cell's ``vcd_cell:appliance_api_url`` set; a mix is refused) the
order is the database cluster's: cell-type appliances first, then the standbys, the primary last; a
database node goes alone in its batch, only while the cluster is HEALTHY (asked live), with failover
Manual (restored once the last is back, or when the rollout fails); before the primary, a switchover to
a healthy standby with every cell quiesced (``switchover``), so it is maintained as a standby.
"""

import time

from salt.exceptions import SaltInvocationError

# What the orchestrations share, from _utils: Salt's loader puts it on the import path while it loads
# this file (synced from file_roots with saltutil.sync_all); installed, the package's entry point does.
import _vcd_cell_defaults as defaults
import _vcd_cell_values as valid
import _vcd_orchestration as orchestration
import _vcd_orchestration_plan as plans
import _vcd_orchestration_skeleton as skeleton
import _vcd_precheck as prechecks
import _vcd_rolling_appliance as appliances
import _vcd_vcenter_proxies as proxies

__virtualname__ = "vcd_rolling"

# Where its runs are recorded in the master's cache (the bank), and the prefix of its events.
ORCHESTRATION = ("vcd_rolling", "vcd/rolling")


def __virtual__():
    return __virtualname__


class LinuxRoute:
    """
    The rollout on Linux cells, as the runner sees a route (the appliances':
    :class:`_vcd_rolling_appliance.ApplianceRoute`): the batches in the plan's order, each batch the
    plan's steps, a rebooted host back on its new boot id alone, no cell left alone, no failover mode.
    """

    name = "linux"

    def order_batches(self, calls, cells, batch, record, batches):  # pylint: disable=unused-argument
        return batches, {}, {}

    def steps_for(self, batch, plan, steps):  # pylint: disable=unused-argument
        return steps

    def node_back(self, plan):  # pylint: disable=unused-argument
        return None

    def left_alone(self, plan, group):  # pylint: disable=unused-argument
        return False

    def restore_failover(self, plan):  # pylint: disable=unused-argument
        return None


# The routes, by the name _vcd_orchestration.route gives the cells' kind: each an object with its steps.
ROUTES = {route.name: route for route in (LinuxRoute(), appliances.ROUTE)}


def _batches(cells, batch, min_active):
    valid.whole_number("batch", batch, 1)
    valid.whole_number("min_active", min_active, 1)
    if batch + min_active > len(cells):
        raise SaltInvocationError(
            f"{len(cells)} cell(s) cannot be taken down {batch} at a time while {min_active} keep serving: "
            "lower batch or min_active, or add cells"
        )
    return [cells[i : i + batch] for i in range(0, len(cells), batch)]


# -- the rollout -----------------------------------------------------------------------------------


def _budget(batch, plan):
    """Enough *other* cells answer their health check right now (asked live, never assumed)."""
    others = [cell for cell in plan.order if cell not in batch]
    serving = plan.cells.serving(others)
    if len(serving) >= plan.min_active:
        return dict.fromkeys(batch)
    why = (
        f"only {len(serving)} of the other {len(others)} cell(s) serve right now "
        f"({', '.join(serving) or 'none'}); {plan.min_active} must keep serving"
    )
    return dict.fromkeys(batch, why)


def _back_in_service(batch, plan):
    """``vcd.active``: its own wait for each cell to serve, within ``health_timeout``, is the health gate."""
    pillar = orchestration.active_pillar(plan.cell_pillar, plan.health_timeout)
    return plan.cells.apply(batch, "vcd.active", pillar)


def _applying(sls):
    def apply(batch, plan):
        return plan.cells.apply(batch, sls, plan.cell_pillar)

    return apply


def _rebooted(batch, plan):
    """The hosts rebooted, each back on a new boot id (an appliance with its database node healthy)."""
    return plan.cells.reboot(batch, plan.timeout, plan.route.node_back(plan))


def _steps(maintenance_sls, reboot, vcenter_reconnect):
    steps = [("budget", _budget)]
    if vcenter_reconnect:
        steps.append(("vcenter proxies", proxies.read))
    steps.append(("vcd.drained", _applying("vcd.drained")))
    if vcenter_reconnect:
        steps.append(("vcenter reconnect", proxies.reconnect))
    if maintenance_sls:
        steps.append((maintenance_sls, _applying(maintenance_sls)))
    if reboot:
        steps.append(("reboot", _rebooted))
    return steps + [("vcd.active", _back_in_service)]


def _roll_batch(batch, plan, report):
    """All steps for one batch; returns the first failure as (cell, step, why), or None."""
    started = time.monotonic()
    for cell in batch:
        plan.fire(f"{cell}/start", {"rollout": plan.id, "cell": cell})
        report[cell] = {"result": "in progress", "steps": []}
    steps = plan.route.steps_for(batch, plan, plan.steps)
    failure = orchestration.run_steps(steps, batch, plan, report, orchestration.announcer(plan, "rollout", "step/"))
    if failure:
        failed_cell, step, why, outcome = failure
        for cell in batch:
            report[cell].update(
                result="failed" if outcome.get(cell) else f"stopped after {step}",
                step=step,
                comment=outcome.get(cell) or "another cell of its batch failed",
            )
            plan.fire(f"{cell}/finish", dict(report[cell], rollout=plan.id, cell=cell))
        return failed_cell, step, why
    duration = round(time.monotonic() - started, 1)
    for cell in batch:
        report[cell].update(result="done", duration=duration)
        plan.fire(f"{cell}/finish", dict(report[cell], rollout=plan.id, cell=cell))
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
    switchover=defaults.ROLLOUT["switchover"],
    reboot=defaults.ROLLOUT["reboot"],
    vcenter_reconnect=defaults.ROLLOUT["vcenter_reconnect"],
    ssh=defaults.ROLLOUT["ssh"],
    clock_tolerance=defaults.ROLLOUT["clock_tolerance"],
    window_end=defaults.ROLLOUT["window_end"],
    precheck=defaults.ROLLOUT["precheck"],
    report_keep=defaults.ROLLOUT["report_keep"],
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

    switchover
        On appliances: before the primary goes down, switch over to a healthy standby (every cell
        quiesced meanwhile) and maintain the old primary as a standby. ``False``: the primary is not
        taken down; it is left for last, untouched, and the return says so.

    reboot
        After ``maintenance_sls``, reboot each cell's host (``vcd_cell.reboot``) and wait until it is back
        (on a new boot id; on appliances its database node healthy), within ``timeout``, before the
        health gate.

    vcenter_reconnect
        Before a batch drains, read which vCenters' VC proxies its cells run; once they are stopped,
        reconnect each such vCenter through a serving cell, which moves its proxy there at once instead
        of after vCD's heartbeat failover (5 minutes by default). A failed reconnect is reported in the
        cell's ``vcenters``; the rollout goes on.

    ssh
        Reach the cells through salt-ssh (the roster's targets) instead of their minions, for cells that
        run no salt-minion. Works with no salt-master running (events are then skipped).

    clock_tolerance
        Seconds a cell's clock (its API's ``Date``) may differ from the master's.

    window_end
        When the window ends (ISO 8601, e.g. ``2026-12-12T06:00:00Z``): each cell's HTTPS certificate
        must outlast it. By default ``timeout`` seconds from now.

    precheck
        Before anything is touched, the run makes :func:`precheck`'s checks. ``report``: a failure of a
        check that makes the window unsafe (``reachable``, ``cell_list``, ``budget``, on appliances
        ``cluster`` and ``failover_mode``) refuses it, the others' warnings and failures are in the
        return's ``precheck``. ``strict``: any failed check refuses it. A run that resumes is not checked
        again.

    report_keep
        Each run leaves a report in the master's cache (``salt-run vcd_report.list``), its path under
        ``report`` in the return; the newest this many are kept, older ones removed when a run begins.

    Events: ``vcd/rolling/run/start`` and ``.../finish`` (with the report's path),
    ``vcd/rolling/precheck/start`` and ``.../finish``, ``vcd/rolling/<cell>/start`` and
    ``vcd/rolling/<cell>/finish``, ``vcd/rolling/step/<step>/start`` and ``.../finish`` (with each cell
    of the batch's result) on the master's bus, and
    ``vcd/rolling/<cell>/vcenters`` naming where its proxies moved; on appliances
    ``vcd/rolling/switchover/start`` and ``vcd/rolling/switchover/finish``.

    CLI Example:

    .. code-block:: bash

        salt-run vcd_rolling.rollout cells='[cell1, cell2, cell3]' maintenance_sls=os_patches
        salt-run vcd_rolling.rollout cells='cell*' batch=2 min_active=2
        salt-run vcd_rolling.rollout cells='[vcd1, vcd2, vcd3, vcd4]' maintenance_sls=os_patches
        salt-run vcd_rolling.rollout cells='cell*' ssh=True
    """

    args = dict(locals())

    def prepare(planned, ordered):
        plan = _plan(args, planned, ordered)
        plan.route = ROUTES[orchestration.route(plan.cells, ordered)]
        plan.batches, plan.roles, plan.nodes = plan.route.order_batches(
            plan.cells, ordered, args["batch"], plan.record, plan.batches
        )
        plan.gate = prechecks.gate(prechecks.options_of("rollout", args))
        return plan

    return skeleton.orchestrate(
        __opts__,
        __context__,
        ORCHESTRATION,
        (cells, tgt_type, timeout, ssh),
        prepare,
        _roll,
        reporting=skeleton.Reporting(report_keep, globals().get("__jid_event__")),
    )


def _plan(args, planned, ordered):
    """The rollout's plan (without its route, its batches in the plan's order) from its arguments, checked."""
    batches = _batches(ordered, args["batch"], args["min_active"])
    valid.seconds("health_timeout", args["health_timeout"])
    valid.seconds("pause", args["pause"], 0)
    valid.seconds("timeout", args["timeout"])
    valid.optional_text("maintenance_sls", args["maintenance_sls"], "the name of an SLS")
    valid.optional_dict("cell_pillar", args["cell_pillar"])
    valid.optional_text("rollout_id", args["rollout_id"], "a non-empty string")
    for name in ("switchover", "reboot", "vcenter_reconnect"):
        valid.flag(name, args[name])
    return planned(
        plans.Rollout,
        args["rollout_id"] or orchestration.plan_id(ordered, args["maintenance_sls"]),
        health_timeout=args["health_timeout"],
        cell_pillar=args["cell_pillar"],
        min_active=args["min_active"],
        steps=_steps(args["maintenance_sls"], args["reboot"], args["vcenter_reconnect"]),
        switchover=args["switchover"],
        pause=args["pause"],
        batches=batches,
    )


def release(run, force=False, cells=None, ssh=None):
    """
    Release by hand the claim a dead run of :func:`rollout` left on its cells, when it is not to be
    finished by running the same rollout again (which takes the claim over by itself). Refused while
    that run is alive, unless ``force=True``. ``run``: its id, as a refusal or ``vcd_cell.window`` names
    it; ``cells``: where to look when the claim is not in this master's cache (made from another master,
    or salt-ssh on another host), with ``ssh`` to reach them through salt-ssh. As
    ``vcd_upgrade.release`` does for an upgrade.

    CLI Example:

    .. code-block:: bash

        salt-run vcd_rolling.release run=w3fa2c81b
    """
    return skeleton.release(__opts__, __context__, ORCHESTRATION[0], run, force=force, cells=cells, ssh=ssh)


def precheck(pillar=None, **kwargs):
    """
    Whether the server group is ready for :func:`rollout` with the same keys, days before the window:
    every check VMware's procedures call for, per cell, pass, warn or fail with the fix, touching
    nothing (no quiesce, no lease, no record, no tool that changes a cell); among them whether
    ``min_active`` can be held with the cells serving now. Not ready (a check failed): ``salt-run``
    exits non-zero. The checks are in the docs' "Before the window"; the rollout makes the same ones
    before it touches anything.

    pillar
        The ``vcd_rolling`` pillar the orchestration reads (``{"vcd_rolling": {"cells": ..., ...}}``); the
        keys given on the command line go over it.

    Every other key is :func:`rollout`'s (``cells``, ``batch``, ``min_active``, ``clock_tolerance``,
    ``ssh``...).

    Returns ``{"ready": bool, "checks": [{"check", "cell", "result", "detail", "fix"}], "comment"}``,
    shown as a table (``--out=json`` for the structure). Events: ``vcd/rolling/precheck/start`` and
    ``vcd/rolling/precheck/finish``.

    CLI Example:

    .. code-block:: bash

        salt-run vcd_rolling.precheck cells='[cell1, cell2, cell3]' min_active=2
        salt-run vcd_rolling.precheck pillar='{"vcd_rolling": {"cells": "vcd*", "batch": 2}}'
        salt-run --out=json vcd_rolling.precheck cells='cell*' ssh=True
    """

    def bound():
        args = prechecks.bind(rollout, "vcd_rolling", pillar, kwargs)
        return args, prechecks.options_of("rollout", args)

    return prechecks.run(
        __opts__, __context__, ORCHESTRATION, bound, lambda args, planned, ordered: _plan(args, planned, ordered)
    )


def _left_alone(plan, group, report):
    """``switchover: false``: the primary is not taken down; its report says so. True when ``group`` is it."""
    if not plan.route.left_alone(plan, group):
        return False
    report[group[0]] = {
        "result": "left untouched",
        "comment": "the primary appliance: with switchover false it is not taken down",
    }
    return True


def _serving_at_the_end(plan, report):
    """
    Every cell the rollout maintained serves when it ends: one that went down since its batch (a crash)
    is started again through ``vcd.active``. Returns the first failure as (cell, "verify", why), or None.
    (Found by the fault matrix: rolling/linux/budget/mid/crash.)
    """
    maintained = [cell for cell in plan.order if report[cell]["result"] in ("done", "done earlier")]
    serving = plan.cells.serving(maintained)
    down = [cell for cell in maintained if cell not in serving]
    if not down:
        return None
    outcome = _back_in_service(down, plan)
    for cell in down:
        report[cell]["restarted"] = outcome[cell] is None
    failed = [cell for cell in down if outcome[cell]]
    if failed:
        why = f"it no longer served at the end of the rollout, and vcd.active failed: {outcome[failed[0]]}"
        return failed[0], "verify", why
    return None


def _roll(plan):
    """The rollout proper, batch after batch, resuming after the cells its record lists as done."""
    ordered, record, batches, pause = plan.order, plan.record, plan.batches, plan.pause
    report = {cell: {"result": "done earlier" if record.done(cell) else "not started"} for cell in ordered}
    plan.report = report
    for index, group in enumerate(batches):
        todo = [cell for cell in group if not record.done(cell)]
        if not todo or _left_alone(plan, todo, report):
            continue
        failure = _roll_batch(todo, plan, report)
        if failure:
            return _failed(plan, report, failure)
        record.mark_done(todo)
        if pause and index < len(batches) - 1:
            time.sleep(pause)
    failure = _serving_at_the_end(plan, report)
    if failure:
        return _failed(plan, report, failure)
    why = plan.route.restore_failover(plan)
    if why:
        return _failed(plan, report, (ordered[-1], "failover", f"the failover mode could not be restored: {why}"))
    record.forget()
    skipped = [c for c in ordered if report[c]["result"] == "done earlier"]
    left = [c for c in ordered if report[c]["result"] == "left untouched"]
    done = len(ordered) - len(left)
    return {
        "result": True,
        "comment": f"{done} cell(s) rolled through maintenance"
        + (f" ({', '.join(skipped)} done in an earlier run)" if skipped else "")
        + (
            f". The primary appliance {', '.join(left)} was left untouched (switchover: false): it holds the "
            "group's database; run with switchover true to maintain it after a switchover"
            if left
            else ""
        ),
        "rollout_id": plan.id,
        "cells": report,
    }


def _failed(plan, report, failure):
    """The return of a failed rollout; on appliances the failover mode restored first."""
    cell, step, why = failure[:3]
    ordered = plan.order
    comment = f"Stopped at {cell}, step {step}: {why}. "
    if step != "failover":
        not_restored = plan.route.restore_failover(plan)
        if not_restored:
            comment += f"The failover mode could not be restored ({not_restored}): set it on the primary. "
        elif plan.record.data.get("failover_before"):
            comment += f"The failover mode is {plan.record.data['failover_before']}, as found. "
    untouched = [c for c in ordered if report[c]["result"] == "not started"]
    return {
        "result": False,
        "comment": comment
        + (f"Not touched: {', '.join(untouched)}. " if untouched else "")
        + "Fix the cause and run the same rollout again to resume.",
        "rollout_id": plan.id,
        "cells": report,
    }
