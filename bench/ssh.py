"""
What salt-ssh costs per call, on a stopped cell (nothing to do): `salt-ssh cell1 test.ping`, the drain's
state run, and a module function through the `vcd_cell.call` state (how the orchestrations call the
cells with `ssh: true`), alternating, each a fresh salt-ssh process through OpenSSH on 127.0.0.1.
"""

import pathlib
import subprocess
import tempfile
import time

from bench.report import median, table
from demo.lab import BIN
from demo.ssh import SshLab
from simulator.model import Cell, CellConfig
from simulator.server import CellServer

COMMANDS = {
    "salt-ssh cell1 test.ping": ("test.ping",),
    "salt-ssh cell1 state.apply vcd.drained": ("state.apply", "vcd.drained"),
    "salt-ssh cell1 state.single vcd_cell.call name=vcd_cell.lease": (
        "state.single",
        "vcd_cell.call",
        "name=vcd_cell.lease",
    ),
}


def timed(lab, *args):
    started = time.monotonic()
    subprocess.run([str(BIN / "salt-ssh"), "-c", str(lab.conf), "cell1", *args], check=True, capture_output=True)
    return time.monotonic() - started


def main(repeats):
    with tempfile.TemporaryDirectory() as tmp, CellServer(Cell(CellConfig(cell_name="cell1"))) as server:
        server.cell.shutdown()
        with SshLab(pathlib.Path(tmp), {"cell1": server}) as lab:
            first = timed(lab, "test.ping")  # ships the thin runtime and the extension's modules
            times = {name: [] for name in COMMANDS}
            for _ in range(repeats):
                for name, args in COMMANDS.items():
                    times[name].append(timed(lab, *args))
    ping = median(times["salt-ssh cell1 test.ping"])
    table(
        f"salt-ssh per call on a stopped cell: medians of {repeats} runs (seconds); the first call, which ships "
        f"the thin runtime: {first:.2f} s",
        ["command", "median", "ratio to test.ping"],
        [[name, median(values), median(values) / ping] for name, values in times.items()],
    )
    return {name: median(values) for name, values in times.items()}
