"""
Drain latency: the vcd_cell.drained state (with REST polling, without it, and on a vCD 10.5.1 cell whose
cells API quiesces it) against the procedure as operators script it by hand, on a fake cell whose tool
takes 1.5 s to start like a JVM.

The state runs in this process under Salt's loader, and also masterless through a real ``salt-call
--local`` process, as a person on the cell host runs it (no minion daemon, no event bus).

Per run, from the fake cell's timeline: the detection latency (the last job's end to the shutdown
reaching the cell), split into the decision latency (the last job's end to the start of the tool runs
that confirm and shut down) and the tool starts after it; the gap between the reading that allowed the
shutdown (the cell's answer to ``--status``) and the start of the ``--shutdown`` process; the tool runs
per drain; the whole drain.
"""

import os
import pathlib
import subprocess
import tempfile
import time

import yaml

from bench import floor
from bench.overhead import SALT_CALL, write_config
from bench.report import median, table
from simulator import CELL_MANAGEMENT_TOOL, VMWARE_VCD_CELL
from simulator.local_minion import load_states
from simulator.model import Cell, CellConfig
from simulator.server import CellServer

JOB_ENDS = (2.0, 4.0, 6.0)  # seconds after the drain starts
HAND_LOOP_SECONDS = 10
INTERVAL = 5
REST = "vcd_cell.drained, REST polling (8.10)"
TOOL = "vcd_cell.drained, tool polling (8.10)"
CELLS_API = "vcd_cell.drained, cells API (10.5.1)"
MASTERLESS = "salt-call --local state.apply vcd.drained, REST polling (8.10)"
HAND = "hand loop (8.10)"
# The trailing no-op keeps bash from exec'ing the shutdown in its own process, which would make that
# run's process start the loop's start on the timeline.
HAND_LOOP = f"""
set -e
pid=$("{VMWARE_VCD_CELL}" pid)
"{CELL_MANAGEMENT_TOOL}" cell -i "$pid" --quiesce true
while true; do
  out=$("{CELL_MANAGEMENT_TOOL}" cell -i "$pid" --status)
  case "$out" in *"Job count = 0"*"Is Active = false"*) break ;; esac
  sleep {HAND_LOOP_SECONDS}
done
"{CELL_MANAGEMENT_TOOL}" cell -i "$pid" --shutdown
:
"""


def new_cell(server, phase, version="8.10"):
    """
    A cell whose jobs end at ``JOB_ENDS`` plus ``phase`` seconds. Each run takes another phase across one
    hand-loop period, so that where the last job's end falls between two polls is not the same luck in
    every run: the medians are those of the procedures, not of one alignment of their clocks.
    """
    # 8.10: --quiesce returns at once, so the hand loop really polls (a blocking quiesce would wait for it).
    cell = server.replace_cell(Cell(CellConfig(cell_name="cell1", version=version, cli_delay=floor.TOOL_START)))
    for index, seconds in enumerate(JOB_ENDS):
        cell.add_job(seconds=seconds + phase, name=f"job{index + 1}")
    return cell


def measure(cell, started):
    events = cell.events()
    last_end = max(e["t"] for e in events if e["event"] == "job_end")
    (shutdown,) = [e for e in events if e["event"] == "shutdown"]
    runs = [e for e in events if e["event"] == "cli" and e["tool"] == "cell-management-tool"]
    confirming = min(e["t"] for e in runs if e["t"] >= last_end)
    (shutdown_run,) = [e for e in runs if "--shutdown" in e["argv"]]
    reading = max(e["t"] for e in events if e["event"] == "status" and e["t"] <= shutdown_run["t"])
    return {
        "decision": confirming - last_end,
        "tool_after": shutdown["t"] - confirming,
        "reading_to_shutdown": shutdown_run["started"] - reading,
        "detection": shutdown["t"] - last_end,
        "runs": len(runs),
        "drain": shutdown["t"] - (started - cell.epoch),
    }


def run_state(server, states, opts, phase, rest, version="8.10"):
    cell = new_cell(server, phase, version)
    opts["vcd_cell"]["api_url"] = server.url if rest else ""
    started = time.monotonic()
    ret = states["vcd_cell.drained"]("cell1", timeout=120, interval=INTERVAL)
    assert ret["result"], ret
    return measure(cell, started)


def run_masterless(server, root, phase):
    """The state through a fresh ``salt-call --local`` process, the extension installed as users install it."""
    cell = new_cell(server, phase)
    write_config(root, server)
    config = yaml.safe_load((root / "minion").read_text())
    config["vcd_cell"].update(cli_timeout=120, drain={"timeout": 120, "interval": INTERVAL})
    (root / "minion").write_text(yaml.safe_dump(config))
    started = time.monotonic()
    salt_call = [SALT_CALL, "--local", "--config-dir", str(root), "--out", "json", "state.apply", "vcd.drained"]
    done = subprocess.run(salt_call, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return measure(cell, started)


def run_hand_loop(server, phase):
    cell = new_cell(server, phase)
    started = time.monotonic()
    env = dict(os.environ, VCD_SIM_URL=server.url)
    subprocess.run(["bash", "-c", HAND_LOOP], env=env, check=True, capture_output=True, timeout=300)
    return measure(cell, started)


def main(repeats):
    with tempfile.TemporaryDirectory() as tmp, CellServer() as server:
        opts, states = load_states(server, pathlib.Path(tmp), cli_timeout=120)
        results = {name: [] for name in (REST, TOOL, CELLS_API, MASTERLESS, HAND)}
        for run in range(repeats):
            phase = run * HAND_LOOP_SECONDS / repeats
            results[REST].append(run_state(server, states, opts, phase, rest=True))
            results[TOOL].append(run_state(server, states, opts, phase, rest=False))
            results[CELLS_API].append(run_state(server, states, opts, phase, rest=True, version="10.5.1"))
            masterless_root = pathlib.Path(tmp) / f"masterless-{run}"
            masterless_root.mkdir()
            results[MASTERLESS].append(run_masterless(server, masterless_root, phase))
            results[HAND].append(run_hand_loop(server, phase))
    states.pack["__salt__"]["vcd_cell.release_lease"]()
    keys = ("decision", "tool_after", "detection", "reading_to_shutdown", "runs", "drain")
    medians = {name: {key: median([r[key] for r in runs]) for key in keys} for name, runs in results.items()}
    table(
        f"Drain: {len(JOB_ENDS)} jobs ending {', '.join(f'{s:g}' for s in JOB_ENDS)} s in "
        f"(plus 0 to {HAND_LOOP_SECONDS} s, another phase each run), "
        f"tool start {floor.TOOL_START} s, "
        f"interval {INTERVAL} s, hand loop every {HAND_LOOP_SECONDS} s; medians of {repeats} runs (seconds)",
        ["procedure", "decision", "tool runs after", "detection", "reading to --shutdown", "tool runs", "whole drain"],
        [[name] + [values[key] for key in keys] for name, values in medians.items()],
    )
    return medians
