"""
The rollout with ``ssh: true``: every call to the cells goes through real ``salt-ssh`` to a real OpenSSH
server (tests/e2e/ssh.py), each cell a roster target with its own thin directory and no salt-minion
anywhere. It runs under a running salt-master and fires its events on the bus. (The upgrade's over
salt-ssh, with no master at all, is tests/e2e/test_ssh_upgrade.py: a file each, so that pytest-xdist
can run two of its longest tests side by side.)
"""

import time

import pytest

from tests.e2e.conftest import (
    assert_a_finish_event_each,
    assert_nothing_lost,
    assert_one_after_another,
    run_orchestration,
)

ROLLING = ("roll-a", "roll-b", "roll-c")
# A whole orchestration over salt-ssh, a few seconds of CPU a call, took up to 280 s beside make test's
# other processes on two cores: more than the default per-test limit leaves on a slower machine.
pytestmark = pytest.mark.timeout(900)


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
    assert_one_after_another(cells, ROLLING)
    # The runner fired the events on the master's bus, as through minions.
    assert_a_finish_event_each(event_listener, salt_master, ROLLING, started)
