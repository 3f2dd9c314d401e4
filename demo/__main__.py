"""
The demos: real Salt daemons on 127.0.0.1 driving fake cells, in a temporary directory removed at the end.

``python -m demo`` (``make demo``): a salt-master and the minion ``cell1`` drain a fake cell with three
running jobs (``state.apply vcd.drained``, progress events shown live), show what the cell saw, and bring
it back (``state.apply vcd.active``).

``python -m demo --rolling`` (``make demo-rolling``): three cells, each with a running job, taken through
maintenance one at a time by ``salt-run state.orchestrate orch.vcd_rolling``.
"""

import argparse
import contextlib
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
from simulator.pillar import vcd_cell_pillar
from simulator.server import CellServer, quiet_request_log

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
PASSWORD = "demo-Secret-1"
START_DEADLINE = 120
STATE_TIMEOUT = "300"
JOBS = (("vappDeploy", "alice", 6), ("vmPowerOn", "bob", 9), ("vdcCopyTemplate", "carol", 12))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SaltLab:
    """A salt-master and one minion per fake cell, configured under ``root``, stopped on exit."""

    def __init__(self, root, servers):
        self.root = root
        self.servers = servers
        self.processes = []
        self.master_conf = root / "master" / "conf"
        publish_port, ret_port = free_port(), free_port()
        pillar = root / "pillar"
        pillar.mkdir()
        self._write_config(
            self.master_conf / "master",
            root_dir=str(root / "master"),
            interface="127.0.0.1",
            publish_port=publish_port,
            ret_port=ret_port,
            auto_accept=True,
            file_roots={"base": [str(REPO / "states"), str(REPO)]},
            pillar_roots={"base": [str(pillar)]},
        )
        for minion, server in servers.items():
            self._write_config(
                root / minion / "conf" / "minion",
                root_dir=str(root / minion),
                id=minion,
                master="127.0.0.1",
                master_port=ret_port,
                publish_port=publish_port,
            )
            cell = vcd_cell_pillar(server, root / minion / "tools", event_interval=2)
            (pillar / f"{minion}.sls").write_text(json.dumps(cell))
        (pillar / "top.sls").write_text(json.dumps({"base": {m: [m] for m in servers}}))

    @staticmethod
    def _write_config(path, **settings):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(dict(settings, user=getpass.getuser())))

    def command(self, tool, *args):
        return [str(BIN / tool), "-c", str(self.master_conf), *args]

    def __enter__(self):
        with open(self.root / "daemons.out", "w") as chatter:
            daemons = [("salt-master", self.master_conf)] + [
                ("salt-minion", self.root / m / "conf") for m in self.servers
            ]
            for daemon, conf in daemons:
                command = [str(BIN / daemon), "-c", str(conf), "-l", "quiet"]
                self.processes.append(subprocess.Popen(command, stdout=chatter, stderr=chatter))
        self._wait_for_minions()
        subprocess.run(self.command("salt", "*", "saltutil.sync_all"), check=True, capture_output=True)
        subprocess.run(self.command("salt-run", "saltutil.sync_runners"), check=True, capture_output=True)
        return self

    def _wait_for_minions(self):
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            ping = self.command("salt", "--out", "json", "--static", "-t", "5", "*", "test.ping")
            answers = json.loads(subprocess.run(ping, capture_output=True, text=True).stdout or "{}")
            if all(answers.get(minion) is True for minion in self.servers):
                return
            time.sleep(1)
        raise SystemExit("The demo's salt-minions did not answer within 2 minutes")

    def watch(self, tag, show):
        """Print each event matching ``tag`` as it reaches the master's bus, through ``show(tag, data)``."""
        watcher = subprocess.Popen(
            self.command("salt-run", "state.event", tag),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.processes.append(watcher)

        def relay():
            for line in watcher.stdout:
                event_tag, _, payload = line.partition("\t")
                with contextlib.suppress(ValueError):
                    data = json.loads(payload)
                    # event.send on a minion wraps the payload, with the minion's id beside it.
                    show(event_tag, data.get("data", data))

        threading.Thread(target=relay, daemon=True).start()

    def __exit__(self, *exc_info):
        # The event watchers, started last, stop first: the master must outlive them.
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def banner(text):
    print(f"\n=== {text}", flush=True)


def show_drain_progress(tag, data):
    blocking = ", ".join(f"{t['name']} of {t['owner']} ({t['age_seconds']}s)" for t in data.get("tasks") or [])
    print(
        f"   progress {tag}: {data['job_count']} job(s) running, {data['elapsed']}s elapsed, "
        f"{data['remaining']}s to the deadline" + (f"; waiting for {blocking}" if blocking else ""),
        flush=True,
    )


def show_rolling_progress(tag, data):
    outcome = f": {data['result']}" if "result" in data else ""
    print(f"   rollout event {tag}{outcome}", flush=True)


def print_timeline(cell):
    for event in cell.events():
        if event["event"] == "cli":
            detail = f"{event['tool']} {' '.join(event['argv'])}"
        elif event["event"].startswith("job_"):
            detail = event.get("name", "")
        else:
            detail = " ".join(f"{k}={v}" for k, v in event.items() if k in ("job_count", "active", "pid"))
        print(f"   {event['t']:7.2f}s  {event['event']:<24} {detail}")


def new_cell(name):
    return Cell(CellConfig(cell_name=name, admin_password=PASSWORD, cli_delay=0.3, start_seconds=2))


def drain_demo(root):
    cell = new_cell("cell1")
    with CellServer(cell) as server, SaltLab(root, {"cell1": server}) as lab:
        lab.watch("vcd/cell/*/drain", show_drain_progress)
        for name, owner, seconds in JOBS:
            cell.add_job(seconds=seconds, name=name, owner=owner)
        banner(f"The fake vCD cell at {server.url} runs 3 jobs, ending after 6, 9 and 12 s")
        banner("salt cell1 state.apply vcd.drained   (progress events shown live)")
        drained = subprocess.run(lab.command("salt", "-t", STATE_TIMEOUT, "cell1", "state.apply", "vcd.drained"))
        banner("What the fake cell saw")
        print_timeline(cell)
        banner("salt cell1 state.apply vcd.active")
        active = subprocess.run(lab.command("salt", "-t", STATE_TIMEOUT, "cell1", "state.apply", "vcd.active"))
        state = cell.snapshot()
        banner(f"The cell is {state['service']}, scheduler active: {state['active']}")
        return 0 if drained.returncode == 0 and active.returncode == 0 else 1


def rolling_demo(root):
    names = ("cell1", "cell2", "cell3")
    cells = {name: new_cell(name) for name in names}
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(CellServer(cell)) for name, cell in cells.items()}
        lab = stack.enter_context(SaltLab(root, servers))
        lab.watch("vcd/rolling/*", show_rolling_progress)
        for index, cell in enumerate(cells.values()):
            cell.add_job(seconds=3 + index, name="vappDeploy", owner="alice")
        pillar = json.dumps({"vcd_rolling": {"cells": list(names)}})
        banner(f"salt-run state.orchestrate orch.vcd_rolling pillar='{pillar}'")
        rollout = subprocess.run(lab.command("salt-run", "state.orchestrate", "orch.vcd_rolling", f"pillar={pillar}"))
        banner("When each cell went down and came back (seconds since the demo's cells were made)")
        epoch = min(cell.epoch for cell in cells.values())
        for name, cell in cells.items():
            marks = [
                f"{e['event']} {cell.epoch + e['t'] - epoch:.1f}s"
                for e in cell.events()
                if e["event"] in ("quiesce", "shutdown", "start", "serving")
            ]
            print(f"   {name}: " + ", ".join(marks))
        return rollout.returncode


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rolling", action="store_true", help="a rolling rollout over three cells")
    options = parser.parse_args(argv)
    quiet_request_log()
    os.chdir(REPO)
    with tempfile.TemporaryDirectory(prefix="vcd-demo-") as tmp:
        banner(f"Starting a salt-master and minions on 127.0.0.1 under {tmp}")
        return rolling_demo(pathlib.Path(tmp)) if options.rolling else drain_demo(pathlib.Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
