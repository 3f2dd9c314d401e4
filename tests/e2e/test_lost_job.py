"""
A cell's minion killed with its running job (an OOM kill, a service restart, an upgrade of the minion)
in the middle of an upgrade's drain, install and start, through a real master and real minions: the
orchestration knows the job is lost within about a minute (Salt's own job liveness check), not after the
step's timeout (2 hours by default), fails naming the cell, the step and what was lost, and the same
command run again finishes the upgrade with nothing lost.
"""

import json
import subprocess
import time

import pytest

from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig
from tests.e2e.conftest import (
    ADMIN_PASSWORD,
    events_of,
    kill_with_its_jobs,
    orchestration_return,
    run_orchestration,
)
from tests.support import assert_every_shutdown_follows_a_drained_reading, wait_for

CELLS = ("lost-1", "lost-2", "lost-3")
VICTIM = "lost-2"
OLD, NEW = "10.5.0", "10.6.0"
# What "noticed within about a minute" allows: Salt's liveness check finds a lost job within about 35 s
# (LIVENESS_SECONDS and twice gather_job_timeout); the rest is the failed run's own return (restoring
# service before the point of no return) on a slow machine.
NOTICED_WITHIN = 90


@pytest.fixture(scope="module")
def group(upgrade_cells, runners_synced):
    """Three cells' servers and minions; each test serves a fresh server group behind them."""
    with upgrade_cells(CELLS, NEW) as cells:
        yield cells


def fresh_group(group, victim_config):
    cells = []
    for name, server in group.servers.items():
        config = victim_config if name == VICTIM else {}
        cell = server.replace_cell(
            Cell(CellConfig(cell_name=name, admin_password=ADMIN_PASSWORD, installed_version=OLD, **config))
        )
        cell.add_job(seconds=0.5, name="vappDeploy", owner="alice")
        cells.append(cell)
    return ServerGroup(cells)


def plan(upgrade_id):
    return {"vcd_upgrade": {"cells": list(CELLS), "version": NEW, "backup_completed": True, "upgrade_id": upgrade_id}}


def kill_when(salt_run_cli, upgrade_id, reached, what, minion):
    """
    Run the upgrade in the background; once ``reached()`` holds, kill ``minion`` with its jobs and start
    it again at once. Returns (result, the runner's return, seconds from the kill to the run's end).
    """
    command = salt_run_cli.cmdline("state.orchestrate", "orch.vcd_upgrade", pillar=plan(upgrade_id))
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for(reached, what, deadline=120)
        kill_with_its_jobs(minion)
        killed = time.monotonic()
        minion.start()
        out, _ = run.communicate(timeout=600)
        ended = time.monotonic()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)
    return (*orchestration_return(json.loads(out)), ended - killed)


def assert_lost_and_named(report, step, took):
    assert took < NOTICED_WITHIN, f"the lost job was noticed {took:.0f}s after the kill"
    assert f"Stopped at {VICTIM}, step {step}" in report["comment"], report["comment"]
    assert "was lost" in report["comment"] and "no longer runs it" in report["comment"], report["comment"]
    assert report["cells"][VICTIM]["result"] == "failed"


def assert_upgraded_with_nothing_lost(cells, group):
    for cell in cells:
        name = cell.config.cell_name
        assert not events_of(cell, "job_abort"), name
        assert_every_shutdown_follows_a_drained_reading(cell)
        snapshot = cell.snapshot()
        assert (snapshot["service"], snapshot["quiesced"], cell.installed_version) == ("running", False, NEW), name
    assert [e["event"] for e in group.timeline.since(0) if e["event"].startswith("db_upgrade")] == ["db_upgrade"]


def test_a_minion_killed_during_the_drain_is_noticed_and_a_rerun_finishes(group, salt_run_cli):
    cells = fresh_group(group, {})
    victim = cells.cell(VICTIM)
    held = victim.add_job(seconds=None, name="vmMigrate", owner="bob")
    others = [cell for cell in cells.cells if cell is not victim]

    def others_drained():
        return all(events_of(cell, "shutdown") for cell in others)

    success, report, took = kill_when(
        salt_run_cli, "lost-drain", others_drained, "the other cells drained", group.minions[VICTIM]
    )
    assert success is False
    assert_lost_and_named(report, "drain", took)
    # Before the point of no return: service restored, nothing installed, the held job still running.
    assert "every cell was put back into service" in report["comment"], report["comment"]
    assert all(cell.snapshot()["service"] == "running" for cell in cells.cells)
    assert not any(events_of(cell, "install") for cell in cells.cells)
    assert victim.snapshot()["job_count"] == 1

    victim.end_job(held["id"])
    success, report = run_orchestration(salt_run_cli, "orch.vcd_upgrade", plan("lost-drain"))
    assert success is True, report
    assert_upgraded_with_nothing_lost(cells.cells, cells)


def test_a_minion_killed_during_the_install_is_noticed_and_a_rerun_resumes(group, salt_run_cli):
    # The victim's installer runs until the kill ends it with the minion's other processes.
    cells = fresh_group(group, {"install_seconds": 3600})
    victim = cells.cell(VICTIM)

    def installing():
        return any(e["tool"].startswith("vmware-vcloud") for e in events_of(victim, "cli"))

    success, report, took = kill_when(
        salt_run_cli, "lost-install", installing, "the victim's installer to run", group.minions[VICTIM]
    )
    assert success is False
    assert_lost_and_named(report, "install", took)
    assert "Past the point of no return" in report["comment"] and "resumes at install" in report["comment"]
    assert victim.installed_version == OLD and cells.schema_version == OLD

    victim.reconfigure(install_seconds=0)
    success, report = run_orchestration(salt_run_cli, "orch.vcd_upgrade", plan("lost-install"))
    assert success is True, report
    assert "resumed after preflight, quiesce, drain" in report["comment"]
    assert_upgraded_with_nothing_lost(cells.cells, cells)


def test_a_minion_killed_during_the_start_is_noticed_and_a_rerun_resumes(group, salt_run_cli):
    # The victim's start takes until the test ends it.
    cells = fresh_group(group, {"start_seconds": 3600})
    victim = cells.cell(VICTIM)

    def starting():
        return events_of(victim, "start")

    success, report, took = kill_when(
        salt_run_cli, "lost-start", starting, "the victim to start", group.minions[VICTIM]
    )
    assert success is False
    assert_lost_and_named(report, "start", took)
    assert "resumes at start" in report["comment"]

    victim.reconfigure(start_seconds=0)
    success, report = run_orchestration(salt_run_cli, "orch.vcd_upgrade", plan("lost-start"))
    assert success is True, report
    assert_upgraded_with_nothing_lost(cells.cells, cells)
