"""
`make demo`: a real salt-master and salt-minion drain a fake cell with running jobs, then bring it back.

Everything runs on 127.0.0.1 in a temporary directory and is stopped at the end:

1. a fake vCD cell with jobs running, and the stub tools pointed at it;
2. a salt-master serving this repository as file_roots, and a minion ``cell1`` with its pillar;
3. ``salt cell1 state.apply vcd.drained`` while the drain's progress events are shown live;
4. the fake cell's timeline: quiesce, each job's end, the shutdown with 0 jobs;
5. ``salt cell1 state.apply vcd.active``.
"""

import getpass
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

from simulator.model import Cell, CellConfig
from simulator.server import CellServer, quiet_request_log
from simulator.pillar import vcd_cell_pillar

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
MINION = "cell1"
PASSWORD = "demo-Secret-1"
START_DEADLINE = 120
JOBS = (("vappDeploy", "alice", 6), ("vmPowerOn", "bob", 9), ("vdcCopyTemplate", "carol", 12))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_configs(root, server):
    """Master and minion configuration, and cell1's pillar, under ``root``."""
    conf = root / "conf"
    pillar = root / "pillar"
    conf.mkdir()
    pillar.mkdir()
    publish_port, ret_port = free_port(), free_port()
    common = {"root_dir": str(root), "user": getpass.getuser(), "log_level_logfile": "info"}
    master = dict(
        common,
        interface="127.0.0.1",
        publish_port=publish_port,
        ret_port=ret_port,
        auto_accept=True,
        file_roots={"base": [str(REPO / "states"), str(REPO)]},
        pillar_roots={"base": [str(pillar)]},
    )
    minion = dict(common, id=MINION, master="127.0.0.1", master_port=ret_port, publish_port=publish_port)
    (conf / "master").write_text(json.dumps(master))
    (conf / "minion").write_text(json.dumps(minion))
    cell = vcd_cell_pillar(server, root / "tools", event_interval=2)
    (pillar / "top.sls").write_text(json.dumps({"base": {MINION: ["cell1"]}}))
    (pillar / "cell1.sls").write_text(json.dumps(cell))
    return conf


def salt(conf, *args):
    return [str(BIN / "salt"), "-c", str(conf), *args]


def wait_for_minion(conf):
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        ping = subprocess.run(salt(conf, "--out", "json", "-t", "5", MINION, "test.ping"), capture_output=True, text=True)
        if '"cell1": true' in ping.stdout:
            return
        time.sleep(1)
    raise SystemExit("The demo's salt-minion did not answer within 2 minutes")


def show_progress(conf, stop):
    """Print each drain progress event as it reaches the master's bus."""
    watcher = subprocess.Popen(
        [str(BIN / "salt-run"), "-c", str(conf), "state.event", "vcd/cell/*/drain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    stop.append(watcher)
    for line in watcher.stdout:
        tag, _, payload = line.partition("\t")
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        # event.send on a minion wraps the payload, with the minion's id beside it.
        data = data.get("data", data)
        blocking = ", ".join(f"{t['name']} of {t['owner']} ({t['age_seconds']}s)" for t in data.get("tasks") or [])
        print(
            f"   progress {tag}: {data['job_count']} job(s) running, {data['elapsed']}s elapsed, "
            f"{data['remaining']}s to the deadline" + (f"; waiting for {blocking}" if blocking else ""),
            flush=True,
        )


def banner(text):
    print(f"\n=== {text}", flush=True)


def print_timeline(cell):
    for event in cell.events():
        if event["event"] == "cli":
            detail = f"{event['tool']} {' '.join(event['argv'])}"
        elif event["event"].startswith("job_"):
            detail = event.get("name", "")
        else:
            detail = " ".join(f"{k}={v}" for k, v in event.items() if k in ("job_count", "active", "pid"))
        print(f"   {event['t']:7.2f}s  {event['event']:<24} {detail}")


def main():
    quiet_request_log()
    cell = Cell(CellConfig(cell_name=MINION, admin_password=PASSWORD, cli_delay=0.3, start_seconds=2))
    daemons = []
    with tempfile.TemporaryDirectory(prefix="vcd-demo-") as tmp, CellServer(cell) as server:
        root = pathlib.Path(tmp)
        conf = write_configs(root, server)
        try:
            banner(f"Starting a salt-master and the minion cell1 on 127.0.0.1 (logs in {root}/var/log/salt)")
            with open(root / "daemons.out", "w") as chatter:
                for daemon in ("salt-master", "salt-minion"):
                    command = [str(BIN / daemon), "-c", str(conf), "-l", "quiet"]
                    daemons.append(subprocess.Popen(command, stdout=chatter, stderr=chatter))
            wait_for_minion(conf)
            subprocess.run(salt(conf, MINION, "saltutil.sync_all"), check=True, capture_output=True)
            threading.Thread(target=show_progress, args=(conf, daemons), daemon=True).start()
            for name, owner, seconds in JOBS:
                cell.add_job(seconds=seconds, name=name, owner=owner)
            banner(f"The fake vCD cell at {server.url} runs 3 jobs, ending after 6, 9 and 12 s")
            banner("salt cell1 state.apply vcd.drained   (progress events shown live)")
            drained = subprocess.run(salt(conf, "-t", "300", MINION, "state.apply", "vcd.drained"))
            banner("What the fake cell saw")
            print_timeline(cell)
            banner("salt cell1 state.apply vcd.active")
            active = subprocess.run(salt(conf, "-t", "300", MINION, "state.apply", "vcd.active"))
            state = cell.snapshot()
            banner(f"The cell is {state['service']}, scheduler active: {state['active']}")
            return 0 if drained.returncode == 0 and active.returncode == 0 else 1
        finally:
            # The event watcher, appended last, stops first: the master must outlive it.
            for process in reversed(daemons):
                process.terminate()
            for process in daemons:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
