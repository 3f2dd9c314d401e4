"""
Overhead of the state on a cell with nothing to do: `salt-call --local state.apply vcd.drained` on a
stopped cell against `salt-call --local test.ping`, alternating, each a fresh process as users run it.
"""

import pathlib
import subprocess
import sys
import tempfile
import time

import yaml

from bench.report import median, table
from simulator.model import Cell, CellConfig
from simulator.pillar import vcd_cell_pillar
from simulator.server import CellServer

REPO = pathlib.Path(__file__).resolve().parents[1]
SALT_CALL = str(pathlib.Path(sys.executable).parent / "salt-call")


def write_config(root, server):
    # The installed extension provides the modules (pip install .): file_roots serve only the SLS files.
    config = {"root_dir": str(root), "file_client": "local", "file_roots": {"base": [str(REPO / "states")]}}
    config.update(vcd_cell_pillar(server, root / "tools"))
    (root / "minion").write_text(yaml.safe_dump(config))


def timed(root, *args):
    started = time.monotonic()
    subprocess.run([SALT_CALL, "--local", "--config-dir", str(root), *args], check=True, capture_output=True)
    return time.monotonic() - started


def main(repeats):
    with tempfile.TemporaryDirectory() as tmp, CellServer(Cell(CellConfig(cell_name="cell1"))) as server:
        server.cell.shutdown()
        root = pathlib.Path(tmp)
        write_config(root, server)
        timed(root, "test.ping")  # warm the caches both commands share
        drained, ping = [], []
        for _ in range(repeats):
            drained.append(timed(root, "state.apply", "vcd.drained"))
            ping.append(timed(root, "test.ping"))
    ratio = median(drained) / median(ping)
    table(
        f"Overhead on a stopped cell: medians of {repeats} runs (seconds)",
        ["command", "median", "ratio to test.ping"],
        [
            ["salt-call --local state.apply vcd.drained", median(drained), ratio],
            ["salt-call --local test.ping", median(ping), 1.0],
        ],
    )
    return {"drained": median(drained), "ping": median(ping), "ratio": ratio}
