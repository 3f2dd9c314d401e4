"""
The steps of a server group's upgrade (``vcd_upgrade``), each ``step(cells, plan)`` returning
``{cell: None or why it failed}`` (see :mod:`_vcd_orchestration`): those of a group of Linux cells, and
those the appliance route (:mod:`_vcd_upgrade_appliance`) shares with it.

``plan`` is the upgrade's :class:`~_vcd_orchestration_plan.Upgrade`: what was asked (``version``,
``db_cell``, ``install_sls``, ``health_timeout``, ``cell_pillar``, ``lease``), the
:class:`~_vcd_orchestration.Cells` that reach the minions (``cells``), the
:class:`~_vcd_orchestration.Record` a re-run resumes from (``record``) and what earlier steps found
(``found``).
"""

import _vcd_orchestration as orchestration
from _vcd_cell_upgrade import same_version

# The steps up to here change nothing that vcd.active cannot undo.
BEFORE_NO_RETURN = ("preflight", "failover", "quiesce", "drain", "backup")
# What the preflight reads of every cell (the precheck asks it too, in the same job as its own questions).
ASKED = (
    ("vcd_cell.version", (), None),
    ("vcd_cell.is_running", (), None),
    ("vcd_cell.readiness", (), None),
    ("vcd_cell.cells", (), None),
)
NO_CELL_LIST = "no cell could read vCD's list of the server group's cells (is vcd_cell:api_url set on the cells?)"


def errors(answers, cells, fun):
    return orchestration.answered(answers, cells, fun)


def preflight(cells, plan, extra=()):
    """
    Every cell answers and vCD lists exactly the planned cells; the versions before, recorded. It reads
    what the precheck (:func:`_vcd_precheck.gate`) asked every cell a moment ago in this run, in one job:
    the versions, whether each runs (for the quiesce step that follows), its name in vCD, vCD's list of
    cells and the ``extra`` calls of a route that needs more; run alone, it asks them itself. All the
    answers are left in ``plan.found.answers``.
    """
    answers = plan.found.answers or plan.cells.call_each(cells, [*ASKED, *extra])
    plan.found.answers = answers
    versions = answers["vcd_cell.version"]
    outcome = errors(versions, cells, "vcd_cell.version")
    if any(outcome.values()):
        return outcome
    plan.found.running = answers["vcd_cell.is_running"]
    # A group that already runs the version everywhere (an upgrade run again after it finished) has
    # nothing to do: running the steps again would drain it for nothing.
    plan.found.upgraded_already = all(
        plan.found.running.get(cell) is True and same_version(plan.version, versions[cell]) for cell in cells
    )
    names = cell_names(cells, answers["vcd_cell.readiness"])
    listed_names, outside, _ = cell_list(cells, names, answers["vcd_cell.cells"])
    if listed_names is None:
        return dict.fromkeys(cells, NO_CELL_LIST)
    if outside:
        why = (
            f"vCD lists cell(s) outside the plan: {', '.join(outside)}. The database upgrade needs every cell "
            "of the server group stopped and would corrupt their work: add them to cells, or retire them first"
        )
        return dict.fromkeys(cells, why)
    record = plan.record
    record.data.update(before=versions, names=names, listed=listed_names)
    record.save()
    return {
        cell: None
        if names[cell] in listed_names
        else f"vCD does not list this cell ({names[cell]}) in the server group"
        for cell in cells
    }


def cell_names(cells, readiness):
    """Each cell's name in vCD (``readiness``: the cells' ``vcd_cell.readiness``); one that did not say: its id."""
    return {
        cell: (readiness.get(cell) if isinstance(readiness.get(cell), dict) else {}).get("cell_name") or cell
        for cell in cells
    }


def cell_list(cells, names, listings):
    """
    vCD's list of the server group's cells (``listings``: the cells' ``vcd_cell.cells``, the first that
    could read it taken) against the plan, whose cells are named ``names`` in vCD: ``(the names vCD
    lists, or None when no cell could read it; those of them outside the plan; the planned cells it does
    not list)``.
    """
    listing = _first_listing(cells, listings)
    if listing is None:
        return None, [], []
    listed = [entry["name"] for entry in listing]
    return listed, [name for name in listed if name not in names.values()], [c for c in cells if names[c] not in listed]


def _first_listing(cells, listings):
    return next((listings[cell] for cell in cells if isinstance(listings.get(cell), list)), None)


def quiesce(cells, plan):
    """Every running cell quiesced, under a quiesce lease, before any of them drains."""
    # Asked by the preflight a moment ago in this run, and taken: a resumed run asks again.
    running, plan.found.running = plan.found.running, None
    return plan.cells.quiesce_running(cells, plan.lease, running)[1]


def drain(cells, plan):
    """``vcd.drained`` on every cell at once, with the maintenance message on; stopped cells stay as they are."""
    pillar = orchestration.with_cell_setting(plan.cell_pillar, "drain", "maintenance_message", True)
    return plan.cells.apply(cells, "vcd.drained", pillar)


def install(cells, plan):
    """The software on every cell at once (idempotent on the version); each must then report it."""
    record = plan.record
    record.data["point_of_no_return"] = True
    record.save()
    calls, version = plan.cells, plan.version
    if not plan.install_sls:
        # The state itself fails unless the cell then reports the version.
        return calls.single(cells, "vcd_cell.installed", "vcd software", {"version": version}, plan.cell_pillar)
    outcome = calls.apply(cells, plan.install_sls, plan.cell_pillar)
    installed = calls.call([c for c in cells if not outcome[c]], "vcd_cell.version")
    for cell, found in installed.items():
        if not same_version(version, found):
            outcome[cell] = f"the cell reports vCD {found} after the install, not {version}"
    return outcome


def database(cells, plan):
    """Checked live that every cell is stopped, then the database upgrade, once, on ``db_cell``."""
    calls, db_cell = plan.cells, plan.db_cell
    running = calls.call(cells, "vcd_cell.is_running")
    outcome = errors(running, cells, "vcd_cell.is_running")
    still = [cell for cell in cells if running.get(cell) is not False]
    if still:
        why = f"cell(s) still run: {', '.join(still)}; the database is upgraded only once every cell is stopped"
        return {cell: outcome[cell] or why for cell in cells}
    answer = calls.call([db_cell], "vcd_cell.upgrade_database", kwarg={"backup_completed": True})
    outcome[db_cell] = errors(answer, [db_cell], "vcd_cell.upgrade_database")[db_cell]
    return outcome


def active_pillar(plan):
    return orchestration.active_pillar(plan.cell_pillar, plan.health_timeout)


def start(cells, plan):
    """``vcd.active`` on every cell at once: started, serving, its scheduler active."""
    return plan.cells.apply(cells, "vcd.active", active_pillar(plan))


def _listed(cells, answers):
    """vCD's list of the group's cells, by name, as the first cell that could read it answered."""
    return {entry["name"]: entry for entry in _first_listing(cells, answers["vcd_cell.cells"]) or []}


def _down_on_the_version(cells, health, listed, names, version):
    """The cells that answer that they do not serve while vCD lists them on ``version``."""
    return [
        cell
        for cell in cells
        if isinstance(health.get(cell), dict)
        and not health[cell].get("up")
        and same_version(version, (listed.get(names.get(cell, cell)) or {}).get("version"))
    ]


def verify(cells, plan, extra=()):
    """
    Every cell serves (health check) on ``version``, and no quiesce lease is left, in one job. Each
    scheduler was read active by ``vcd.active`` in the start step; the cells API (vCD 10.5.1) says so
    again here, for free, where the cell has it. A cell that does not serve while vCD lists it on
    ``version`` (it went down since it was started) gets ``vcd.active`` first, and is asked again.
    """
    asked = [("vcd_cell.health", (), None), ("vcd_cell.lease", (), None), ("vcd_cell.cells", (), None), *extra]
    answers = plan.cells.call_each(cells, asked)
    names, version = plan.record.data.get("names", {}), plan.version
    down = _down_on_the_version(cells, answers["vcd_cell.health"], _listed(cells, answers), names, version)
    if down:
        # Gone down since the start (a crash): started again, its software and the database both on the
        # version. A run resuming here would otherwise fail here for good.
        start(down, plan)
        answers = plan.cells.call_each(cells, asked)
    plan.found.answers = answers
    health, leases, listed = answers["vcd_cell.health"], answers["vcd_cell.lease"], _listed(cells, answers)
    outcome = {}
    for cell in cells:
        entry = listed.get(names.get(cell, cell))
        problems = []
        if not isinstance(health.get(cell), dict) or not health[cell].get("up"):
            problems.append(f"it does not serve ({health.get(cell)})")
        if not isinstance(leases.get(cell), dict) or leases[cell].get("held"):
            problems.append("a quiesce lease is still held")
        if entry is None or not entry.get("active") or not same_version(version, entry.get("version")):
            problems.append(f"vCD lists it as {entry}, not active on {version}")
        elif entry.get("status") not in (None, "ACTIVE"):
            problems.append(f"vCD reports its state {entry['status']}, not ACTIVE")
        outcome[cell] = "; ".join(problems) or None
    return outcome


class LinuxRoute:
    """
    The upgrade of a group of Linux cells, as the runner sees a route: its steps, the cell that upgrades
    the database, what it restores after a failure and how it tells where each cell is.
    """

    name = "linux"
    noun = "cell"
    # The backups it can take: the operator's own, confirmed (create-backup.sh is the appliances').
    backups = ("confirmed",)
    # What a failure before the point of no return restores besides the cells' service.
    also_restored = ""
    STEPS = (
        ("preflight", preflight),
        ("quiesce", quiesce),
        ("drain", drain),
        ("install", install),
        ("database", database),
        ("start", start),
        ("verify", verify),
    )

    def steps(self, plan):  # pylint: disable=unused-argument
        return self.STEPS

    def db_cell(self, plan):
        """The cell ``db_cell`` names, by default the first."""
        return plan.db_cell or plan.order[0]

    def restore_failover(self, plan):  # pylint: disable=unused-argument
        """Linux cells have no failover mode to set back: nothing failed."""
        return None

    def failover_left_manual(self, plan):  # pylint: disable=unused-argument
        return False

    def where_cells_are(self, cells, plan, report):
        """After the point of no return: each cell's service and installed version, in words."""
        asked = [("vcd_cell.is_running", (), None), ("vcd_cell.version", (), None)]
        answers = plan.cells.call_each(cells, asked)
        running, versions = answers["vcd_cell.is_running"], answers["vcd_cell.version"]
        for cell in cells:
            state = "running" if running.get(cell) is True else "stopped" if running.get(cell) is False else "unknown"
            report[cell]["state"] = f"{state}, vCD {versions.get(cell, 'unknown')} installed"


ROUTE = LinuxRoute()
