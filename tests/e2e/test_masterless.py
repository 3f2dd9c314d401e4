"""
Masterless: real ``salt-call --local`` processes with no salt-minion daemon and no master, each drain
proven on the fake cell's timeline, the quiesce lease included.
"""

import json

import pytest

from tests.e2e.conftest import events_of
from tests.e2e.masterless import MasterlessMinion
from tests.support import assert_every_shutdown_follows_a_drained_reading, end_running_jobs, wait_for


@pytest.fixture
def masterless(fake_cell, tmp_path):
    """``masterless(jobs=[...], **cell_config)``: (the fake cell, its masterless minion)."""

    minions = []

    def make(jobs=(), settings=None, **config):
        server = fake_cell(cell_name="cell1", **config)
        for seconds in jobs:
            server.cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
        minions.append(MasterlessMinion(tmp_path, server, **(settings or {})))
        return server.cell, minions[-1]

    yield make
    # A lease a test left held would keep its keeper alive after the test.
    for minion in minions:
        minion.run("vcd_cell.release_lease")


def assert_nothing_unsafe(cell):
    assert not events_of(cell, "job_abort")
    assert_every_shutdown_follows_a_drained_reading(cell)


def lease_gone(minion):
    """The lease's report once no lease is held and no keeper lives."""
    report = minion.run("vcd_cell.lease").data
    return report if not report["held"] and report["keeper"] is None and report["drain"] is None else None


@pytest.mark.every_salt
def test_the_shipped_defaults_drain_a_cell_and_leave_no_lease(masterless):
    cell, minion = masterless(jobs=[None, None], version="8.10")
    run = minion.start("state.apply", "vcd.drained")
    # The jobs end once the drain has read and quiesced the cell, however long that took.
    wait_for(lambda: events_of(cell, "quiesce"), "the quiesce", deadline=120)
    end_running_jobs(minion.cell_url)
    result = minion.result(run)
    assert result["result"] is True, result["comment"]
    assert "drained of 2 job(s)" in result["comment"]
    assert_nothing_unsafe(cell)
    assert len(events_of(cell, "shutdown")) == 1
    assert cell.snapshot()["service"] == "stopped"
    wait_for(lambda: lease_gone(minion), "the completed drain's lease and keeper to end", deadline=10)


@pytest.mark.every_salt
def test_test_mode_touches_nothing(masterless):
    cell, minion = masterless(jobs=[None, None])
    result = minion.apply("vcd.drained", test=True)
    assert result["result"] is None
    assert "2 running job(s)" in result["comment"]
    assert not events_of(cell, "quiesce", "shutdown")
    assert minion.run("vcd_cell.lease").data["held"] is False


def test_reapplying_to_a_drained_cell_changes_nothing(masterless):
    cell, minion = masterless(jobs=[0.5])
    assert minion.apply("vcd.drained")["result"] is True
    again = minion.apply("vcd.drained")
    assert (again["result"], again["changes"]) == (True, {})
    assert "already stopped" in again["comment"]
    assert len(events_of(cell, "shutdown")) == 1


def test_a_missing_tool_is_named_and_nothing_is_touched(masterless):
    cell, minion = masterless(jobs=[None], settings={"cmt_path": "/nonexistent/cell-management-tool"})
    result = minion.apply("vcd.drained")
    assert result["result"] is False
    assert "/nonexistent/cell-management-tool is missing or not executable" in result["comment"]
    assert not events_of(cell, "quiesce", "shutdown")


def test_a_cell_crashing_during_a_masterless_drain_is_a_failure_naming_the_lost_jobs(masterless):
    cell, minion = masterless(jobs=[None], version="10.5")
    (job,) = cell.snapshot()["jobs"]
    run = minion.start("state.apply", "vcd.drained")
    wait_for(lambda: events_of(cell, "quiesce"), "the drain to quiesce the cell")
    cell.crash()
    out, _ = run.communicate(timeout=120)
    (result,) = json.loads(out)["local"].values()
    assert result["result"] is False
    assert "The cell stopped during the drain, before it was drained" in result["comment"]
    assert job["id"] in result["comment"] and "lost" in result["comment"]
    assert not events_of(cell, "shutdown")


@pytest.mark.every_salt
def test_a_killed_masterless_drain_leaves_the_cell_unquiesced_after_its_lease(masterless):
    cell, minion = masterless(jobs=[None], version="8.10")
    run = minion.start("state.apply", "vcd.drained", pillar={"vcd_cell": {"drain": {"lease": 3, "interval": 1}}})
    (quiesce,) = wait_for(lambda: events_of(cell, "quiesce"), "the drain to quiesce the cell")
    keeper = minion.run("vcd_cell.lease").data["keeper"]
    assert keeper["alive"] is True and keeper["pid"] != run.pid
    minion.kill(run)
    killed = cell.now()
    (unquiesce,) = wait_for(lambda: events_of(cell, "unquiesce"), "the lease to unquiesce the cell")
    # No sooner than the lease after the quiesce; within it (renewed last before the kill) and a few
    # seconds of the keeper's own work after the kill, however long the test took to get there.
    assert unquiesce["t"] - quiesce["t"] >= 3
    assert unquiesce["t"] - killed <= 3 + 5
    assert not events_of(cell, "shutdown", "job_abort")
    assert cell.snapshot()["quiesced"] is False and cell.snapshot()["service"] == "running"
    wait_for(lambda: lease_gone(minion), "the keeper to end after acting", deadline=10)
    warning = wait_for(
        lambda: [line for line in minion.log_file.read_text().splitlines() if "quiesce lease of 3s" in line],
        "the keeper's log line",
        deadline=10,
    )
    assert "[WARNING ]" in warning[0] and "unquiesced" in warning[0]


@pytest.mark.every_salt
def test_a_second_drain_fails_at_once_naming_the_first_and_touches_nothing(masterless):
    cell, minion = masterless(jobs=[None], version="8.10")
    first = minion.start("state.apply", "vcd.drained", pillar={"vcd_cell": {"drain": {"interval": 1}}})
    try:
        wait_for(lambda: events_of(cell, "quiesce"), "the first drain to quiesce the cell")
        tool_runs = len(events_of(cell, "cli"))
        # concurrent=True passes Salt's own guard against two state runs: the module's claim must hold.
        second = minion.run("state.apply", "vcd.drained", "concurrent=True")
        (result,) = second.data.values()
        assert result["result"] is False
        assert f"Another drain of this cell is running: pid {first.pid} (salt-call --local" in result["comment"]
        by_hand = minion.run("vcd_cell.drain", "timeout=5")
        assert by_hand.returncode != 0
        assert f"Another drain of this cell is running: pid {first.pid}" in by_hand.stderr
        assert len(events_of(cell, "cli")) == tool_runs
        assert len(events_of(cell, "quiesce")) == 1
    finally:
        minion.kill(first)
    minion.run("vcd_cell.release_lease")


def test_a_released_lease_is_inert_a_later_quiesce_by_hand_stays(masterless, cmt):
    cell, minion = masterless(jobs=[0.5], version="8.10")
    assert minion.apply("vcd.drained", pillar={"vcd_cell": {"drain": {"lease": 2, "interval": 1}}})["result"] is True
    wait_for(lambda: lease_gone(minion), "the drain's keeper to end", deadline=10)
    assert minion.apply("vcd.active")["result"] is True
    assert minion.run("vcd_cell.quiesce").returncode == 0
    # With no lease and no keeper left, nothing on the host can undo this quiesce.
    assert lease_gone(minion)
    assert cell.snapshot()["quiesced"] is True
    assert len(events_of(cell, "unquiesce")) == 0
