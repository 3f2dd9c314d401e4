"""
The upgrade with ``ssh: true`` and no salt-master running, as most salt-ssh users have none: every call
to the cells goes through real ``salt-ssh`` to a real OpenSSH server (tests/e2e/ssh.py), each cell a
roster target with its own thin directory and no salt-minion anywhere.

Not run on Salt 3006: its salt-ssh ships no ``_utils`` to the host, which tests/e2e/test_ssh.py's first
test shows there (a strict xfail) with one drain; a whole upgrade failing the same way would prove
nothing more, for about a minute of the Salt 3006 run.
"""

import json
import socket
import subprocess

import pytest

from simulator.group import ServerGroup
from tests.e2e.conftest import assert_nothing_lost, events_of, orchestration_return, run_orchestration
from tests.support import wait_for

UPGRADING = ("ssh-up-1", "ssh-up-2", "ssh-up-3")
OLD, NEW = "10.5.0", "10.6.0"
# A whole orchestration over salt-ssh, a few seconds of CPU a call: see tests/e2e/test_ssh_rolling.py.
pytestmark = pytest.mark.timeout(900)


def closed_port():
    """A port on 127.0.0.1 nothing listens on: bound, then let go."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_upgrade_over_ssh_with_no_salt_master_running(
    ssh_group, master_without_daemon, another_master_without_daemon, ssh_files
):
    cells = ssh_group(UPGRADING, jobs=(1.0, 1.5), installer=NEW, installed_version=OLD)
    group = ServerGroup(list(cells.values()))
    plan = {"cells": list(UPGRADING), "version": NEW, "backup_completed": True, "ssh": True, "upgrade_id": "ssh"}
    salt_run = master_without_daemon.salt_run_cli(timeout=600)
    # Its precheck first, through the same route: ready, and nothing touched.
    checked = salt_run.run("vcd_upgrade.precheck", pillar={"vcd_upgrade": plan})
    assert checked.returncode == 0 and checked.data["ready"] is True, checked
    reachable = {r["cell"]: r["detail"] for r in checked.data["checks"] if r["check"] == "reachable"}
    assert reachable == dict.fromkeys(UPGRADING, "answers through salt-ssh"), checked.data
    assert not any(events_of(cell, "quiesce", "shutdown") for cell in cells.values())
    # A roster target whose host does not answer: that cell fails reachable, and the window would be refused.
    roster_file = ssh_files / "roster"
    roster = json.loads(roster_file.read_text())
    roster_file.write_text(json.dumps(dict(roster, **{"ssh-down": dict(roster[UPGRADING[0]], port=closed_port())})))
    try:
        down = salt_run.run("vcd_upgrade.precheck", pillar={"vcd_upgrade": dict(plan, cells=["ssh-down"])})
    finally:
        roster_file.write_text(json.dumps(roster))
    assert down.returncode != 0 and down.data["ready"] is False, down
    (unreachable,) = [r for r in down.data["checks"] if r["check"] == "reachable"]
    assert unreachable["result"] == "fail" and "salt-ssh could not reach it" in unreachable["detail"], unreachable
    assert "salt-ssh ssh-down test.ping" in unreachable["fix"].replace("<cell>", "ssh-down"), unreachable
    assert "The window would be refused on: reachable." in down.data["comment"], down.data["comment"]
    # The upgrade waits at its drain for a job the test ends; meanwhile salt-ssh from another host (a
    # master's configuration with a cache of its own) meets the claim on the cells themselves.
    stuck = cells[UPGRADING[1]].add_job(seconds=None, name="vmMigrate", owner="bob")
    command = salt_run.cmdline("state.orchestrate", "orch.vcd_upgrade", pillar={"vcd_upgrade": plan})
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: events_of(cells[UPGRADING[0]], "shutdown"), "the upgrade to stop ssh-up-1", deadline=300)
        elsewhere = another_master_without_daemon.salt_run_cli(timeout=300)
        again, refused = run_orchestration(elsewhere, "orch.vcd_upgrade", {"vcd_upgrade": plan})
        assert again is False and refused["cells"] == {}, refused
        assert f"{', '.join(UPGRADING)} are held by run " in refused["comment"], refused["comment"]
        assert "of vcd_upgrade (plan ssh), by " in refused["comment"] and "(alive: pid " in refused["comment"]
        cells[UPGRADING[1]].end_job(stuck["id"])
        out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    success, report = orchestration_return(json.loads(out))
    assert success is True, (report, err)
    assert report["steps_done"] == ["preflight", "quiesce", "drain", "install", "database", "start", "verify"]
    assert_nothing_lost(cells)
    (upgrade,) = [e for e in group.timeline.since(0) if e["event"].startswith("db_upgrade")]
    assert upgrade["event"] == "db_upgrade" and upgrade["by"] == UPGRADING[0]
    assert upgrade["cells"] == {name: {"running": False, "version": NEW} for name in UPGRADING}
    for name, cell in cells.items():
        snapshot = cell.snapshot()
        assert (snapshot["service"], snapshot["quiesced"], cell.installed_version) == ("running", False, NEW), name
    # Run again, it resumes from its record in the master's cache and finds nothing left to do.
    again, report = run_orchestration(salt_run, "orch.vcd_upgrade", {"vcd_upgrade": plan})
    assert again is True, report
    assert all(len(events_of(cell, "shutdown")) == 1 for cell in cells.values())
