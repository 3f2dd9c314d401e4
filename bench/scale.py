"""
How the orchestrations' cost grows with the server group: the rollout (batch 1 and batch 2) and the
upgrade (Linux cells, then vCD appliances) over 3, 6 and 12 cells, each through `salt-run
state.orchestrate` on a real master with one real minion per cell, as the 3-cell benchmarks run them.

Each run is set against what it cannot avoid (the same floors as those benchmarks: the drains, the
jobs, the installs, the database upgrade, the reboots and the starts, read off the fake cells'
timelines), and what is left is divided by the cells: the overhead per cell. Targets: the overhead per
cell does not grow with the group (12 cells within 1.2 x of 3), and the upgrade's window grows by at
most 10 % from 3 to 12 cells (the cells are drained, installed and started together, so a bigger group
should take about as long).

Every fake cell, its minion and the master share this machine's cores, where a real group gives each cell
its own host: so each run also says what CPU it took, the orchestration's own (``salt-run``, on the
master) apart from the whole machine's (the cells' Salt jobs, their fake tools and servers, the master),
and how busy the machine's cores were meanwhile.
"""

import contextlib
import os
import pathlib
import resource
import tempfile
import time

import psutil

from bench import appliance, rollout, upgrade
from bench.report import median, table
from demo.lab import REPO, SaltLab
from simulator.appliance import appliance_group
from simulator.model import Cell, CellConfig
from simulator.pillar import write_installer, write_update_package
from simulator.server import ApplianceServer, CellServer

SIZES = (3, 6, 12)
# The cells API quiesces on 10.5.1: a rollout's floor is then its jobs and starts more than tool starts.
ROLLOUT_VERSION = "10.5.1"
OVERHEAD_GROWTH = 1.2
WINDOW_GROWTH = 1.10


def _measured(run):
    """``run()``'s result, with the CPU seconds of the machine and of the ``salt-run`` it waited for, and its time."""
    machine, runner, started = psutil.cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    result = run()
    seconds = time.monotonic() - started
    after, ran = psutil.cpu_times(), resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, {
        "machine_cpu": (after.user + after.system) - (machine.user + machine.system),
        "salt_run_cpu": (ran.ru_utime + ran.ru_stime) - (runner.ru_utime + runner.ru_stime),
        "busy": ((after.user + after.system) - (machine.user + machine.system)) / (seconds * os.cpu_count()),
    }


def _medians(runs):
    """The medians of each key of ``runs`` (dicts)."""
    return {key: median([run[key] for run in runs]) for key in runs[0]}


def _names(prefix, count):
    return [f"{prefix}{index:02d}" for index in range(1, count + 1)]


def _roles(count):
    """A primary and a standby hold the database; every other appliance is a cell-type one."""
    names = _names("vcd", count)
    return {name: ("primary" if i == 0 else "standby" if i == 1 else "cell") for i, name in enumerate(names)}


def _of(servers, names):
    return {name: servers[name] for name in names}


def _linux(root, stack, repeats):
    names = _names("cell", max(SIZES))
    servers = {name: stack.enter_context(CellServer(Cell(CellConfig(cell_name=name)))) for name in names}
    installers = {
        name: {"installer": write_installer(root / "installers" / name, s.url, upgrade.NEW)}
        for name, s in servers.items()
    }
    lab = stack.enter_context(SaltLab(root / "linux", servers, file_roots=[REPO / "states"], settings=installers))
    rows = {}
    for size in SIZES:
        group = _of(servers, names[:size])
        for batch in (1, 2):
            runs = []
            for _ in range(repeats):
                found, cpu = _measured(lambda: rollout.one_rollout(lab, group, ROLLOUT_VERSION, batch))  # noqa: B023
                runs.append(dict(found, **cpu))
            rows[(f"rollout, batch {batch}", size)] = dict(_medians(runs), window=None)
        runs = []
        for _ in range(repeats):
            (window, _, per_cell), cpu = _measured(lambda: upgrade.salt_upgrade(lab, group))  # noqa: B023
            runs.append(dict(total=None, window=window, per_cell=per_cell, **cpu))
        rows[("upgrade, Linux", size)] = _medians(runs)
    return rows


def _appliances(root, stack, repeats):
    roles = _roles(max(SIZES))
    first = appliance_group(roles)
    servers = {
        a.name: {"cell": stack.enter_context(CellServer(a.cell)), "api": stack.enter_context(ApplianceServer(a))}
        for a in first.appliances
    }
    package = write_update_package(root / "local-update-package", appliance.NEW, "24000000")
    settings = {name: {"appliance": server["api"], "update_repo": package} for name, server in servers.items()}
    cells = {name: server["cell"] for name, server in servers.items()}
    lab = stack.enter_context(SaltLab(root / "appliances", cells, file_roots=[REPO / "states"], settings=settings))
    rows = {}
    for size in SIZES:
        names = list(roles)[:size]
        runs = []
        for _ in range(repeats):
            (total, _, per_cell), cpu = _measured(
                lambda: appliance.salt_upgrade(lab, _of(servers, names), _of(roles, names))  # noqa: B023
            )
            runs.append(dict(total=total, window=total, per_cell=per_cell, **cpu))
        rows[("upgrade, appliances", size)] = _medians(runs)
    return rows


def verdicts(rows):
    """``{what: (measured, target, met)}`` for each orchestration."""
    small, big = min(SIZES), max(SIZES)
    found = {}
    for kind in dict.fromkeys(kind for kind, _ in rows):
        growth = rows[(kind, big)]["per_cell"] / rows[(kind, small)]["per_cell"]
        found[f"{kind}: overhead per cell, {big} cells against {small}"] = (growth, OVERHEAD_GROWTH)
        if kind.startswith("upgrade"):
            growth = rows[(kind, big)]["window"] / rows[(kind, small)]["window"]
            found[f"{kind}: window, {big} cells against {small}"] = (growth, WINDOW_GROWTH)
    return {what: (measured, target, measured <= target) for what, (measured, target) in found.items()}


def main(repeats):
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        with contextlib.ExitStack() as stack:
            rows = _linux(root, stack, repeats)
        with contextlib.ExitStack() as stack:
            rows.update(_appliances(root, stack, repeats))
    table(
        f"The orchestrations over {', '.join(map(str, SIZES))} cells, one minion each: medians of {repeats} "
        "run(s) (seconds; the window of an upgrade is from its first quiesce to its last cell serving, on "
        "appliances the whole run)",
        [
            "orchestration",
            "cells",
            "whole run",
            "window",
            "overhead per cell",
            "salt-run CPU",
            "machine CPU",
            "cores busy",
        ],
        [
            [
                kind,
                size,
                r["total"],
                r["window"],
                r["per_cell"],
                r["salt_run_cpu"],
                r["machine_cpu"],
                f"{r['busy']:.0%}",
            ]
            for (kind, size), r in rows.items()
        ],
    )
    print("\nTargets:")
    for what, (measured, target, met) in verdicts(rows).items():
        print(f"  {what}: {measured:.2f} x (at most {target:.2f} x): {'met' if met else 'NOT MET'}")
    small, big = min(SIZES), max(SIZES)
    for kind in dict.fromkeys(kind for kind, _ in rows):
        few, many = rows[(kind, small)], rows[(kind, big)]
        print(
            f"  {kind}: salt-run's CPU {few['salt_run_cpu']:.1f} s over {small} cells, {many['salt_run_cpu']:.1f} s "
            f"over {big}; the machine's cores {few['busy']:.0%} and {many['busy']:.0%} busy"
        )
    return rows
