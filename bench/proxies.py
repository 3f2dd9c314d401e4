"""
vCenter proxies over a rollout: three cells of one server group, two vCenters whose VC proxies run on
the first cell, taken through `salt-run state.orchestrate orch.vcd_rolling` on a real master and minions,
with and without ``vcenter_reconnect``. Measured: how long each vCenter had no live proxy (its work
stalled), read off the group's timeline; the heartbeat failover timeout is shortened to
:data:`HEARTBEAT_SECONDS` (vCD's default is 300 s) so the run without the reconnect ends in reasonable
time.
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
from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig
from simulator.server import CellServer

CELLS = ("cell1", "cell2", "cell3")
VCENTERS = ("vc1.example.com", "vc2.example.com")
HEARTBEAT_SECONDS = 30.0
DEADLINE = 600


def one_rollout(lab, servers, reconnect):
    cells = []
    for name, server in servers.items():
        config = CellConfig(cell_name=name, start_seconds=2.0, cli_delay=floor.TOOL_START)
        cells.append(server.replace_cell(Cell(config)))
    group = ServerGroup(cells)
    group.heartbeat_seconds = HEARTBEAT_SECONDS
    for vcenter in VCENTERS:
        group.add_vcenter(vcenter, "cell1")
    pillar = json.dumps({"vcd_rolling": {"cells": list(CELLS), "vcenter_reconnect": reconnect}})
    command = lab.command("salt-run", "--out", "json", "state.orchestrate", "orch.vcd_rolling", f"pillar={pillar}")
    subprocess.run(command, check=True, capture_output=True, timeout=DEADLINE)
    deadline = time.monotonic() + DEADLINE
    while not all(v["live"] for v in group.vcenter_records()):
        if time.monotonic() >= deadline:
            raise SystemExit("A vCenter's proxy never came back")
        time.sleep(0.5)
    losses = group.without_proxy()
    return {
        "longest": max(max(spans) for spans in losses.values()),
        "total": sum(sum(spans) for spans in losses.values()) / len(VCENTERS),
    }


def main(repeats):
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(CellServer(Cell(CellConfig(cell_name=name)))) for name in CELLS}
        lab = stack.enter_context(SaltLab(pathlib.Path(tmp), servers, file_roots=[REPO / "states"]))
        runs = {
            "vcenter_reconnect: true": [one_rollout(lab, servers, True) for _ in range(repeats)],
            "vcenter_reconnect: false": [one_rollout(lab, servers, False) for _ in range(repeats)],
        }
    result = {name: {key: median([r[key] for r in got]) for key in ("longest", "total")} for name, got in runs.items()}
    table(
        f"vCenter proxies over a rollout of {len(CELLS)} cells ({len(VCENTERS)} vCenters with their proxy on "
        f"cell1, a heartbeat failover of {HEARTBEAT_SECONDS:g} s): medians of {repeats} runs (seconds)",
        ["rollout", "longest time a vCenter had no live proxy", "time without a live proxy per vCenter"],
        [[name, r["longest"], r["total"]] for name, r in result.items()],
    )
    return result
