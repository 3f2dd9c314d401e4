"""
The demos: real Salt daemons on 127.0.0.1 driving fake cells, in a temporary directory removed at the end.

``python -m demo`` (``make demo``): a salt-master and the minion ``cell1`` drain a fake cell with three
running jobs (``state.apply vcd.drained``, progress events shown live), show what the cell saw, and bring
it back (``state.apply vcd.active``).

``python -m demo --rolling`` (``make demo-rolling``): three cells, each with a running job, taken through
maintenance one at a time by ``salt-run state.orchestrate orch.vcd_rolling``.

``python -m demo --upgrade`` (``make demo-upgrade``): three cells of one server group (one database), each
with running jobs, upgraded from vCD 10.5.0 to 10.6.0 by ``salt-run state.orchestrate orch.vcd_upgrade``.

``python -m demo --upgrade-appliance`` (``make demo-upgrade-appliance``): three vCD appliances (a primary,
a standby and a cell-type appliance sharing the embedded database cluster), each with running jobs,
upgraded by the same orchestration on the appliance route: failover Manual, the drain, a backup on the
primary, vamicli on the primary then the others, the database upgrade, the reboots (the primary first),
failover Automatic again.

``python -m demo --precheck`` (``make demo-precheck``): the same server group checked days before its
window by ``salt-run vcd_upgrade.precheck``, ready; then with three problems planted through the fake
cells' control API (a clock 5 minutes behind, an installer gone, a cell mounting a share of its own),
checked again by it and by
``vcd_rolling.precheck``: each report a table, check by check, with the fix; nothing touched.

``python -m demo --ssh`` (``make demo-ssh``): no salt-minion and no salt-master: a fake cell with three
running jobs drained by ``salt-ssh cell1 state.apply vcd.drained`` through OpenSSH's server on 127.0.0.1
(throwaway keys), then brought back by ``vcd.active``; the host's log tells the drain's progress.
"""

import argparse
import contextlib
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

import requests

from demo.lab import REPO, SaltLab
from demo.ssh import SshLab
from simulator.appliance import appliance_group
from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig
from simulator.pillar import write_installer, write_update_package
from simulator.server import ApplianceServer, CellServer, quiet_request_log

PASSWORD = "demo-Secret-1"
STATE_TIMEOUT = "300"
NEW = "10.6.0"
JOBS = (("vappDeploy", "alice", 6), ("vmPowerOn", "bob", 9), ("vdcCopyTemplate", "carol", 12))


def banner(text):
    print(f"\n=== {text}", flush=True)


def show_drain_progress(tag, data):
    blocking = ", ".join(f"{t['name']} of {t['owner']} ({t['age_seconds']}s)" for t in data.get("tasks") or [])
    print(
        f"   progress {tag}: {data['job_count']} job(s) running, {data['elapsed']}s elapsed, "
        f"{data['remaining']}s to the deadline" + (f"; waiting for {blocking}" if blocking else ""),
        flush=True,
    )


def print_timeline(cell):
    for event in cell.events():
        if event["event"] == "cli":
            detail = f"{event['tool']} {' '.join(event['argv'])}"
        elif event["event"].startswith("job_"):
            detail = event.get("name", "")
        else:
            detail = " ".join(f"{k}={v}" for k, v in event.items() if k in ("job_count", "active", "pid"))
        print(f"   {event['t']:7.2f}s  {event['event']:<24} {detail}")


# Where the demos keep their runs' reports: the master's cache goes with the demo's temporary directory.
REPORTS = REPO / "demo-reports"


def orchestrate(lab, sls, pillar, following=None):
    """
    ``salt-run state.orchestrate SLS pillar=...``, shown first; its live view's last lines
    (``following``: the thread printing them) once the run is over; then the run's report, kept in
    :data:`REPORTS` (the master's cache goes with the demo), its path shown for a browser.
    """
    pillar = json.dumps(pillar)
    banner(f"salt-run state.orchestrate {sls} pillar='{pillar}'")
    began = time.time()
    code = lab.run("salt-run", "state.orchestrate", sls, f"pillar={pillar}")
    if following is not None:
        following.join(timeout=30)
    for report in sorted(lab.root.glob("**/vcd_reports/*.html")):
        if report.stat().st_mtime >= began:
            REPORTS.mkdir(exist_ok=True)
            kept = shutil.copy(report, REPORTS / report.name)
            banner(f"The run's report (open it in a browser: the group's timeline): {kept}")
    return code


def print_marks(cells, kinds):
    """Each cell's events of ``kinds``, in seconds since the first cell was made; returns that epoch."""
    epoch = min(cell.epoch for cell in cells.values())
    for name, cell in cells.items():
        marks = [f"{e['event']} {cell.epoch + e['t'] - epoch:.1f}s" for e in cell.events() if e["event"] in kinds]
        print(f"   {name}: " + ", ".join(marks))
    return epoch


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
        drained = lab.run("salt", "-t", STATE_TIMEOUT, "cell1", "state.apply", "vcd.drained")
        banner("What the fake cell saw")
        print_timeline(cell)
        banner("salt cell1 state.apply vcd.active")
        active = lab.run("salt", "-t", STATE_TIMEOUT, "cell1", "state.apply", "vcd.active")
        state = cell.snapshot()
        banner(f"The cell is {state['service']}, scheduler active: {state['active']}")
        return 0 if drained == 0 and active == 0 else 1


def rolling_demo(root):
    names = ("cell1", "cell2", "cell3")
    cells = {name: new_cell(name) for name in names}
    # One server group: vCD lists the three cells, as the rollout's precheck reads.
    ServerGroup(list(cells.values()))
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(CellServer(cell)) for name, cell in cells.items()}
        lab = stack.enter_context(SaltLab(root, servers))
        following = lab.follow()
        for index, cell in enumerate(cells.values()):
            cell.add_job(seconds=6 + 8 * index, name="vappDeploy", owner="alice")
        rollout = orchestrate(lab, "orch.vcd_rolling", {"vcd_rolling": {"cells": list(names)}}, following)
        banner("When each cell went down and came back (seconds since the demo's cells were made)")
        print_marks(cells, ("quiesce", "shutdown", "start", "serving"))
        return rollout


UPGRADE_MARKS = ("quiesce", "shutdown", "install", "start_refused", "start", "serving")


def server_group(root, stack, names=("cell1", "cell2", "cell3")):
    """The cells of one server group (one database), each served and behind a minion with the installer of
    NEW, each running jobs: ``(cells, group, lab)``."""
    cells = {name: new_cell(name) for name in names}
    group = ServerGroup(list(cells.values()))
    servers = {name: stack.enter_context(CellServer(cell)) for name, cell in cells.items()}
    installers = {
        name: {"installer": write_installer(root / "installers" / name, servers[name].url, NEW)} for name in names
    }
    lab = stack.enter_context(SaltLab(root, servers, settings=installers))
    for index, cell in enumerate(cells.values()):
        for name, owner, seconds in JOBS[: index + 1]:
            cell.add_job(seconds=seconds / 2, name=name, owner=owner)
    return cells, group, lab


def upgrade_demo(root):
    with contextlib.ExitStack() as stack:
        cells, group, lab = server_group(root, stack)
        names = list(cells)
        following = lab.follow()
        banner(f"Three cells share one database at vCD {group.schema_version}; each runs jobs")
        plan = {"vcd_upgrade": {"cells": list(names), "version": NEW, "backup_completed": True}}
        upgrade = orchestrate(lab, "orch.vcd_upgrade", plan, following)
        banner("What each cell saw (seconds since the demo's cells were made)")
        epoch = print_marks(cells, UPGRADE_MARKS)
        for event in group.timeline.since(0):
            states = ", ".join(
                f"{n} {'running' if s['running'] else 'stopped'} on {s['version']}"
                for n, s in event.get("cells", {}).items()
            )
            when = cells["cell1"].epoch + event["t"] - epoch
            print(f"   database: {event['event']} by {event['by']} at {when:.1f}s ({states})")
        banner(
            f"The database is at vCD {group.schema_version}; the cells run "
            + ", ".join(f"{n} {c.installed_version} ({c.snapshot()['service']})" for n, c in cells.items())
        )
        return upgrade


def describe_cluster_event(event):
    """One line of the appliance group's timeline: what happened, where, and every cell's state then."""
    detail = " ".join(
        f"{key}={event[key]}"
        for key in ("node", "mode", "by", "role", "version", "failover", "path", "kind")
        if key in event
    )
    states = ", ".join(
        f"{n} {'running' if s['running'] else 'stopped'} on {s['version']}" for n, s in event.get("cells", {}).items()
    )
    return f"{event['event']:<18} {detail}" + (f"  ({states})" if states else "")


def appliance_upgrade_demo(root):
    roles = {"vcd1": "primary", "vcd2": "standby", "vcd3": "cell"}
    group = appliance_group(
        roles, appliances={name: {"reboot_seconds": 3} for name in roles}, admin_password=PASSWORD, cli_delay=0.3
    )
    package = write_update_package(root / "local-update-package", NEW, "24000000")
    with contextlib.ExitStack() as stack:
        servers, settings = {}, {}
        for appliance in group.appliances:
            servers[appliance.name] = stack.enter_context(CellServer(appliance.cell))
            api = stack.enter_context(ApplianceServer(appliance))
            settings[appliance.name] = {"appliance": api, "update_repo": package}
        lab = stack.enter_context(SaltLab(root, servers, settings=settings))
        following = lab.follow()
        for index, appliance in enumerate(group.appliances):
            for name, owner, seconds in JOBS[: index + 1]:
                appliance.cell.add_job(seconds=seconds / 2, name=name, owner=owner)
        cluster = group.cluster()
        banner(
            f"Three vCD appliances at {group.schema_version}: vcd1 primary, vcd2 standby, vcd3 cell-type; "
            f"embedded database {cluster['localClusterHealth']}, failover {cluster['localClusterFailover']}; "
            f"the update package of {NEW} extracted at {package}"
        )
        plan = {"vcd_upgrade": {"cells": list(roles), "version": NEW, "backup": "appliance"}}
        upgrade = orchestrate(lab, "orch.vcd_upgrade", plan, following)
        banner("What each appliance's cell saw (seconds since the demo's cells were made)")
        cells = {a.name: a.cell for a in group.appliances}
        epoch = print_marks(cells, ("quiesce", "shutdown", "start_refused", "start", "serving"))
        banner("What the appliances and their database cluster saw")
        for event in group.timeline.since(0):
            print(f"   {cells['vcd1'].epoch + event['t'] - epoch:6.1f}s  {describe_cluster_event(event)}")
        cluster = group.cluster()
        banner(
            f"The database is at vCD {group.schema_version}, {cluster['localClusterHealth']}, failover "
            f"{cluster['localClusterFailover']}; "
            + ", ".join(f"{n} {c.installed_version} ({c.snapshot()['service']})" for n, c in cells.items())
        )
        return upgrade


def ssh_demo(root):
    cell = new_cell("cell1")
    with CellServer(cell) as server, SshLab(root, {"cell1": server}) as lab:
        banner(f"salt-ssh cell1 test.ping   (sshd on 127.0.0.1:{lab.port}; the first call ships Salt's thin)")
        if lab.run("cell1", "test.ping") != 0:
            return 1
        for name, owner, seconds in JOBS:
            cell.add_job(seconds=seconds, name=name, owner=owner)
        banner(f"The fake vCD cell at {server.url} runs 3 jobs, ending after 6, 9 and 12 s")
        banner("salt-ssh cell1 state.apply vcd.drained   (no minion: progress goes to the host's log)")
        drained = lab.run("cell1", "state.apply", "vcd.drained")
        banner("What the fake cell saw")
        print_timeline(cell)
        log = lab.thin_dir("cell1") / "running_data" / "salt-call.log"
        banner(f"The drain's word in the host's log ({log})")
        for line in log.read_text().splitlines():
            if "vcd_cell: vcd/cell/" in line:
                print(f"   {line.split('vcd_cell: ', 1)[1]}")
        banner("salt-ssh cell1 state.apply vcd.active")
        active = lab.run("cell1", "state.apply", "vcd.active")
        state = cell.snapshot()
        banner(f"The cell is {state['service']}, scheduler active: {state['active']}")
        return 0 if drained == 0 and active == 0 else 1


def precheck(lab, runner, **keys):
    """``salt-run <runner>.precheck key=value ...``, shown first with the time it took; its exit code."""
    args = [f"{key}={json.dumps(value)}" for key, value in keys.items()]
    banner(f"salt-run {runner}.precheck {' '.join(args)}")
    started = time.monotonic()
    code = lab.run("salt-run", f"{runner}.precheck", *args)
    print(f"   (exit code {code}, {time.monotonic() - started:.1f} s)", flush=True)
    return code


def plant(url, knob, **change):
    """A problem planted through the fake cell's control API, shown as the request that planted it."""
    print(f"   PATCH {url}/sim/{knob} {json.dumps(change)}", flush=True)
    requests.patch(f"{url}/sim/{knob}", json=change, timeout=10).raise_for_status()


def precheck_demo(root):
    with contextlib.ExitStack() as stack:
        cells, group, lab = server_group(root, stack)
        names = list(cells)
        banner(f"Three cells share one database at vCD {group.schema_version}, each with the installer of {NEW}")
        clean = precheck(lab, "vcd_upgrade", cells=names, version=NEW, backup_completed=True)
        banner("Three problems planted: cell2's clock 5 minutes behind, cell3's installer gone, cell1 on its own share")
        plant(lab.servers["cell2"].url, "config", clock_offset=-300)
        plant(lab.servers["cell3"].url, "host", package="missing")
        plant(lab.servers["cell1"].url, "host", share="own")
        planted = precheck(lab, "vcd_upgrade", cells=names, version=NEW, backup_completed=True)
        rolling = precheck(lab, "vcd_rolling", cells=names, min_active=2)
        banner("Nothing was touched: " + ", ".join(f"{n} {c.snapshot()['service']}" for n, c in cells.items()))
        # The demo shows both verdicts: it succeeds when the clean group is ready and the planted one is not.
        return 0 if clean == 0 and planted != 0 and rolling != 0 else 1


DEMOS = {
    "ssh": ssh_demo,
    "rolling": rolling_demo,
    "upgrade": upgrade_demo,
    "upgrade_appliance": appliance_upgrade_demo,
    "precheck": precheck_demo,
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--rolling", action="store_true", help="a rolling rollout over three cells")
    choice.add_argument("--upgrade", action="store_true", help="an upgrade of a server group of three cells")
    choice.add_argument(
        "--upgrade-appliance", action="store_true", help="an upgrade of a group of three vCD appliances"
    )
    choice.add_argument("--ssh", action="store_true", help="a cell drained over salt-ssh, no minion or master")
    choice.add_argument(
        "--precheck", action="store_true", help="the prechecks of a ready group, then of one that is not"
    )
    options = parser.parse_args(argv)
    quiet_request_log()
    os.chdir(REPO)
    demo = next((run for name, run in DEMOS.items() if getattr(options, name)), drain_demo)
    with tempfile.TemporaryDirectory(prefix="vcd-demo-") as tmp:
        banner(
            f"Starting OpenSSH's server on 127.0.0.1 under {tmp}"
            if options.ssh
            else f"Starting a salt-master and minions on 127.0.0.1 under {tmp}"
        )
        return demo(pathlib.Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
