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
import _vcd_orchestration as orchestration

__virtualname__ = "vcd_upgrade"

CACHE_BANK = "vcd_upgrade"
EVENT_PREFIX = "vcd/upgrade"
ON_FAILURE = ("restore", "stop")
# Seconds a quiesce is given to return; a newer tool that waits for the jobs is stopped then, and the
# cell stays quiesced: the drain step does the waiting.
QUIESCE_WAIT = 30
# The steps up to here change nothing that vcd.active cannot undo.
BEFORE_NO_RETURN = ("preflight", "quiesce", "drain")


def __virtual__():
    return __virtualname__


# -- the steps -------------------------------------------------------------------------------------


def _errors(answers, cells, fun):
    return orchestration.answered(answers, cells, fun)


def _preflight(cells, context):
    """
    Every cell answers and vCD lists exactly the planned cells; the versions before, recorded. One job
    asks every cell all it needs, whether it runs included (for the quiesce step that follows).
    """
    answers = context["cells"].call_each(
        cells,
        [
            ("vcd_cell.version", (), None),
            ("vcd_cell.is_running", (), None),
            ("config.get", ("vcd_cell:cell_name",), None),
            ("vcd_cell.cells", (), None),
        ],
    )
    versions = answers["vcd_cell.version"]
    outcome = _errors(versions, cells, "vcd_cell.version")
    if any(outcome.values()):
        return outcome
    context["running"] = answers["vcd_cell.is_running"]
    names = {cell: (answers["config.get"].get(cell) or cell) for cell in cells}
    listings = answers["vcd_cell.cells"]
    listed = next((listings[cell] for cell in cells if isinstance(listings.get(cell), list)), None)
    if listed is None:
        why = "no cell could read vCD's list of the server group's cells (is vcd_cell:api_url set on the cells?)"
        return dict.fromkeys(cells, why)
    listed_names = [entry["name"] for entry in listed]
    outside = [name for name in listed_names if name not in names.values()]
    if outside:
        why = (
            f"vCD lists cell(s) outside the plan: {', '.join(outside)}. The database upgrade needs every cell "
            "of the server group stopped and would corrupt their work: add them to cells, or retire them first"
        )
        return dict.fromkeys(cells, why)
    record = context["record"]
    record.data.update(before=versions, names=names, listed=listed_names)
    record.save()
    return {
        cell: None
        if names[cell] in listed_names
        else f"vCD does not list this cell ({names[cell]}) in the server group"
        for cell in cells
    }


def _quiesce(cells, context):
    """Every running cell quiesced, under a quiesce lease, before any of them drains."""
    calls = context["cells"]
    # Asked by the preflight a moment ago in this run; a resumed run asks again.
    running = context.pop("running", None) or calls.call(cells, "vcd_cell.is_running")
    outcome = _errors(running, cells, "vcd_cell.is_running")
    to_quiesce = [cell for cell in cells if running.get(cell) is True]
    answers = calls.call(to_quiesce, "vcd_cell.quiesce", kwarg={"timeout": QUIESCE_WAIT, "lease": context["lease"]})
    for cell in to_quiesce:
        answer = answers.get(cell)
        if not (isinstance(answer, dict) and answer.get("quiesced")):
            outcome[cell] = f"vcd_cell.quiesce: {answer if answer is not None else 'the minion did not answer'}"
    return outcome


def _drain(cells, context):
    """``vcd.drained`` on every cell at once, with the maintenance message on; stopped cells stay as they are."""
    pillar = orchestration.with_cell_setting(context["cell_pillar"], "drain", "maintenance_message", True)
    return context["cells"].apply(cells, "vcd.drained", pillar)


def _install(cells, context):
    """The software on every cell at once (idempotent on the version); each must then report it."""
    record = context["record"]
    record.data["point_of_no_return"] = True
    record.save()
    calls, version = context["cells"], context["version"]
    if not context["install_sls"]:
        # The state itself fails unless the cell then reports the version.
        return calls.single(cells, "vcd_cell.installed", "vcd software", {"version": version}, context["cell_pillar"])
    outcome = calls.apply(cells, context["install_sls"], context["cell_pillar"])
    installed = calls.call([c for c in cells if not outcome[c]], "vcd_cell.version")
    for cell, found in installed.items():
        if found != version:
            outcome[cell] = f"the cell reports vCD {found} after the install, not {version}"
    return outcome


def _database(cells, context):
    """Checked live that every cell is stopped, then the database upgrade, once, on ``db_cell``."""
    calls, db_cell = context["cells"], context["db_cell"]
    running = calls.call(cells, "vcd_cell.is_running")
    outcome = _errors(running, cells, "vcd_cell.is_running")
    still = [cell for cell in cells if running.get(cell) is not False]
    if still:
        why = f"cell(s) still run: {', '.join(still)}; the database is upgraded only once every cell is stopped"
        return {cell: outcome[cell] or why for cell in cells}
    answer = calls.call([db_cell], "vcd_cell.upgrade_database", kwarg={"backup_completed": True})
    outcome[db_cell] = _errors(answer, [db_cell], "vcd_cell.upgrade_database")[db_cell]
    return outcome


def _active_pillar(context):
    return orchestration.active_pillar(context["cell_pillar"], context["health_timeout"])


def _start(cells, context):
    """``vcd.active`` on every cell at once: started, serving, its scheduler active."""
    return context["cells"].apply(cells, "vcd.active", _active_pillar(context))


def _verify(cells, context):
    """
    Every cell serves (health check) on ``version``, and no quiesce lease is left, in one job. Each
    scheduler was read active by ``vcd.active`` in the start step; the cells API (vCD 10.5.1) says so
    again here, for free, where the cell has it.
    """
    answers = context["cells"].call_each(
        cells, [("vcd_cell.health", (), None), ("vcd_cell.lease", (), None), ("vcd_cell.cells", (), None)]
    )
    health, leases, listings = answers["vcd_cell.health"], answers["vcd_cell.lease"], answers["vcd_cell.cells"]
    listing = next((listings[cell] for cell in cells if isinstance(listings.get(cell), list)), [])
    listed = {entry["name"]: entry for entry in listing}
    names, version = context["record"].data.get("names", {}), context["version"]
    outcome = {}
    for cell in cells:
        entry = listed.get(names.get(cell, cell))
        problems = []
        if not isinstance(health.get(cell), dict) or not health[cell].get("up"):
            problems.append(f"it does not serve ({health.get(cell)})")
        if not isinstance(leases.get(cell), dict) or leases[cell].get("held"):
            problems.append("a quiesce lease is still held")
        if entry is None or not entry.get("active") or entry.get("version") != version:
            problems.append(f"vCD lists it as {entry}, not active on {version}")
        elif entry.get("status") not in (None, "ACTIVE"):
            problems.append(f"vCD reports its state {entry['status']}, not ACTIVE")
        outcome[cell] = "; ".join(problems) or None
    return outcome


STEPS = (
    ("preflight", _preflight),
    ("quiesce", _quiesce),
    ("drain", _drain),
    ("install", _install),
    ("database", _database),
    ("start", _start),
    ("verify", _verify),
)


# -- the run ---------------------------------------------------------------------------------------


def _announce(upgrade_id):
    def announce(step, cells, outcome):
        if outcome is None:
            orchestration.fire(__opts__, f"{EVENT_PREFIX}/{step}/start", {"upgrade": upgrade_id, "cells": cells})
        else:
            results = {cell: why or "done" for cell, why in outcome.items()}
            orchestration.fire(__opts__, f"{EVENT_PREFIX}/{step}/finish", {"upgrade": upgrade_id, "results": results})

    return announce


def _restore(cells, context, report):
    """Before the point of no return: every cell back into service (its software is unchanged)."""
    outcome = _start(cells, context)
    for cell in cells:
        report[cell]["restored"] = outcome[cell] is None
        if outcome[cell]:
            report[cell]["restore_failed"] = outcome[cell]
    return [cell for cell in cells if outcome[cell]]


def _where_cells_are(cells, context, report):
    """After the point of no return, each cell's state in words, for the person who goes on from here."""
    answers = context["cells"].call_each(cells, [("vcd_cell.is_running", (), None), ("vcd_cell.version", (), None)])
    running, versions = answers["vcd_cell.is_running"], answers["vcd_cell.version"]
    for cell in cells:
        state = "running" if running.get(cell) is True else "stopped" if running.get(cell) is False else "unknown"
        report[cell]["state"] = f"{state}, vCD {versions.get(cell, 'unknown')} installed"


def _failed(context, report, failure, done):
    """The return of a failed run; before the point of no return, service restored as asked."""
    cell, step, why, outcome = failure
    __context__["retcode"] = 1
    cells, record = context["all"], context["record"]
    for name in cells:
        report[name].update(
            result="failed" if outcome.get(name) else "stopped", step=step, comment=outcome.get(name) or ""
        )
    comment = f"Stopped at {cell}, step {step}: {why}."
    if step == "preflight":
        comment += " Nothing was touched."
        record.forget()
    elif step in BEFORE_NO_RETURN and context["on_failure"] == "restore":
        not_restored = _restore(cells, context, report)
        record.forget()
        comment += (
            " Before the point of no return: every cell was put back into service, its software unchanged."
            if not not_restored
            else f" Putting the cells back into service failed on {', '.join(not_restored)}: apply vcd.active there."
        )
    elif step in BEFORE_NO_RETURN:
        comment += " Nothing was restarted (on_failure: stop): apply vcd.active to the cells, or run again."
    else:
        _where_cells_are(cells, context, report)
        comment += (
            " Past the point of no return (the first install): nothing was restarted, the cells stay stopped "
            f"with their maintenance message. Fix the cause and run the same upgrade again: it resumes at {step}."
        )
    return {
        "result": False,
        "comment": comment,
        "upgrade_id": context["id"],
        "version": context["version"],
        "steps_done": done,
        "cells": report,
    }


def upgrade(
    cells,
    version,
    tgt_type=defaults.UPGRADE["tgt_type"],
    backup_completed=defaults.UPGRADE["backup_completed"],
    db_cell=defaults.UPGRADE["db_cell"],
    install_sls=defaults.UPGRADE["install_sls"],
    on_failure=defaults.UPGRADE["on_failure"],
    health_timeout=defaults.UPGRADE["health_timeout"],
    timeout=defaults.UPGRADE["timeout"],
    cell_pillar=defaults.UPGRADE["cell_pillar"],
    upgrade_id=defaults.UPGRADE["upgrade_id"],
):
    """
    Upgrade every cell of a server group to ``version``: drain and stop them all, install on each,
    upgrade the shared database once, start them again, and verify. Resumes when run again.

    cells
        The whole server group: a list of minion ids, or a target expression (read with ``tgt_type``).

    version
        The target version, exactly as ``vcd_cell.version`` prints it once installed.

    backup_completed
        Must be true: the operator says the database backup exists (the only way back from a database
        upgrade). Without it nothing is touched.

    db_cell
        The cell that runs the database upgrade; default the first cell.

    install_sls
        An SLS that installs the software instead of ``vcd_cell.installed`` (e.g. an appliance's
        ``vamicli update``); the version is checked after it.

    on_failure
        ``restore``: a failure before the first install puts every cell back into service.
        ``stop``: leave them as they are.

    health_timeout
        Seconds a started cell may take to serve.

    timeout
        Seconds to wait for one step's run on the cells.

    cell_pillar
        Pillar for the state runs on the cells, e.g. ``{"vcd_cell": {"drain": {"timeout": 1800}}}``.

    upgrade_id
        Names the record a re-run resumes from; by default derived from the cells and ``version``.

    Events: ``vcd/upgrade/<step>/start`` and ``vcd/upgrade/<step>/finish`` (with each cell's result).

    CLI Example:

    .. code-block:: bash

        salt-run vcd_upgrade.upgrade cells='[cell1, cell2, cell3]' version=10.6.0 backup_completed=True
        salt-run vcd_upgrade.upgrade cells='cell*' version=10.6.0 backup_completed=True db_cell=cell2
    """
    try:
        ordered = orchestration.resolve_cells(__opts__, cells, tgt_type)
        orchestration.optional_text("version", version, "the version to upgrade to, as text")
        if version is None:
            raise SaltInvocationError("version is required: the version to upgrade to")
        if backup_completed is not True:
            raise SaltInvocationError(
                "backup_completed must be true: make a backup of the vCD database first (it is the only way back "
                "from a database upgrade), then say so"
            )
        if db_cell is not None and db_cell not in ordered:
            raise SaltInvocationError(f"db_cell {db_cell!r} is not one of the cells: {', '.join(ordered)}")
        if on_failure not in ON_FAILURE:
            raise SaltInvocationError(f"on_failure must be one of {', '.join(ON_FAILURE)}, not {on_failure!r}")
        orchestration.optional_text("install_sls", install_sls, "the name of an SLS")
        orchestration.seconds("health_timeout", health_timeout, 1)
        orchestration.seconds("timeout", timeout, 1)
        orchestration.optional_dict("cell_pillar", cell_pillar)
        orchestration.optional_text("upgrade_id", upgrade_id, "a non-empty string")
    except SaltInvocationError as exc:
        __context__["retcode"] = 1
        return {"result": False, "comment": f"{exc}. Nothing was touched.", "cells": {}}
    lease = ((cell_pillar or {}).get("vcd_cell") or {}).get("drain", {}).get("lease", defaults.DRAIN["lease"])
    upgrade_id = upgrade_id or orchestration.plan_id(ordered, version)
    context = {
        "id": upgrade_id,
        "all": ordered,
        "version": version,
        "db_cell": db_cell or ordered[0],
        "install_sls": install_sls,
        "on_failure": on_failure,
        "health_timeout": health_timeout,
        "cell_pillar": cell_pillar,
        "lease": lease,
        "cells": orchestration.Cells(__opts__, timeout),
        "record": orchestration.Record(__opts__, CACHE_BANK, upgrade_id),
    }
    try:
        return _run(context)
    finally:
        context["cells"].close()


def _run(context):
    cells, record = context["all"], context["record"]
    report = {cell: {"steps": []} for cell in cells}
    todo = [(name, step) for name, step in STEPS if not record.done(name)]
    failure = orchestration.run_steps(todo, cells, context, report, _announce(context["id"]), record)
    if failure:
        return _failed(context, report, failure, list(record.data["done"]))
    done = list(record.data["done"])
    record.forget()
    for cell in cells:
        report[cell]["result"] = "done"
    resumed = [name for name, _ in STEPS if name not in report[cells[0]]["steps"]]
    return {
        "result": True,
        "comment": f"{len(cells)} cell(s) upgraded to vCD {context['version']}"
        + (f" (resumed after {', '.join(resumed)}, done in an earlier run)" if resumed else ""),
        "upgrade_id": context["id"],
        "version": context["version"],
        "steps_done": done,
        "cells": report,
    }
