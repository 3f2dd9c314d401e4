"""
The manual quiesce-and-shutdown procedure, run against a fake cell with the stub tools.

This is what an operator types on a cell today (``seed-quiesce-and-shutdown.ja.txt``): read the
status, quiesce, poll the status until ``Job count = 0`` and ``Is Active = false``, shut down. It
shows the simulator doing what a real cell does; the Salt states automate the same steps.
"""

import os
import re
import subprocess
import time

from simulator import CELL_MANAGEMENT_TOOL, VMWARE_VCD_CELL
from simulator.server import CellServer, quiet_request_log

POLL_SECONDS = 1.0
DRAIN_DEADLINE = 300.0


def _run(server, tool, *args, started):
    """Run a stub tool as an operator would, echoing the command line and its output."""
    name = os.path.basename(tool)
    print(f"[{time.monotonic() - started:6.1f}s] $ {name} {' '.join(args)}", flush=True)
    env = dict(os.environ, VCD_SIM_URL=server.url)
    result = subprocess.run([tool, *args], env=env, capture_output=True, text=True, timeout=DRAIN_DEADLINE)
    for line in (result.stdout + result.stderr).splitlines():
        print(f"          {line}", flush=True)
    return result


def _drained(status_output):
    jobs = re.search(r"Job count = (\d+)", status_output)
    active = re.search(r"Is Active = (true|false)", status_output)
    return bool(jobs and active) and jobs.group(1) == "0" and active.group(1) == "false"


def _print_timeline(cell):
    print("\nThe fake cell's timeline:")
    for event in cell.events():
        if event["event"] == "cli":
            detail = " ".join(event["argv"])
        else:
            detail = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("seq", "t", "event"))
        print(f"  {event['t']:7.2f}s  {event['event']:<16} {detail}")


def run_procedure(cell):
    """Serve ``cell`` on loopback and walk it through the procedure; 0 when it ends shut down."""
    quiet_request_log()
    started = time.monotonic()
    with CellServer(cell) as server:
        print(f"Fake cell {cell.config.cell_name!r} (vCD {cell.config.version}) at {server.url}")
        print(f"{len(cell.status()['tasks'])} jobs are running on it.\n")
        pid = _run(server, VMWARE_VCD_CELL, "pid", started=started).stdout.strip()
        _run(server, CELL_MANAGEMENT_TOOL, "cell", "-i", pid, "--status", started=started)
        _run(server, CELL_MANAGEMENT_TOOL, "cell", "-i", pid, "--quiesce", "true", started=started)
        deadline = time.monotonic() + DRAIN_DEADLINE
        while not _drained(_run(server, CELL_MANAGEMENT_TOOL, "cell", "-i", pid, "--status", started=started).stdout):
            if time.monotonic() > deadline:
                print("The cell did not drain in time: it stays quiesced and is NOT shut down.")
                return 1
            time.sleep(POLL_SECONDS)
        print("          Job count = 0 and Is Active = false: safe to shut down.")
        _run(server, CELL_MANAGEMENT_TOOL, "cell", "-i", pid, "--shutdown", started=started)
        stopped = _run(server, VMWARE_VCD_CELL, "status", started=started).returncode == 3
        _print_timeline(cell)
    aborted = [e for e in cell.timeline.events if e["event"] == "job_abort"]
    print(f"\nCell stopped: {stopped}; jobs aborted: {len(aborted)}.")
    return 0 if stopped and not aborted else 1
