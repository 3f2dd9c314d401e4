"""
The quiesce lease holds however the drain runs on a cell with a master: (a) through the minion daemon,
(b) through ``salt-call`` on a host whose daemon runs. Each run is killed for real right after its
quiesce; the lease's keeper must unquiesce the cell, say so on the master's bus, and end.
(c), masterless ``salt-call --local``, is in ``test_masterless.py``.
"""

import contextlib
import json
import os
import signal
import subprocess
import time

import psutil
import pytest

from tests.e2e.conftest import events_of, wait_for_event
from tests.e2e.masterless import SALT_CALL
from tests.support import wait_for

LEASE = 3
DRAIN = {"vcd_cell": {"drain": {"lease": LEASE, "interval": 1}}}


def lease_report(salt_cli):
    return salt_cli.run("vcd_cell.lease", minion_tgt="cell1").data


def lease_gone(salt_cli):
    report = lease_report(salt_cli)
    return isinstance(report, dict) and not report["held"] and report["keeper"] is None and report["drain"] is None


def assert_unquiesced_by_the_lease(cell, began, killed, event_listener, salt_master, since):
    """
    The cell unquiesced once the lease ran out: no sooner than the lease after the drain ``began`` (the
    cell's clock; the lease starts before the quiesce tool does, whose events come later on a loaded
    machine), and within the
    lease (renewed last before the kill) and a few seconds of the keeper's own work after the kill, ``killed``
    on the cell's clock, however long the kill itself took.
    """
    (unquiesce,) = wait_for(lambda: events_of(cell, "unquiesce"), "the lease to unquiesce the cell")
    assert unquiesce["t"] - began >= LEASE
    assert unquiesce["t"] - killed <= LEASE + 5
    assert not events_of(cell, "shutdown", "job_abort")
    assert cell.snapshot()["quiesced"] is False and cell.snapshot()["service"] == "running"

    def lease_event():
        events = event_listener.get_events([(salt_master.id, "vcd/cell/cell1/lease")], after_time=since)
        return [e.data.get("data", e.data) for e in events]

    (event,) = wait_for(lease_event, "the keeper's event on the master's bus", deadline=30)
    assert (event["expired"], event["unquiesced"], event["cell"]) == (True, True, "cell1")


def test_a_killed_minion_job_leaves_the_cell_unquiesced_after_its_lease(
    fake_cell1, in_background, salt_cli, event_listener, salt_master
):
    since = time.time()
    cell = fake_cell1(jobs=[None], version="8.10")
    began = cell.now()
    run = in_background("vcd.drained", pillar=DRAIN)
    wait_for_event(cell, "quiesce")
    running = salt_cli.run("saltutil.running", minion_tgt="cell1").data
    (job,) = [j for j in running if j["fun"] == "state.apply"]
    assert salt_cli.run("saltutil.kill_job", job["jid"], minion_tgt="cell1").returncode == 0
    killed = cell.now()
    run.abandon()
    assert_unquiesced_by_the_lease(cell, began, killed, event_listener, salt_master, since)
    wait_for(lambda: lease_gone(salt_cli), "the keeper to end after acting", deadline=15)


def test_a_killed_minion_daemon_leaves_the_cell_unquiesced_after_its_lease(
    fake_cell1, in_background, salt_cli, cell1_minion, event_listener, salt_master
):
    since = time.time()
    cell = fake_cell1(jobs=[None], version="8.10")
    began = cell.now()
    run = in_background("vcd.drained", pillar=DRAIN)
    wait_for_event(cell, "quiesce")
    daemon = psutil.Process(cell1_minion.pid)
    doomed = [daemon, *daemon.children(recursive=True)]
    for process in doomed:
        with contextlib.suppress(psutil.NoSuchProcess):  # a tool run may end by itself meanwhile
            process.send_signal(signal.SIGKILL)
    psutil.wait_procs(doomed, timeout=30)
    killed = cell.now()
    run.abandon()
    try:
        assert_unquiesced_by_the_lease(cell, began, killed, event_listener, salt_master, since)
    finally:
        cell1_minion.terminate()
        cell1_minion.start()
        wait_for(lambda: salt_cli.run("test.ping", minion_tgt="cell1").data is True, "cell1 to answer again")
    wait_for(lambda: lease_gone(salt_cli), "the keeper to end after acting", deadline=15)


@pytest.fixture
def salt_call(cell1_minion):
    """``salt_call(*args)``: the cmdline of salt-call on cell1's host, through its master (no --local)."""

    def cmdline(*args, local=False):
        return [
            SALT_CALL,
            f"--config-dir={cell1_minion.config_dir}",
            "--out=json",
            *(["--local"] if local else []),
            *args,
        ]

    return cmdline


def test_a_killed_salt_call_leaves_the_cell_unquiesced_after_its_lease(
    fake_cell1, salt_call, salt_cli, event_listener, salt_master
):
    since = time.time()
    cell = fake_cell1(jobs=[None], version="8.10")
    began = cell.now()
    run = subprocess.Popen(
        salt_call("state.apply", "vcd.drained", f"pillar={json.dumps(DRAIN)}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    wait_for_event(cell, "quiesce")
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=30)
    assert_unquiesced_by_the_lease(cell, began, cell.now(), event_listener, salt_master, since)
    wait_for(lambda: lease_gone(salt_cli), "the keeper to end after acting", deadline=15)


def test_a_drain_through_the_daemon_excludes_salt_call_drains_and_its_lease_ends_with_it(
    fake_cell1, in_background, salt_call, salt_cli
):
    cell = fake_cell1(jobs=[None], version="8.10")
    (job,) = cell.snapshot()["jobs"]
    run = in_background("vcd.drained", pillar=DRAIN)
    wait_for_event(cell, "quiesce")
    tool_runs = len(events_of(cell, "cli"))
    report = lease_report(salt_cli)
    assert report["held"] is True and report["keeper"]["alive"] is True
    assert "salt-minion job" in report["drain"]
    for local in (False, True):
        second = subprocess.run(
            salt_call("vcd_cell.drain", "timeout=5", local=local), capture_output=True, text=True, timeout=60
        )
        assert second.returncode != 0
        assert f"Another drain of this cell is running: {report['drain']}" in second.stderr
    assert len(events_of(cell, "cli")) == tool_runs
    cell.cancel_job(job["id"])
    result = run.result()
    assert result["result"] is True, result["comment"]
    assert len(events_of(cell, "quiesce", "shutdown")) == 2
    wait_for(lambda: lease_gone(salt_cli), "the completed drain's keeper to end", deadline=15)
    assert not events_of(cell, "unquiesce")
