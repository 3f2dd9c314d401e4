"""
Rollout overhead: a 3-cell `salt-run state.orchestrate orch.vcd_rolling` on a real master and minions,
against the time it cannot avoid: each cell's drain (its quiesce, the jobs still running after it, a
confirming reading and the shutdown, on a tool that takes 1.5 s to start) and each cell's start. What is
left is Salt's, the runner's and the states' own overhead.
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
from simulator.model import Cell, CellConfig
from simulator.server import CellServer

CELLS = ("cell1", "cell2", "cell3")
JOB_SECONDS = 2.0
START_SECONDS = 2.0
# The tool reads and sets the scheduler on 10.5; the cells API does on 10.5.1 (no tool start for it).
VERSIONS = {"10.5 (the tool)": "10.5", "10.5.1 (the cells API)": "10.5.1"}


def unavoidable(cell):
    """Seconds this cell's rollout could not go faster: its drain and its start."""
    by_api = any(e.get("via") == "api" for e in cell.events() if e["event"] == "quiesce")
    return floor.drain(cell, floor.TOOL_START, quiesce_by_tool=not by_api) + floor.start(cell)


def one_rollout(lab, servers, version, batch=1):
    """The whole rollout of the cells behind ``servers``, ``batch`` at a time, and what it could not avoid."""
    cells = {}
    for name, server in servers.items():
        config = CellConfig(cell_name=name, version=version, start_seconds=START_SECONDS, cli_delay=floor.TOOL_START)
        cells[name] = server.replace_cell(Cell(config))
        cells[name].add_job(seconds=JOB_SECONDS, name="vappDeploy")
    pillar = json.dumps({"vcd_rolling": {"cells": list(servers), "batch": batch}})
    started = time.monotonic()
    command = lab.command("salt-run", "--out", "json", "state.orchestrate", "orch.vcd_rolling", f"pillar={pillar}")
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    total = time.monotonic() - started
    # The cells of a batch go down together: a batch takes as long as its slowest cell.
    order = list(cells.values())
    least = sum(max(unavoidable(cell) for cell in order[i : i + batch]) for i in range(0, len(order), batch))
    return {"total": total, "unavoidable": least, "per_cell": (total - least) / len(cells)}


def main(repeats):
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(CellServer(Cell(CellConfig(cell_name=name)))) for name in CELLS}
        # The installed extension provides the modules: the master serves only the SLS files.
        lab = stack.enter_context(SaltLab(pathlib.Path(tmp), servers, file_roots=[REPO / "states"]))
        runs = {name: [one_rollout(lab, servers, v) for _ in range(repeats)] for name, v in VERSIONS.items()}
    result = {
        name: {key: median([r[key] for r in got]) for key in ("total", "unavoidable", "per_cell")}
        for name, got in runs.items()
    }
    table(
        f"Rollout of {len(CELLS)} cells (jobs of {JOB_SECONDS:g} s, a tool start of {floor.TOOL_START:g} s, "
        f"a start of {START_SECONDS:g} s): medians of {repeats} runs (seconds)",
        ["cells", "whole rollout", "unavoidable", "overhead per cell"],
        [[name, r["total"], r["unavoidable"], r["per_cell"]] for name, r in result.items()],
    )
    return result
