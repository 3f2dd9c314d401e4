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

from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig
from simulator.pillar import vcd_cell_pillar, write_installer
from tests.support import REPO, load_salt_module

sys.path.insert(0, str(REPO / "_utils"))

import _vcd_cell_lease as lease  # noqa: E402
import _vcd_upgrade_steps as upgrade_steps  # noqa: E402

CELLS = ("f-1", "f-2", "f-3")
ADMIN_PASSWORD = "vmware-Adm1n"
OLD, NEW = "10.5.0", "10.6.0"
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
    """A fault kind: what it arms on the simulator, and what a step must meet on the cell for it to apply."""

    name: str
    arm: dict | None
    applies: object


def _ran_tools(seen):
    return bool(seen["tools"])


def _served_rest(seen):
    return seen["requests"]["rest"] > 0


def _rebooted(seen):
    return "reboot" in seen["tools"]


KINDS = (
    Kind("tool-fails-once", {"tool": "any", "mode": "fail-once"}, _ran_tools),
    Kind("tool-fails-always", {"tool": "any", "mode": "fail-always"}, _ran_tools),
    Kind("tool-hangs", {"tool": "any", "mode": "hang"}, _ran_tools),
    Kind("crash", None, lambda seen: seen["running"]),
    Kind("rest-unavailable", {"api": "rest", "mode": "unavailable", "seconds": OUTAGE_SECONDS}, _served_rest),
    Kind("rest-silent", {"api": "rest", "mode": "silent", "seconds": OUTAGE_SECONDS}, _served_rest),
    Kind("reboot-slow", {"reboot": "slow", "seconds": SLOW_REBOOT_SECONDS}, _rebooted),
    Kind("reboot-never", {"reboot": "never"}, _rebooted),
    Kind("job-lost", None, lambda seen: True),
    Kind("runner-killed", None, lambda seen: True),
)


# -- the plans ---------------------------------------------------------------------------------------


def _rolling_steps():
    rolling = load_salt_module("_runners/vcd_rolling.py", "faults_vcd_rolling")
    return [name for name, _ in rolling._steps(None, True, True)]  # pylint: disable=protected-access


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
        "cell_pillar": {"vcd_cell": {"drain": {"timeout": STEP_TIMEOUT, "interval": 1}}},
    }
    return (
        Plan(
            "upgrade",
            "linux",
            tuple(name for name, _ in upgrade_steps.LINUX_STEPS),
            dict(common, version=NEW, backup_completed=True),
        ),
        Plan("rolling", "linux", tuple(_rolling_steps()), dict(common, batch=1, min_active=1, reboot=True)),
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
    """Every case, in a stable order."""
    return [
        Case(plan, step, moment, kind)
        for plan in plans()
        for step in plan.steps
        for moment in MOMENTS
        for kind in KINDS
    ]


@dataclass(frozen=True)
class Slot:
    """
    One place of the sample: the first case of ``kind`` that applies, from the case of ``plan`` at
    ``offset`` on (the offset rotating with the commit), then on the other plans (a reboot fault applies
    only where a plan reboots).
    """

    plan: Plan
    kind: Kind
    offset: int

    @property
    def id(self):
        return f"sample/{self.plan.id}/{self.kind.name}"

    def candidates(self, all_cases):
        found = []
        for plan in sorted(plans(), key=lambda plan: plan != self.plan):
            of_kind = [case for case in all_cases if case.plan == plan and case.kind == self.kind]
            start = self.offset % len(of_kind)
            found += of_kind[start:] + of_kind[:start]
        return found


def select(all_cases, selector, commit):
    """
    ``selector``: ``all``, ``sample`` (for ``make test``: one :class:`Slot` per fault kind, the plans
    taking turns, the step and moment rotating with ``commit``, so successive commits run every case), or
    a case id or prefix.
    """
    if selector == "all":
        return all_cases
    if selector == "sample":
        seed = int(hashlib.sha256(commit.encode()).hexdigest(), 16)
        every = plans()
        return [Slot(every[(seed + index) % len(every)], kind, seed // 7) for index, kind in enumerate(KINDS)]
    chosen = [case for case in all_cases if case.id.startswith(selector)]
    if not chosen:
        raise ValueError(f"no fault case is {selector!r} or starts so")
    return chosen


# -- the fake server group ---------------------------------------------------------------------------


def fresh_group(servers, jobs=(0.3, 0.6)):
    """A new server group behind ``servers`` (``{id: CellServer}``), each cell with ``jobs`` running."""
    cells = []
    for name, server in servers.items():
        cell = server.replace_cell(
            Cell(CellConfig(cell_name=name, admin_password=ADMIN_PASSWORD, installed_version=OLD, reboot_seconds=0.5))
        )
        for seconds in jobs:
            cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
        cells.append(cell)
    return ServerGroup(cells)


def cell_settings(servers, tools_root):
    return {
        name: {
            "url": server.url,
            "settings": vcd_cell_pillar(
                server,
                tools_root / name,
                cli_timeout=CLI_TIMEOUT,
                installer=write_installer(tools_root / name / "installer", server.url, NEW),
            ),
        }
        for name, server in servers.items()
    }


def run_once(plan, cells, root, fault=None):
    """One run in its own process; ``(its return or None when it was killed, its trace)``."""
    spec = {
        "orchestration": plan.orchestration,
        "kwargs": plan.kwargs,
        "cells": cells,
        "root": str(root),
        "fault": fault,
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
    return found


def lease_dir(root, name):
    return root / "minions" / name / "cache" / "vcd_cell"


def keeper_alive(root, name):
    """Whether a live quiesce lease keeper holds ``name``'s lease (it will restore the cell)."""
    return lease.held_by_a_live_process(SimpleNamespace(lease_dir=str(lease_dir(root, name))), lease.KEEPER_LOCK)


def run_violations(returned, group, root):
    """What is wrong when a run ends: its return, and the cells it left."""
    found = []
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
        if plan.orchestration == "rolling" and not [e for e in cell.events() if e["event"] == "boot"]:
            found.append(f"{name} was never rebooted: not maintained")
        if (lease_dir(root, name) / lease.LEASE_FILE).exists():
            found.append(f"{name} still has a quiesce lease")
    if plan.orchestration == "upgrade" and group.schema_version != NEW:
        found.append(f"the database is on {group.schema_version}, not {NEW}")
    records = root / "master" / "cache"
    left = [str(p.relative_to(records)) for p in records.rglob("*") if p.is_file()] if records.exists() else []
    if left:
        found.append(f"records left in the master's cache: {left}")
    return found


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
    for server in servers.values():
        server.cell.clear_faults()
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


def case_root(base, case):
    return pathlib.Path(base) / case.id.replace("/", "_")
