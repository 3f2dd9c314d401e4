"""
Upgrade a vCloud Director server group: every cell drained and stopped, the software installed on
each, the shared database upgraded once, then the cells started again, all at once.

A vCD upgrade cannot roll cell by cell: the cells share one database, whose upgrade needs every cell
stopped, and a cell whose software and database differ cannot start. Called by the ``orch.vcd_upgrade``
orchestration (``salt-run state.orchestrate orch.vcd_upgrade``), or directly:

.. code-block:: bash

    salt-run vcd_upgrade.upgrade cells='[cell1, cell2, cell3]' version=10.6.0 backup_completed=True

The steps, in order, each on every cell:

1. ``preflight``, touching nothing: every cell answers; vCD's own list of the server group's cells holds
   exactly the planned cells (a cell outside the plan would have its work corrupted by the database
   upgrade); the current versions are recorded.
2. ``quiesce``: every running cell's scheduler stopped (under a quiesce lease), so no new job starts
   anywhere while the cells drain.
3. ``drain``: ``vcd.drained`` on every cell at once, with each cell's own policies and the maintenance
   message on.
4. ``install``: ``vcd_cell.installed`` (or ``install_sls``) on every cell at once; each must then report
   ``version``. The first install is the point of no return.
5. ``database``: checked live that every cell is stopped, then the database upgrade, once, on
   ``db_cell``.
6. ``start``: ``vcd.active`` on every cell at once: each starts, serves within ``health_timeout`` and
   has its scheduler read active. VMware orders nothing among the starts once the database is
   upgraded; starting them together ends the outage soonest.
7. ``verify``: every cell serves on ``version`` with no quiesce lease left (and, on vCD 10.5.1, its
   state ACTIVE).

Each step done is recorded in the master's cache: running the same upgrade again resumes at the first
step not done, and every step re-checks the live state (a stopped cell is not drained again, a cell on
``version`` is not installed again, the database upgrade never runs twice). A failure before the point
of no return puts every cell back into service (``on_failure: restore``); after it, nothing is
restarted and the return says what state each cell is in and what to do.
"""

# What the orchestrations share, from _utils: Salt's loader puts it on the import path while it loads
# this file (synced from file_roots with saltutil.sync_all); installed, the package's entry point does.
from salt.exceptions import SaltInvocationError

import _vcd_cell_defaults as defaults
import _vcd_cell_values as valid
import _vcd_orchestration as orchestration
import _vcd_orchestration_plan as plans
import _vcd_orchestration_skeleton as skeleton
import _vcd_precheck as prechecks
import _vcd_upgrade_appliance as appliance_route
import _vcd_upgrade_steps as steps

__virtualname__ = "vcd_upgrade"

# Where its runs are recorded in the master's cache (the bank), and the prefix of its events.
ORCHESTRATION = ("vcd_upgrade", "vcd/upgrade")
ON_FAILURE = ("restore", "stop")
BACKUPS = ("confirmed", "appliance")
# The routes, by the name _vcd_orchestration.route gives the cells' kind: each an object with its steps.
ROUTES = {route.name: route for route in (steps.ROUTE, appliance_route.ROUTE)}


def __virtual__():
    return __virtualname__


# -- the run ---------------------------------------------------------------------------------------


def _route(plan):
    """
    The route the cells take (:data:`ROUTES`, named by :func:`_vcd_orchestration.route`); an appliance
    backup asked of Linux cells is a SaltInvocationError too.
    """
    route = ROUTES[orchestration.route(plan.cells, plan.order)]
    if plan.backup not in route.backups:
        raise SaltInvocationError("backup: appliance needs vCD appliances (create-backup.sh); these are Linux cells")
    return route


def _start_over(record):
    """
    The next run starts over: the record forgotten, but for a failover mode this upgrade set Manual and
    could not set back, kept so that the next run sets it back when it ends.
    """
    if record.data.get("failover_changed"):
        record.data = {"done": [], "failover_before": record.data["failover_before"], "failover_changed": True}
        record.save()
    else:
        record.forget()


def _restore(cells, plan, report):
    """
    Before the point of no return: every cell back into service (its software is unchanged), and on
    appliances the failover mode back to what it was. What the return says of it; the record is kept
    only for a failover mode not set back, so that the next run, which starts over, sets it back.
    """
    announce = orchestration.announcer(plan, "upgrade")
    announce("restore", cells, None)
    outcome = steps.start(cells, plan)
    announce("restore", cells, outcome)
    for cell in cells:
        report[cell]["restored"] = outcome[cell] is None
        if outcome[cell]:
            report[cell]["restore_failed"] = outcome[cell]
    not_restored = [cell for cell in cells if outcome[cell]]
    failover = plan.route.restore_failover(plan)
    record = plan.record
    _start_over(record)
    said = []
    if not_restored:
        failed_on = ", ".join(not_restored)
        said.append(f" Putting the cells back into service failed on {failed_on}: apply vcd.active there.")
    if failover:
        said.append(
            f" Setting the failover mode back failed ({failover}): set it with vcd_cell.failover_mode "
            f"{record.data['failover_before'].lower()} on the primary, or run the same upgrade again, which sets "
            "it back when it ends."
        )
    if said:
        return "".join(said)
    return (
        " Before the point of no return: every cell was put back into service, its software unchanged"
        + plan.route.also_restored
        + "."
        + " Fix the cause and run the same upgrade again: it starts over."
    )


def _past_no_return(plan, step):
    """What the person who goes on after a failure past the point of no return is told."""
    if step == "verify":
        comment = (
            " Past the point of no return (the first install): the cells were started, each one's state is "
            "above. Fix the cause and run the same upgrade again: it resumes at verify, starting again a cell "
            "that went down."
        )
    else:
        comment = (
            " Past the point of no return (the first install): nothing was restarted, the cells stay stopped "
            f"with their maintenance message. Fix the cause and run the same upgrade again: it resumes at {step}."
        )
    if plan.route.failover_left_manual(plan):
        comment += (
            " The failover mode stays MANUAL until the upgrade completes (or set it back with "
            "vcd_cell.failover_mode automatic on the primary once every appliance is back)."
        )
    return comment


def _failed(plan, report, failure, done):
    """The return of a failed run; before the point of no return, service restored as asked."""
    cell, step, why, outcome = failure
    cells, record = plan.order, plan.record
    for name in cells:
        report[name].update(
            result="failed" if outcome.get(name) else "stopped", step=step, comment=outcome.get(name) or ""
        )
    comment = f"Stopped at {cell}, step {step}: {why}."
    if step == "preflight":
        comment += " Nothing was touched. Fix the cause and run the same upgrade again."
        _start_over(record)
    elif step in steps.BEFORE_NO_RETURN and plan.on_failure == "restore":
        comment += _restore(cells, plan, report)
    elif step in steps.BEFORE_NO_RETURN:
        comment += " Nothing was restarted (on_failure: stop): apply vcd.active to the cells, or run again."
    else:
        plan.route.where_cells_are(cells, plan, report)
        comment += _past_no_return(plan, step)
    return {
        "result": False,
        "comment": comment,
        "upgrade_id": plan.id,
        "version": plan.version,
        "steps_done": done,
        "cells": report,
    }


def _check_arguments(ordered, args, backup_required=True):
    """
    The upgrade's arguments (``args``: :func:`upgrade`'s, by name) against the resolved cells; the backup
    confirmed unless ``backup_required`` is false (a precheck reports it instead).
    """
    version, backup = args["version"], args["backup"]
    valid.optional_text("version", version, "the version to upgrade to, as text")
    if version is None:
        raise SaltInvocationError("version is required: the version to upgrade to")
    valid.choice("backup", backup, BACKUPS)
    if backup_required and backup == "confirmed" and args["backup_completed"] is not True:
        raise SaltInvocationError(
            "backup_completed must be true: make a backup of the vCD database first (it is the only way back "
            "from a database upgrade), then say so; on appliances, backup: appliance makes one"
        )
    if args["db_cell"] is not None and args["db_cell"] not in ordered:
        raise SaltInvocationError(f"db_cell {args['db_cell']!r} is not one of the cells: {', '.join(ordered)}")
    valid.choice("on_failure", args["on_failure"], ON_FAILURE)
    valid.optional_text("install_sls", args["install_sls"], "the name of an SLS")
    valid.seconds("health_timeout", args["health_timeout"])
    valid.seconds("timeout", args["timeout"])
    valid.optional_dict("cell_pillar", args["cell_pillar"])
    valid.optional_text("upgrade_id", args["upgrade_id"], "a non-empty string")


def _plan(args, planned, ordered, backup_required=True):
    """The upgrade's plan (without its route) from its arguments, checked."""
    _check_arguments(ordered, args, backup_required)
    return planned(
        plans.Upgrade,
        args["upgrade_id"] or orchestration.plan_id(ordered, args["version"]),
        health_timeout=args["health_timeout"],
        cell_pillar=args["cell_pillar"],
        version=args["version"],
        backup=args["backup"],
        db_cell=args["db_cell"],
        install_sls=args["install_sls"],
        on_failure=args["on_failure"],
    )


def upgrade(
    cells,
    version,
    tgt_type=defaults.UPGRADE["tgt_type"],
    backup=defaults.UPGRADE["backup"],
    backup_completed=defaults.UPGRADE["backup_completed"],
    db_cell=defaults.UPGRADE["db_cell"],
    install_sls=defaults.UPGRADE["install_sls"],
    on_failure=defaults.UPGRADE["on_failure"],
    health_timeout=defaults.UPGRADE["health_timeout"],
    timeout=defaults.UPGRADE["timeout"],
    cell_pillar=defaults.UPGRADE["cell_pillar"],
    upgrade_id=defaults.UPGRADE["upgrade_id"],
    ssh=defaults.UPGRADE["ssh"],
    checksum=defaults.UPGRADE["checksum"],
    clock_tolerance=defaults.UPGRADE["clock_tolerance"],
    window_end=defaults.UPGRADE["window_end"],
    precheck=defaults.UPGRADE["precheck"],
    report_keep=defaults.UPGRADE["report_keep"],
):
    """
    Upgrade every cell of a server group to ``version``: drain and stop them all, install on each,
    upgrade the shared database once, start them again (appliances: reboot them, the primary first),
    and verify. Resumes when run again.

    cells
        The whole server group: a list of minion ids, or a target expression (read with ``tgt_type``).
        Either every cell is a vCD appliance (``vcd_cell:appliance_api_url`` set) or none is.

    version
        The target version, as ``vcd_cell.version`` prints it once installed (``10.6.0`` matches an
        appliance's ``10.6.0.24000000``).

    backup
        ``confirmed``: the operator made the backup and says so with ``backup_completed``.
        ``appliance``: ``create-backup.sh`` runs on the primary appliance after the drain, before the
        first install; where the backup went is in the return.

    backup_completed
        With ``backup: confirmed``, must be true: the operator says the database backup exists (the
        only way back from a database upgrade). Without it nothing is touched.

    db_cell
        The cell that runs the database upgrade; default the first cell, on appliances the primary
        (and only the primary).

    install_sls
        An SLS that installs the software instead of ``vcd_cell.installed``; the version is checked
        after it.

    on_failure
        ``restore``: a failure before the first install puts every cell back into service (and the
        appliances' failover mode back). ``stop``: leave them as they are.

    health_timeout
        Seconds a started cell may take to serve.

    timeout
        Seconds to wait for one step's run on the cells (and for an appliance to come back from its
        reboot).

    cell_pillar
        Pillar for the state runs on the cells, e.g. ``{"vcd_cell": {"drain": {"timeout": 1800}}}``.

    upgrade_id
        Names the record a re-run resumes from; by default derived from the cells and ``version``.

    ssh
        Reach the cells through salt-ssh (the roster's targets) instead of their minions, for cells that
        run no salt-minion. Works with no salt-master running (events are then skipped).

    checksum
        VMware's SHA-256 of the installer: each cell's copy is compared with it before anything is touched.

    clock_tolerance
        Seconds a cell's clock (its API's ``Date``) may differ from the master's.

    window_end
        When the window ends (ISO 8601, e.g. ``2026-12-12T06:00:00Z``): each cell's HTTPS certificate
        must outlast it. By default ``timeout`` seconds from now.

    precheck
        Before anything is touched, the run makes :func:`precheck`'s checks. ``report``: a failure of a
        check that makes the window unsafe (``reachable``, ``cell_list``, ``versions``, ``package``,
        ``cluster``, ``failover_mode``) refuses it, the others' warnings and failures are in the return's
        ``precheck``. ``strict``: any failed check refuses it. A run that resumes is not checked again.

    report_keep
        Each run leaves a report in the master's cache (``salt-run vcd_report.list``), its path under
        ``report`` in the return; the newest this many are kept, older ones removed when a run begins.

    Events: ``vcd/upgrade/run/start`` and ``.../finish`` (with the report's path),
    ``vcd/upgrade/precheck/start`` and ``.../finish``, ``vcd/upgrade/<step>/start`` and
    ``vcd/upgrade/<step>/finish`` (with each cell's result; ``restore`` when a failure before the point
    of no return puts the cells back into service);
    on appliances ``vcd/upgrade/reboot/waiting`` says which appliances the reboot step waits for.

    CLI Example:

    .. code-block:: bash

        salt-run vcd_upgrade.upgrade cells='[cell1, cell2, cell3]' version=10.6.0 backup_completed=True
        salt-run vcd_upgrade.upgrade cells='cell*' version=10.6.0 backup_completed=True db_cell=cell2
        salt-run vcd_upgrade.upgrade cells='[vcd1, vcd2, vcd3]' version=10.6.0 backup=appliance
        salt-run vcd_upgrade.upgrade cells='cell*' version=10.6.0 backup_completed=True ssh=True
    """
    args = dict(locals())

    def prepare(planned, ordered):
        plan = _plan(args, planned, ordered)
        plan.route = _route(plan)
        plan.gate = prechecks.gate(prechecks.options_of("upgrade", args))
        return plan

    return skeleton.orchestrate(
        __opts__,
        __context__,
        ORCHESTRATION,
        (cells, tgt_type, timeout, ssh),
        prepare,
        _run,
        reporting=skeleton.Reporting(report_keep, globals().get("__jid_event__")),
    )


def release(run, force=False, cells=None, ssh=None):
    """
    Release by hand the claim a run of :func:`upgrade` left on its cells: a run that died (its
    ``salt-run`` killed, its master gone) with its window unfinished, when it is not to be finished by
    running its plan again (which takes the claim over by itself). Refused while that run is alive (its
    process runs, or its heartbeat is fresh), unless ``force=True``, as ``terraform force-unlock`` is.

    run
        The run's id, as a refusal or ``vcd_cell.window`` names it.

    force
        Release the claim of a run that is alive all the same: it then runs on without its claim.

    cells
        Where to look when the claim is not in this master's cache (made from another master, or by
        salt-ssh on another host): the cells it holds.

    ssh
        Reach those cells through salt-ssh (by default the route the run used).

    CLI Example:

    .. code-block:: bash

        salt-run vcd_upgrade.release run=w3fa2c81b
        salt-run vcd_upgrade.release run=w3fa2c81b cells='[cell1, cell2, cell3]' ssh=True
    """
    return skeleton.release(__opts__, __context__, ORCHESTRATION[0], run, force=force, cells=cells, ssh=ssh)


def precheck(pillar=None, **kwargs):
    """
    Whether the server group is ready for :func:`upgrade` with the same keys, days before the window:
    every check VMware's procedures call for, per cell, pass, warn or fail with the fix, touching
    nothing (no quiesce, no lease, no record, no tool that changes a cell). Not ready (a check failed):
    ``salt-run`` exits non-zero. The checks are in the docs' "Before the window"; the upgrade makes the
    same ones before it touches anything.

    pillar
        The ``vcd_upgrade`` pillar the orchestration reads (``{"vcd_upgrade": {"cells": ..., ...}}``); the
        keys given on the command line go over it.

    Every other key is :func:`upgrade`'s (``cells``, ``version``, ``backup_completed``, ``checksum``,
    ``clock_tolerance``, ``ssh``...).

    Returns ``{"ready": bool, "checks": [{"check", "cell", "result", "detail", "fix"}], "comment"}``,
    shown as a table (``--out=json`` for the structure). Events: ``vcd/upgrade/precheck/start`` and
    ``vcd/upgrade/precheck/finish``.

    CLI Example:

    .. code-block:: bash

        salt-run vcd_upgrade.precheck cells='[cell1, cell2, cell3]' version=10.6.0
        salt-run vcd_upgrade.precheck cells='cell*' version=10.6.0 checksum=9f86d08...
        salt-run vcd_upgrade.precheck pillar='{"vcd_upgrade": {"cells": "vcd*", "version": "10.6.0"}}'
        salt-run --out=json vcd_upgrade.precheck cells='cell*' version=10.6.0 ssh=True
    """

    def bound():
        args = prechecks.bind(upgrade, "vcd_upgrade", pillar, kwargs)
        return args, prechecks.options_of("upgrade", args)

    def prepare(args, planned, ordered):
        return _plan(args, planned, ordered, backup_required=False)

    return prechecks.run(__opts__, __context__, ORCHESTRATION, bound, prepare)


def _run(plan):
    cells, record = plan.order, plan.record
    plan.db_cell = plan.route.db_cell(plan)
    report = {cell: {"steps": []} for cell in cells}
    planned = plan.route.steps(plan)
    todo = [(name, step) for name, step in planned if not record.done(name)]
    announce = orchestration.announcer(plan, "upgrade")
    if todo and todo[0][0] == "preflight":
        failure = orchestration.run_steps(todo[:1], cells, plan, report, announce, record)
        if failure:
            return _failed(plan, report, failure, list(record.data["done"]))
        todo = todo[1:]
        if plan.found.upgraded_already:
            record.forget()
            comment = f"Every cell already serves vCD {plan.version}: nothing to do."
            return {"result": True, "comment": comment, "upgrade_id": plan.id, "steps_done": [], "cells": report}
    failure = orchestration.run_steps(todo, cells, plan, report, announce, record)
    if failure:
        return _failed(plan, report, failure, list(record.data["done"]))
    done = list(record.data["done"])
    backup = record.data.get("backup")
    record.forget()
    for cell in cells:
        report[cell]["result"] = "done"
    resumed = [name for name, _ in planned if name not in report[cells[0]]["steps"]]
    ret = {
        "result": True,
        "comment": f"{len(cells)} {plan.route.noun}(s) upgraded to vCD "
        f"{plan.version}" + (f" (resumed after {', '.join(resumed)}, done in an earlier run)" if resumed else ""),
        "upgrade_id": plan.id,
        "version": plan.version,
        "steps_done": done,
        "cells": report,
    }
    if backup:
        ret["backup"] = backup
    return ret
