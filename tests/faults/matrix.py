"""
The fault matrix: every orchestration x route x step of its plan x moment x fault kind, generated from
the plans themselves (a step added to a plan gets its cases with no test written), each case run as an
operator would meet it: the fault armed, the orchestration run, the fault cleared, the same orchestration
run again (at most three times), the invariants checked on the fake cells' timelines after every run.

A case's id reads ``<orchestration>/<route>/<step>/<moment>/<kind>``, e.g.
``upgrade/linux/drain/mid/crash``. The moment ``start`` is the step's first run, as it first acts on a
cell; ``mid`` its last run, as it acts on the last cell it acts on, once it has acted on the others. What
a step acts on and meets is read off a run without faults (its trace, see :mod:`tests.faults.run`): a case
whose fault the step would never meet there (a tool fault at a step that runs no tool on that cell, a
crash of a cell that is stopped) is not applicable, and said so.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace

from simulator.appliance import AUTOMATIC, ApplianceGroup, appliance_group
from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig
from simulator.pillar import vcd_cell_pillar, write_installer, write_update_package
from simulator.server import ApplianceServer, CellServer
from tests.faults.run import SECOND
from tests.support import REPO, load_salt_module, wait_for
from tests.unit.utils.stand_ins import rollout_plan, upgrade_plan

sys.path.insert(0, str(REPO / "_utils"))

import _vcd_cell_lease as lease  # noqa: E402
import _vcd_orchestration_journal as journals  # noqa: E402
import _vcd_rolling_appliance as rolling_appliance  # noqa: E402

CELLS = ("f-1", "f-2", "f-3")
# On the appliance route, the database cluster's roles.
ROLES = {"f-1": "primary", "f-2": "standby", "f-3": "cell"}
ADMIN_PASSWORD = "vmware-Adm1n"
ROOT_PASSWORD = "r00t-Appl1ance"
OLD, NEW, NEW_BUILD = "10.5.0", "10.6.0", "24000000"
MOMENTS = ("start", "mid")
RERUNS = 3
# Short enough that a case takes seconds, long enough for the fake cells' own work.
CLI_TIMEOUT = 5
OUTAGE_SECONDS = 8
STEP_TIMEOUT = 30
HEALTH_TIMEOUT = 20
# A reboot that outlasts the step's deadline.
SLOW_REBOOT_SECONDS = STEP_TIMEOUT + 5
RUN_TIMEOUT = 600


@dataclass(frozen=True)
class Kind:
    """
    A fault kind: what it arms on the simulator, what a step must meet on the cell for it to apply, and
    on which plans it can apply at all (an appliance API only on appliances, a reboot fault only where
    the plan reboots).
    """

    name: str
    arm: dict | None
    applies: object
    possible: object = lambda plan: True
    #: The moments it strikes at. A restart of the master lets the job it meets run to its end on every
    #: cell, whichever cell it reaches last: at the start of each step only.
    moments: tuple = MOMENTS


def _ran_tools(seen):
    return bool(seen["tools"])


def _served_rest(seen):
    return seen["requests"]["rest"] > 0


def _served_appliance(seen):
    return seen["requests"]["appliance"] > 0


def _rebooted(seen):
    return "reboot" in seen["tools"]


def _on_appliances(plan):
    return plan.route == "appliance"


def _reboots(plan):
    return "reboot" in plan.steps and plan.route != "ssh"


def _through_minions(plan):
    """The faults of a cell, its tools and its minion: the ``ssh`` plans run the process faults alone."""
    return plan.route != "ssh"


def _over_ssh(plan):
    return plan.route == "ssh"


def _through_a_master(plan):
    return plan.route != "ssh"


def _outage(api, mode):
    return {"api": api, "mode": mode, "seconds": OUTAGE_SECONDS}


KINDS = (
    Kind("tool-fails-once", {"tool": "any", "mode": "fail-once"}, _ran_tools, _through_minions),
    Kind("tool-fails-always", {"tool": "any", "mode": "fail-always"}, _ran_tools, _through_minions),
    Kind("tool-hangs", {"tool": "any", "mode": "hang"}, _ran_tools, _through_minions),
    Kind("crash", None, lambda seen: seen["running"], _through_minions),
    Kind("rest-unavailable", _outage("rest", "unavailable"), _served_rest, _through_minions),
    Kind("rest-silent", _outage("rest", "silent"), _served_rest, _through_minions),
    Kind("appliance-unavailable", _outage("appliance", "unavailable"), _served_appliance, _on_appliances),
    Kind("appliance-silent", _outage("appliance", "silent"), _served_appliance, _on_appliances),
    Kind("reboot-slow", {"reboot": "slow", "seconds": SLOW_REBOOT_SECONDS}, _rebooted, _reboots),
    Kind("reboot-never", {"reboot": "never"}, _rebooted, _reboots),
    Kind("job-lost", None, lambda seen: True, _through_minions),
    Kind("runner-killed", None, lambda seen: True),
    # The salt-master restarted as the job reaches the cell: the runner, run by the master, goes with it;
    # the minions' jobs run on to their end, their returns lost.
    Kind("master-restarted", None, lambda seen: True, _through_a_master, ("start",)),
    # salt-ssh's connection to the host cut as the call reaches it: the run hears nothing more of that
    # call there, and what the host runs runs on.
    Kind("connection-cut", None, lambda seen: True, _over_ssh),
    # A second run of the same orchestration, started as the job reaches the cell (a colleague, a cron
    # job, a retry): it must refuse at once, touching nothing, and the first finish as if alone. The
    # second is refused by the claim in the master's cache, before the route is taken: the minions' plans.
    Kind("second-run", None, lambda seen: True, _through_a_master),
)
# The kinds after which the same run goes on, and must finish as if alone.
AS_IF_ALONE = ("second-run",)


# -- the plans ---------------------------------------------------------------------------------------


def _runner(name):
    return load_salt_module(f"_runners/{name}.py", f"faults_{name}")


# Every run that resumes nothing begins with the precheck's checks (the skeleton's gate), then the plan's steps.
GATE = "precheck"


def _cells_route(route):
    """The cells' route of a plan's route: the ``ssh`` plans reach Linux cells through salt-ssh."""
    return "linux" if route == "ssh" else route


def _upgrade_steps(route):
    planned = _runner("vcd_upgrade").ROUTES[_cells_route(route)].steps(upgrade_plan(backup="appliance"))
    return [GATE] + [name for name, _ in planned]


def _rolling_steps(route):
    """A rollout's steps; on appliances the primary's batch, which has every step a batch can have."""
    steps = _runner("vcd_rolling")._steps(None, True, True)  # pylint: disable=protected-access
    if route == "appliance":
        steps = rolling_appliance.ROUTE.steps_for(["primary"], rollout_plan(roles={"primary": "PRIMARY"}), steps)
    return [GATE] + [name for name, _ in steps]


@dataclass(frozen=True)
class Plan:
    """One orchestration on one route: its steps (from the plan's own code) and its arguments."""

    orchestration: str
    route: str
    steps: tuple
    kwargs: dict = field(hash=False)

    @property
    def id(self):
        return f"{self.orchestration}/{self.route}"


def plans():
    common = {
        "cells": list(CELLS),
        "timeout": STEP_TIMEOUT,
        "health_timeout": HEALTH_TIMEOUT,
        "cell_pillar": {"vcd_cell": {"drain": {"timeout": STEP_TIMEOUT, "interval": 0.5}}},
    }
    upgrade = dict(common, version=NEW)
    rolling = dict(common, batch=1, min_active=1, reboot=True)
    return (
        Plan("upgrade", "linux", tuple(_upgrade_steps("linux")), dict(upgrade, backup_completed=True)),
        Plan("upgrade", "appliance", tuple(_upgrade_steps("appliance")), dict(upgrade, backup="appliance")),
        Plan("rolling", "linux", tuple(_rolling_steps("linux")), rolling),
        Plan("rolling", "appliance", tuple(_rolling_steps("appliance")), rolling),
        # Linux cells reached through salt-ssh (``ssh: true``), for the faults of the run's own processes.
        Plan("upgrade", "ssh", tuple(_upgrade_steps("ssh")), dict(upgrade, backup_completed=True, ssh=True)),
        Plan("rolling", "ssh", tuple(_rolling_steps("ssh")), dict(rolling, ssh=True)),
    )


@dataclass(frozen=True)
class Case:
    plan: Plan
    step: str
    moment: str
    kind: Kind

    @property
    def id(self):
        return f"{self.plan.id}/{self.step.replace(' ', '-')}/{self.moment}/{self.kind.name}"


def cases():
    """Every case of a kind that can apply to its plan, in a stable order."""
    return [
        Case(plan, step, moment, kind)
        for plan in plans()
        for step in plan.steps
        for moment in MOMENTS
        for kind in KINDS
        if kind.possible(plan) and moment in kind.moments
    ]


@dataclass(frozen=True)
class Slot:
    """
    One place of the sample: the first case of ``kind`` on ``plan`` that applies, from its case at
    ``offset`` on (the offset rotating with the commit).
    """

    plan: Plan
    kind: Kind
    offset: int

    @property
    def id(self):
        return f"sample/{self.plan.id}/{self.kind.name}"

    def candidates(self, all_cases):
        of_kind = [case for case in all_cases if case.plan == self.plan and case.kind == self.kind]
        start = self.offset % len(of_kind)
        return of_kind[start:] + of_kind[:start]


def sample(commit):
    """
    What ``make test`` runs: a :class:`Slot` per fault kind, each on one of the plans it can apply to,
    the plans taking turns (the kinds that apply to every plan come in runs of more than four, so every
    plan, and so every route, is in every sample), the step and moment rotating with ``commit``.
    """
    seed = int(hashlib.sha256(commit.encode()).hexdigest(), 16)
    every = plans()
    slots = []
    for index, kind in enumerate(KINDS):
        eligible = [plan for plan in every if kind.possible(plan)]
        slots.append(Slot(eligible[(seed + index) % len(eligible)], kind, seed // 7))
    return slots


def select(all_cases, selector, commit):
    """``selector``: ``all``, ``sample`` (see :func:`sample`), or a case id or prefix."""
    if selector == "all":
        return all_cases
    if selector == "sample":
        return sample(commit)
    chosen = [case for case in all_cases if case.id.startswith(selector)]
    if not chosen:
        raise ValueError(f"no fault case is {selector!r} or starts so")
    return chosen


# -- the fake server group ---------------------------------------------------------------------------


@dataclass
class Served:
    """One fake cell's servers: its cell's (``cell``, a CellServer) and its appliance API (``api``)."""

    cell: CellServer
    api: ApplianceServer

    def stop(self):
        self.cell.stop()
        self.api.stop()


def serve():
    """``{name: Served}`` for every cell of the matrix, started on 127.0.0.1."""
    group = appliance_group(ROLES, admin_password=ADMIN_PASSWORD)
    return {
        member.name: Served(CellServer(member.cell).start(), ApplianceServer(member).start())
        for member in group.appliances
    }


def _linux_group(servers):
    cells = []
    for name, served in servers.items():
        config = CellConfig(cell_name=name, admin_password=ADMIN_PASSWORD, installed_version=OLD, reboot_seconds=0.5)
        cells.append(served.cell.replace_cell(Cell(config)))
    return ServerGroup(cells)


def _appliance_group(servers):
    appliances = {name: {"root_password": ROOT_PASSWORD, "reboot_seconds": 0.5} for name in ROLES}
    group = appliance_group(
        ROLES, failover=AUTOMATIC, appliances=appliances, admin_password=ADMIN_PASSWORD, installed_version=OLD
    )
    for member in group.appliances:
        servers[member.name].cell.replace_cell(member.cell)
        servers[member.name].api.replace_appliance(member)
    return group


def fresh_group(servers, plan, jobs=(0.3, 0.6)):
    """A new server group of ``plan``'s route behind ``servers``, each cell on OLD with ``jobs`` running."""
    group = _appliance_group(servers) if plan.route == "appliance" else _linux_group(servers)
    for cell in group.cells:
        for seconds in jobs:
            cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
    return group


def cell_settings(servers, tools_root, plan):
    """Each cell's minion: ``{name: {"url": its control API, "settings": its vcd_cell pillar}}``."""
    settings = {}
    for name, served in servers.items():
        tools = tools_root / name
        if plan.route == "appliance":
            package = write_update_package(tools / "update-package", NEW, NEW_BUILD)
            pillar = vcd_cell_pillar(served.cell, tools, served.api, cli_timeout=CLI_TIMEOUT, update_repo=package)
        else:
            installer = write_installer(tools / "installer", served.cell.url, NEW)
            pillar = vcd_cell_pillar(served.cell, tools, cli_timeout=CLI_TIMEOUT, installer=installer)
        settings[name] = {"url": served.cell.url, "settings": pillar}
    return settings


def run_once(plan, cells, root, fault=None, measure=False):
    """
    One run in its own process; ``(its return or None when it was killed, its trace)``, the trace with
    what each cell met at each step when ``measure`` (the baseline's: the other runs need only the order).
    """
    spec = {
        "orchestration": plan.orchestration,
        "kwargs": plan.kwargs,
        "cells": cells,
        "root": str(root),
        "fault": fault,
        "measure": measure,
    }
    spec_file, out_file, err_file = root / "spec.json", root / "run.out", root / "run.err"
    root.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(spec))
    # Output to a file, not a pipe: a killed run's minion processes would hold a pipe open. Its own
    # session, so they end with it (the quiesce lease's keeper has a session of its own and lives on).
    with out_file.open("w") as out, err_file.open("w") as err:
        run = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.run", str(spec_file)],
            cwd=REPO,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            code = run.wait(timeout=RUN_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    if code == -signal.SIGKILL:
        return None, None
    assert code == 0, f"the run's process failed:\n{err_file.read_text()[-4000:]}"
    ran = json.loads(out_file.read_text())
    print(f"{plan.id}: seconds per step {ran['seconds']}")
    return ran["return"], ran["trace"]


def moment_of(case, trace):
    """``(execution, cell)`` at which the case's fault is armed, or why it is not applicable."""
    runs = trace.get(case.step)
    if not runs or not any(runs):
        return None, f"the step {case.step} acted on no cell"
    first = next(index for index, run in enumerate(runs) if run)
    last = max(index for index, run in enumerate(runs) if run)
    execution, cell = (first, next(iter(runs[first]))) if case.moment == "start" else (last, list(runs[last])[-1])
    if case.moment == "mid" and (execution, cell) == (first, next(iter(runs[first]))):
        return None, f"the step {case.step} acts on one cell only: its middle is its start"
    if not case.kind.applies(runs[execution][cell]):
        return None, f"the step {case.step} meets nothing of {case.kind.name} on {cell} there"
    return (execution, cell), None


# -- the invariants ----------------------------------------------------------------------------------


def timeline_violations(group):
    """What the fake cells' timelines say went wrong, whatever happened: each a sentence."""
    found = []
    for cell in group.cells:
        name = cell.config.cell_name
        for event in cell.events():
            kind = event["event"]
            if kind in ("shutdown", "stop", "power_off") and (event.get("job_count") or event.get("active")):
                found.append(f"{name}: {kind} with {event['job_count']} job(s) running, active {event['active']}")
            if kind == "job_abort" and event.get("by") != "crash":
                found.append(f"{name}: job {event['job']} aborted by {event.get('by')}")
            if kind == "job_cancel":
                found.append(f"{name}: job {event['job']} cancelled with no cancel policy asked")
            if kind == "start_refused":
                found.append(f"{name}: started against a database of another version ({event})")
    upgrades = [e for e in group.timeline.since(0) if e["event"] == "db_upgrade"]
    if len(upgrades) > 1:
        found.append(f"the database was upgraded {len(upgrades)} times")
    for upgrade in upgrades:
        if any(cell["running"] or cell["version"] != NEW for cell in upgrade["cells"].values()):
            found.append(f"the database was upgraded with cells running or not on {NEW}: {upgrade['cells']}")
    if isinstance(group, ApplianceGroup):
        found += cluster_violations(group)
    return found


def cluster_violations(group):
    """
    What the appliances' cluster timeline says went wrong: a hazard the simulator names (two primaries,
    a primary installed or rebooted with failover Automatic, an appliance rebooted with no primary), an
    unplanned failover, two database nodes down at once.
    """
    found, down = [], set()
    for event in sorted(group.timeline.since(0), key=lambda event: (event["t"], event["seq"])):
        kind = event["event"]
        if kind == "hazard":
            found.append(f"the cluster met {event['kind']} ({event})")
        if kind == "unplanned_failover":
            found.append(f"an unplanned failover promoted {event['promoted']} (the primary was {event['previous']})")
        if kind == "reboot" and event["role"] != "CELL":
            if down:
                found.append(f"{event['node']} rebooted while the database node(s) {sorted(down)} were down")
            down.add(event["node"])
        if kind == "boot":
            down.discard(event["node"])
    return found


def lease_dir(root, name):
    return root / "minions" / name / "cache" / "vcd_cell"


def keeper_alive(root, name):
    """Whether a live quiesce lease keeper holds ``name``'s lease (it will restore the cell)."""
    return lease.held_by_a_live_process(SimpleNamespace(lease_dir=str(lease_dir(root, name))), lease.KEEPER_LOCK)


def run_violations(returned, group, root):
    """What is wrong when a run ends: its return, and the cells it left (on appliances, the failover mode)."""
    found = []
    left_manual = isinstance(group, ApplianceGroup) and group.failover != AUTOMATIC
    if returned is not None and left_manual and "failover" not in returned.get("comment", "").lower():
        found.append(f"the run left failover {group.failover}, and its return does not name it as what to set")
    if returned is not None and returned.get("result") is not True:
        comment = returned.get("comment", "")
        if "Stopped at " not in comment and "Nothing was touched" not in comment:
            found.append(f"a failed run's return names no cell and step: {comment!r}")
        if "again" not in comment and "apply vcd.active" not in comment and "Nothing was touched" not in comment:
            found.append(f"a failed run's return says no command that goes on: {comment!r}")
    if returned is not None and "Traceback" in json.dumps(returned):
        found.append("a traceback in the run's return")
    for cell in group.cells:
        snapshot, name = cell.snapshot(), cell.config.cell_name
        held = (snapshot["quiesced"] or snapshot["maintenance_mode"]) and snapshot["service"] == "running"
        if held and not keeper_alive(root, name):
            found.append(f"{name} left quiesced or in maintenance mode with no live quiesce lease to restore it")
    return found


def finished_violations(plan, group, root):
    """What is wrong once the re-runs are over: every cell serving, and nothing left behind."""
    found = []
    for cell in group.cells:
        snapshot, name = cell.snapshot(), cell.config.cell_name
        if (snapshot["service"], snapshot["quiesced"], snapshot["maintenance_mode"]) != ("running", False, False):
            found.append(f"{name} is {snapshot['service']}, quiesced {snapshot['quiesced']}, not serving")
        if plan.orchestration == "upgrade" and cell.installed_version != NEW:
            found.append(f"{name} runs vCD {cell.installed_version}, not {NEW}")
        if plan.orchestration == "rolling" and not _rebooted_once(group, cell):
            found.append(f"{name} was never rebooted: not maintained")
        if (lease_dir(root, name) / lease.LEASE_FILE).exists():
            found.append(f"{name} still has a quiesce lease")
    if plan.orchestration == "upgrade" and group.schema_version != NEW:
        found.append(f"the database is on {group.schema_version}, not {NEW}")
    if isinstance(group, ApplianceGroup):
        cluster = group.cluster()
        if (cluster["localClusterHealth"], cluster["localClusterFailover"]) != ("HEALTHY", AUTOMATIC):
            found.append(f"the cluster is {cluster['localClusterHealth']}, failover {cluster['localClusterFailover']}")
    records = root / "master" / "cache"
    # A lock file is no record (the windows' claims are changed under one).
    left = [str(p.relative_to(records)) for p in records.rglob("*") if p.is_file() and p.suffix != ".lock"]
    left = left if records.exists() else []
    # The runs' reports stay, on purpose: the newest says the window was done.
    reports = sorted(name for name in left if name.startswith(f"{journals.DIRECTORY}/"))
    left = [name for name in left if name not in reports]
    if left:
        found.append(f"records left in the master's cache: {left}")
    found += _last_report_done(records, reports)
    return found


def _last_report_done(records, reports):
    """What is wrong with the newest run's report: none, or its journal not ending with the run done."""
    journals_kept = [name for name in reports if name.endswith(journals.JOURNAL)]
    if not journals_kept:
        return ["no run left its report"]
    newest = max(journals_kept, key=lambda name: (records / name).stat().st_mtime)
    last = json.loads((records / newest).read_text().splitlines()[-1])
    if last["tag"] != "run/finish" or last["data"].get("result") is not True:
        return [f"the newest report's journal ({newest}) ends with {last['tag']}, not the run done"]
    if not (records / newest.replace(journals.JOURNAL, journals.REPORT)).is_file():
        return [f"the journal {newest} has no report beside it"]
    return []


def _rebooted_once(group, cell):
    """Whether the host of ``cell`` booted again (an appliance's boots are on the cluster's timeline)."""
    if isinstance(group, ApplianceGroup):
        name = cell.config.cell_name
        return any(e["event"] == "boot" and e["node"] == name for e in group.timeline.since(0))
    return any(e["event"] == "boot" for e in cell.events())


@dataclass
class Outcome:
    runs: list = field(default_factory=list)
    violations: list = field(default_factory=list)


def play(case, at, servers, group, cells, root):
    """Arm the case's fault at ``at``, run, clear, run again (at most RERUNS times); the :class:`Outcome`."""
    execution, cell = at
    fault = {"step": case.step, "execution": execution, "cell": cell, "kind": case.kind.name, "arm": case.kind.arm}
    outcome = Outcome()
    returned, _ = run_once(case.plan, cells, root, fault)
    outcome.runs.append(returned)
    outcome.violations += run_violations(returned, group, root)
    if case.kind.name in AS_IF_ALONE:
        outcome.violations += alone_violations(returned, root)
    for served in servers.values():
        served.cell.cell.clear_faults()
    # As an operator would, once told a host is not back yet: wait for it (a slow reboot ends by itself).
    wait_for(
        lambda: all(served.cell.cell.host_up() for served in servers.values()),
        "every host to be back from its reboot",
        deadline=SLOW_REBOOT_SECONDS + STEP_TIMEOUT,
    )
    for _ in range(RERUNS):
        if returned is not None and returned.get("result") is True:
            break
        returned, _ = run_once(case.plan, cells, root)
        outcome.runs.append(returned)
        outcome.violations += run_violations(returned, group, root)
    if returned is None or returned.get("result") is not True:
        outcome.violations.append(f"no run finished in {RERUNS} re-runs: the last said {returned}")
    outcome.violations += timeline_violations(group)
    outcome.violations += finished_violations(case.plan, group, root)
    return outcome


def alone_violations(returned, root):
    """
    What is wrong after a second run was started beside the first: the second not refused at once with
    a return naming the run that holds the cells, or the first not finished as if alone.
    """
    found = []
    second = root / SECOND
    if not second.exists():
        return ["no second run returned"]
    refused = json.loads(second.read_text())
    comment = refused.get("comment", "")
    if refused.get("result") is not False or refused.get("cells") != {} or refused.get("retcode") != 1:
        found.append(f"the second run was not refused: {refused}")
    if " held by run " not in comment or "Nothing was touched" not in comment or "vcd_watch.follow" not in comment:
        found.append(f"the second run's refusal names no run holding the cells, or touched them: {comment!r}")
    if returned is None or returned.get("result") is not True:
        found.append(f"the first run did not finish as if alone: {returned}")
    return found


def case_root(base, case):
    return pathlib.Path(base) / case.id.replace("/", "_")
