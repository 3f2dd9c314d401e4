"""
Rollout overhead: a 3-cell `salt-run state.orchestrate orch.vcd_rolling` on a real master and minions,
against the time it cannot avoid: each cell's jobs ending after its quiesce, and each cell starting.
The fake tool starts instantly here, so what is left is Salt's and the runner's own overhead.
"""

import contextlib
import json
import pathlib
import subprocess
import tempfile
import time

from bench.report import median, table
from demo.lab import REPO, SaltLab
from simulator.model import Cell, CellConfig
from simulator.server import CellServer

CELLS = ("cell1", "cell2", "cell3")
JOB_SECONDS = 2.0
START_SECONDS = 2.0


def unavoidable(cell):
    """Seconds this cell's rollout could not go faster: its jobs after the quiesce, and its start."""
    events = {e["event"]: e["t"] for e in cell.events()}
    jobs = max(0.0, events["job_end"] - events["quiesce"])
    return jobs + (events["serving"] - events["start"])


def one_rollout(lab, servers):
    cells = {}
    for name, server in servers.items():
        cells[name] = server.replace_cell(Cell(CellConfig(cell_name=name, start_seconds=START_SECONDS)))
        cells[name].add_job(seconds=JOB_SECONDS, name="vappDeploy")
    pillar = json.dumps({"vcd_rolling": {"cells": list(CELLS)}})
    started = time.monotonic()
    command = lab.command("salt-run", "--out", "json", "state.orchestrate", "orch.vcd_rolling", f"pillar={pillar}")
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    total = time.monotonic() - started
    floor = sum(unavoidable(cell) for cell in cells.values())
    return {"total": total, "unavoidable": floor, "per_cell": (total - floor) / len(CELLS)}


def main(repeats):
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(CellServer(Cell(CellConfig(cell_name=name)))) for name in CELLS}
        # The installed extension provides the modules: the master serves only the SLS files.
        lab = stack.enter_context(SaltLab(pathlib.Path(tmp), servers, file_roots=[REPO / "states"]))
        runs = [one_rollout(lab, servers) for _ in range(repeats)]
    result = {key: median([r[key] for r in runs]) for key in ("total", "unavoidable", "per_cell")}
    table(
        f"Rollout of {len(CELLS)} cells (jobs of {JOB_SECONDS:g} s, start {START_SECONDS:g} s): "
        f"medians of {repeats} runs (seconds)",
        ["whole rollout", "unavoidable", "overhead per cell"],
        [[result["total"], result["unavoidable"], result["per_cell"]]],
    )
    return result
