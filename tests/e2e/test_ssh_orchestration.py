"""
Both orchestrations with ``ssh: true``: every call to the cells goes through real ``salt-ssh`` to a real
OpenSSH server (tests/e2e/ssh.py), each cell a roster target with its own thin directory and no
salt-minion anywhere. The rollout runs under a running salt-master and fires its events on the bus;
the upgrade runs with no salt-master at all, as most salt-ssh users have none.
"""

import time

import pytest

from simulator.group import ServerGroup
from simulator.pillar import write_installer
from tests.e2e.conftest import ADMIN_PASSWORD, absolute, events_of, run_orchestration
from tests.support import SALT_SSH_3006_SHIPS_NO_UTILS, assert_every_shutdown_follows_a_drained_reading, wait_for

ROLLING = ("roll-a", "roll-b", "roll-c")
UPGRADING = ("ssh-up-1", "ssh-up-2", "ssh-up-3")
OLD, NEW = "10.5.0", "10.6.0"
# A whole orchestration over salt-ssh, a few seconds of CPU a call, took up to 280 s beside make test's
# other processes on two cores: more than the default per-test limit leaves on a slower machine.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def ssh_group(fake_cell, ssh_targets, tmp_path):
    """``ssh_group(names, jobs, installer=False, **config)``: fresh fake cells behind those roster targets."""

    def make(names, jobs, installer=False, **config):
        servers = {name: fake_cell(cell_name=name, admin_password=ADMIN_PASSWORD, **config) for name in names}
        for server in servers.values():
            for seconds in jobs:
                server.cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
        ssh_targets(
            {
                name: (server, {"installer": write_installer(tmp_path / name, server.url, NEW)} if installer else {})
                for name, server in servers.items()
            }
        )
        return {name: server.cell for name, server in servers.items()}

    return make


def assert_nothing_lost(cells):
    for name, cell in cells.items():
        assert not events_of(cell, "job_abort"), name
        assert_every_shutdown_follows_a_drained_reading(cell)
        (shutdown,) = events_of(cell, "shutdown")
        assert (shutdown["job_count"], shutdown["active"]) == (0, False), name


def test_a_rolling_reboot_over_ssh_one_cell_at_a_time_with_the_runners_events(
    ssh_group, runners_synced, salt_run_cli, event_listener, salt_master
):
    cells = ssh_group(ROLLING, jobs=(0.5, 1.0))
    boot_ids = {name: cell.boot_id for name, cell in cells.items()}
    started = time.time()
    success, report = run_orchestration(
        salt_run_cli,
        "orch.vcd_rolling",
        {"vcd_rolling": {"cells": "roll-*", "ssh": True, "reboot": True, "rollout_id": "over-ssh"}},
    )
    assert success is True, report
    assert {name: entry["result"] for name, entry in report["cells"].items()} == dict.fromkeys(ROLLING, "done")
    assert report["cells"]["roll-a"]["steps"] == [
        "budget",
        "vcenter proxies",
        "vcd.drained",
        "vcenter reconnect",
        "reboot",
        "vcd.active",
    ]
    assert_nothing_lost(cells)
    for name, cell in cells.items():
        kinds = [e["event"] for e in cell.events() if e["event"] in ("shutdown", "reboot", "boot", "start", "serving")]
        assert kinds == ["shutdown", "reboot", "boot", "start", "serving"], (name, kinds)
        assert cell.boot_id != boot_ids[name]
        assert cell.snapshot()["service"] == "running" and cell.snapshot()["quiesced"] is False
    # One cell after the other: each served again before the next was quiesced.
    serving = [absolute(cells[n], events_of(cells[n], "serving")[-1]) for n in ROLLING]
    quiesced = [absolute(cells[n], events_of(cells[n], "quiesce")[0]) for n in ROLLING]
    assert serving[0] < quiesced[1] and serving[1] < quiesced[2]
    # The runner fired the events on the master's bus, as through minions.

    def finish_events():
        found = event_listener.get_events([(salt_master.id, "vcd/rolling/*/finish")], after_time=started)
        return found if len(found) == len(ROLLING) else None

    finished = wait_for(finish_events, "a finish event per cell")
    assert sorted(e.data["cell"] for e in finished) == sorted(ROLLING)
    assert all(e.data["result"] == "done" for e in finished)


@pytest.mark.every_salt
@SALT_SSH_3006_SHIPS_NO_UTILS
def test_an_upgrade_over_ssh_with_no_salt_master_running(ssh_group, master_without_daemon):
    cells = ssh_group(UPGRADING, jobs=(1.0, 1.5), installer=True, installed_version=OLD)
    group = ServerGroup(list(cells.values()))
    plan = {"cells": list(UPGRADING), "version": NEW, "backup_completed": True, "ssh": True, "upgrade_id": "ssh"}
    salt_run = master_without_daemon.salt_run_cli(timeout=600)
    success, report = run_orchestration(salt_run, "orch.vcd_upgrade", {"vcd_upgrade": plan})
    assert success is True, report
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
