"""
The upgrade of a group of three vCD appliances (a primary, a standby, a cell-type one) by `salt-run
state.orchestrate orch.vcd_upgrade` on a real master and minions, on its appliance route.

*Overhead per appliance*: the whole run less what no procedure could avoid, over the number of
appliances. Unavoidable: the longest drain (its quiesce, jobs, confirming reading and shutdown), the
installs (``vamicli update --repo``, ``--check`` and ``--install`` on the primary, then the longest of the
others: VMware has the primary go first), the database
upgrade (the utility's run), and the reboots (the primary's, from its reboot to its cell serving, then
the longest of the others').
"""

import contextlib
import json
import pathlib
import subprocess
import tempfile
import time

from bench import floor
from bench.report import median, table
from demo.lab import REPO, SaltLab
from simulator.appliance import appliance_group
from simulator.pillar import write_update_package
from simulator.server import ApplianceServer, CellServer

ROLES = {"vcd1": "primary", "vcd2": "standby", "vcd3": "cell"}
OLD, NEW = "10.5.0", "10.6.0"
JOB_SECONDS = (2.0, 4.0)
CELL = {"cli_delay": floor.TOOL_START, "start_seconds": 2.0, "install_seconds": 3.0, "version": "8.10"}
REBOOT_SECONDS = 3.0
DEADLINE = 600


def fresh_group(servers, roles=ROLES):
    """A new appliance group of ``roles`` behind their servers, each cell with the jobs running."""
    group = appliance_group(
        roles, appliances={name: {"reboot_seconds": REBOOT_SECONDS} for name in roles}, installed_version=OLD, **CELL
    )
    for appliance in group.appliances:
        servers[appliance.name]["cell"].replace_cell(appliance.cell)
        servers[appliance.name]["api"].replace_appliance(appliance)
        for seconds in JOB_SECONDS:
            appliance.cell.add_job(seconds=seconds, name="vappDeploy")
    return group


def _cluster(group, kind):
    """``{node: the time of its last ``kind`` event}`` on the cells' axis (that of the first cell)."""
    return {e["node"]: e["t"] for e in group.timeline.since(0) if e["event"] == kind}


def _back(group, appliance):
    """Seconds from the appliance's reboot to its cell serving."""
    rebooted = group.cells[0].epoch + _cluster(group, "reboot")[appliance.name]
    return appliance.cell.epoch + floor.times(appliance.cell, "serving")[-1] - rebooted


def _install(appliance):
    """Seconds of VMware's install steps on the appliance: from ``vamicli update --repo`` to the end of the install."""
    cell = appliance.cell
    repo = [e["started"] for e in cell.events() if e["event"] == "cli" and e["argv"][:2] == ["update", "--repo"]][-1]
    return floor.times(cell, "install")[-1] + CELL["install_seconds"] - repo


def unavoidable(group):
    cells = group.cells
    primary, *others = group.appliances
    drains = [floor.drain(cell, CELL["cli_delay"]) for cell in cells]
    installs = _install(primary) + max(_install(other) for other in others)
    (upgraded,) = [e for e in group.timeline.since(0) if e["event"] == "db_upgrade"]
    upgrade_run = [e["t"] for e in cells[0].events() if e["event"] == "cli" and e["tool"] == "upgrade"][-1]
    database = upgraded["t"] - upgrade_run
    reboots = _back(group, primary) + max(_back(group, other) for other in others)
    return max(drains) + installs + database + reboots


def salt_upgrade(lab, servers, roles=ROLES):
    """(whole run, unavoidable, overhead per appliance) of ``orch.vcd_upgrade`` over the appliances ``roles``."""
    group = fresh_group(servers, roles)
    pillar = json.dumps({"vcd_upgrade": {"cells": list(roles), "version": NEW, "backup_completed": True}})
    command = lab.command("salt-run", "--out", "json", "state.orchestrate", "orch.vcd_upgrade", f"pillar={pillar}")
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE)
    total = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"The appliance upgrade failed:\n{done.stdout[-3000:]}")
    assert group.schema_version == NEW and all(cell.installed_version == NEW for cell in group.cells)
    assert not [e for e in group.timeline.since(0) if e["event"] in ("hazard", "unplanned_failover")]
    floor_seconds = unavoidable(group)
    return total, floor_seconds, (total - floor_seconds) / len(roles)


def main(repeats):
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = pathlib.Path(tmp)
        first = appliance_group(ROLES)
        servers = {
            a.name: {"cell": stack.enter_context(CellServer(a.cell)), "api": stack.enter_context(ApplianceServer(a))}
            for a in first.appliances
        }
        package = write_update_package(root / "local-update-package", NEW, "24000000")
        settings = {name: {"appliance": server["api"], "update_repo": package} for name, server in servers.items()}
        cells = {name: server["cell"] for name, server in servers.items()}
        lab = stack.enter_context(SaltLab(root / "salt", cells, file_roots=[REPO / "states"], settings=settings))
        runs = [salt_upgrade(lab, servers) for _ in range(repeats)]
    total, floor_seconds, per_appliance = (median(list(values)) for values in zip(*runs, strict=True))
    result = {"total": total, "unavoidable": floor_seconds, "per_appliance": per_appliance}
    table(
        f"Upgrade of {len(ROLES)} vCD appliances (primary, standby, cell; jobs of "
        f"{', '.join(f'{s:g}' for s in JOB_SECONDS)} s per cell, a tool start of {CELL['cli_delay']:g} s, an "
        f"install of {CELL['install_seconds']:g} s, a reboot of {REBOOT_SECONDS:g} s, a start of "
        f"{CELL['start_seconds']:g} s): medians of {repeats} runs (seconds)",
        ["procedure", "whole run", "unavoidable", "overhead per appliance"],
        [["orch.vcd_upgrade, appliance route", total, floor_seconds, per_appliance]],
    )
    return result
