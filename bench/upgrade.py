"""
The upgrade window of a server group of three cells: `salt-run state.orchestrate orch.vcd_upgrade` on a
real master and minions, against VMware's documented procedure done by hand, cell by cell, with the
stub tools, on the same fake group and job times.

The hand procedure is what an operator scripts from the guide: on each cell in turn, quiesce, poll
``cell --status`` every 10 s until 0 jobs and an inactive scheduler, shut down; then run the installer on
each cell; then the database upgrade once; then start each cell and wait until it serves.

*Window*: from the first quiesce to the last cell serving again. *Outage*: while no cell served at all.
*Overhead per cell* (the orchestration only): its whole run less what no procedure could avoid (the
longest drain: its quiesce, jobs, confirming reading and shutdown; the longest install; the database
upgrade; the slowest start), over the number of cells.
"""

import contextlib
import json
import pathlib
import subprocess
import tempfile
import time

import requests

from bench import floor
from bench.report import median, table
from demo.lab import REPO, SaltLab
from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig
from simulator.pillar import write_installer, write_tool_wrappers
from simulator.server import CellServer

CELLS = ("cell1", "cell2", "cell3")
OLD, NEW = "10.5.0", "10.6.0"
JOB_SECONDS = (2.0, 4.0)
CELL = {"cli_delay": floor.TOOL_START, "start_seconds": 2.0, "install_seconds": 3.0, "version": "8.10"}
HAND_POLL_SECONDS = 10.0
HEALTH_POLL_SECONDS = 1.0
DEADLINE = 600


def fresh_group(servers):
    cells = []
    for name, server in servers.items():
        cell = server.replace_cell(Cell(CellConfig(cell_name=name, installed_version=OLD, **CELL)))
        for seconds in JOB_SECONDS:
            cell.add_job(seconds=seconds, name="vappDeploy")
        cells.append(cell)
    return ServerGroup(cells)


def measured(group):
    """(window, outage) in seconds, read off the cells' timelines."""
    events = [(cell.epoch + e["t"], e["event"]) for cell in group.cells for e in cell.events()]
    marks = sorted((when, event) for when, event in events if event in ("shutdown", "serving"))
    first_quiesce = min(when for when, event in events if event == "quiesce")
    cells = group.cells
    serving, outage_from, outage = len(cells), None, 0.0
    for when, event in marks:
        serving += -1 if event == "shutdown" else 1
        if serving == 0:
            outage_from = when
        elif outage_from is not None:
            outage, outage_from = outage + when - outage_from, None
    return marks[-1][0] - first_quiesce, outage


def unavoidable(group):
    """
    Seconds the upgrade could not go faster, whoever runs it: the longest drain, the longest install, the
    database upgrade (the utility's run) and the slowest start.
    """
    cells = group.cells
    installs = [floor.times(c, "install")[-1] - _last_run(c, "vmware-vcloud-director-distribution.bin") for c in cells]
    (upgraded,) = [e for e in group.timeline.since(0) if e["event"] == "db_upgrade"]
    runner = group.cell(upgraded["by"])
    database = cells[0].epoch + upgraded["t"] - (runner.epoch + _last_run(runner, "upgrade"))
    drains = [floor.drain(c, CELL["cli_delay"]) for c in cells]
    return max(drains) + max(installs) + database + max(floor.start(c) for c in cells)


def _last_run(cell, tool):
    return [e["t"] for e in cell.events() if e["event"] == "cli" and e["tool"] == tool][-1]


def salt_upgrade(lab, servers):
    """(window, outage, overhead per cell) of ``orch.vcd_upgrade`` over the cells behind ``servers``."""
    group = fresh_group(servers)
    pillar = json.dumps({"vcd_upgrade": {"cells": list(servers), "version": NEW, "backup_completed": True}})
    command = lab.command("salt-run", "--out", "json", "state.orchestrate", "orch.vcd_upgrade", f"pillar={pillar}")
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=DEADLINE)
    total = time.monotonic() - started
    assert group.schema_version == NEW and all(c.installed_version == NEW for c in group.cells)
    return (*measured(group), (total - unavoidable(group)) / len(servers))


def _tool(path, *args, answers=""):
    return subprocess.run([path, *args], input=answers, capture_output=True, text=True, timeout=DEADLINE)


def hand_upgrade(servers, tools):
    """The documented procedure, cell by cell, as an operator's script runs it."""
    group = fresh_group(servers)
    for name in CELLS:
        pid = _tool(tools[name]["cell_script"], "pid").stdout.strip()
        cmt = [tools[name]["cmt_path"], "cell", "-i", pid]
        _tool(*cmt, "--quiesce", "true")
        while "Job count = 0" not in (out := _tool(*cmt, "--status").stdout) or "Is Active = false" not in out:
            time.sleep(HAND_POLL_SECONDS)
        _tool(*cmt, "--shutdown")
    for name in CELLS:
        _tool(tools[name]["installer"], answers="y\nn\n")
    _tool(tools["cell1"]["upgrade_tool"], "--backup-completed", answers="y\nn\n")
    for name in CELLS:
        _tool(tools[name]["cell_script"], "start")
        while requests.get(servers[name].url + "/cloud/server_status", timeout=30).status_code != 200:
            time.sleep(HEALTH_POLL_SECONDS)
    assert group.schema_version == NEW
    return (*measured(group), None)


def main(repeats):
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = pathlib.Path(tmp)
        servers = {name: stack.enter_context(CellServer(Cell(CellConfig(cell_name=name)))) for name in CELLS}
        tools = {
            name: dict(
                write_tool_wrappers(root / "hand" / name, server.url),
                installer=write_installer(root / "hand" / name, server.url, NEW),
            )
            for name, server in servers.items()
        }
        settings = {name: {"installer": tools[name]["installer"]} for name in CELLS}
        lab = stack.enter_context(SaltLab(root / "salt", servers, file_roots=[REPO / "states"], settings=settings))
        runs = {"orch.vcd_upgrade": [], "by hand, cell by cell": []}
        for _ in range(repeats):
            runs["orch.vcd_upgrade"].append(salt_upgrade(lab, servers))
            runs["by hand, cell by cell"].append(hand_upgrade(servers, tools))
    result = {}
    for name, got in runs.items():
        window, outage, per_cell = (median(list(values)) for values in zip(*got, strict=True))
        result[name] = {"window": window, "outage": outage, "per_cell": per_cell}
    table(
        f"Upgrade of {len(CELLS)} cells sharing a database (jobs of {', '.join(f'{s:g}' for s in JOB_SECONDS)} s "
        f"per cell, a tool start of {CELL['cli_delay']:g} s, an install of {CELL['install_seconds']:g} s, "
        f"a start of {CELL['start_seconds']:g} s): medians of {repeats} runs (seconds)",
        ["procedure", "window (first quiesce to all serving)", "outage (no cell serving)", "overhead per cell"],
        [[name, r["window"], r["outage"], r["per_cell"]] for name, r in result.items()],
    )
    return result
