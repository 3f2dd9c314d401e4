"""
The ``vcd_cell`` beacon on a real minion: configured in its pillar the Salt way, it tells the master's bus
of a cell quiesced by hand, or stopped, behind everyone's back, once, and once more when that is over.
"""

import json
import time

import pytest

from simulator.model import Cell, CellConfig
from simulator.server import CellServer
from tests.e2e.conftest import ADMIN_PASSWORD
from tests.support import wait_for

MINION = "beacon-cell"
# Read every second, said after two: the test waits for conditions, these only make them come soon.
BEACON = {"vcd_cell": [{"interval": 1}, {"quiesced_for": 2}]}


def beacon_events(event_listener, salt_master, what, since):
    tag = f"salt/beacon/{MINION}/vcd_cell/{what}"
    return event_listener.get_events([(salt_master.id, tag)], after_time=since)


@pytest.fixture(scope="module")
def beacon_cell(cell_minion, pillar_dir, salt_cli):
    """A cell's server behind a minion whose pillar configures the beacon; each test serves a new cell."""
    # Salt counts a beacon's interval in turns of the minion's loop_interval while it calls beacons once
    # a second: salt-factories' loop_interval (0.05 s) would make "interval: 1" twenty seconds. Salt's own.
    with CellServer(fresh_cell()) as server, cell_minion(MINION, server, overrides={"loop_interval": 1}):
        pillar = pillar_dir / f"{MINION}.sls"
        pillar.write_text(json.dumps(dict(json.loads(pillar.read_text()), beacons=BEACON)))
        assert salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=MINION).returncode == 0
        listed = wait_for(
            lambda: salt_cli.run("beacons.list", "return_yaml=False", minion_tgt=MINION).data.get("vcd_cell"),
            "the minion to list the vcd_cell beacon",
        )
        assert listed == BEACON["vcd_cell"]
        yield server


def fresh_cell():
    return Cell(CellConfig(cell_name=MINION, admin_password=ADMIN_PASSWORD))


def test_a_cell_quiesced_by_hand_then_stopped_behind_our_back_is_told_once_each(
    beacon_cell, salt_master, event_listener
):
    cell = beacon_cell.replace_cell(fresh_cell())
    began = time.time()
    cell.quiesce(True)  # by hand, as `cell-management-tool cell --quiesce true` would: no lease of ours
    (quiesced,) = wait_for(lambda: beacon_events(event_listener, salt_master, "quiesced", began), "quiesced")
    assert quiesced.data["quiesced"] is True and quiesced.data["seconds"] >= 2, quiesced.data
    cell.quiesce(False)
    wait_for(lambda: beacon_events(event_listener, salt_master, "quiesced/cleared", began), "quiesced cleared")
    # Once each: no second "quiesced" however many readings found it so.
    assert len(beacon_events(event_listener, salt_master, "quiesced", began)) == 1

    stopped_at = time.time()
    cell.shutdown()  # not by this extension: no mark of ours on the host
    (stopped,) = wait_for(lambda: beacon_events(event_listener, salt_master, "stopped", stopped_at), "stopped")
    assert stopped.data["running"] is False
    cell.service_start()
    wait_for(lambda: beacon_events(event_listener, salt_master, "stopped/cleared", stopped_at), "stopped cleared")


def test_a_cell_our_drain_holds_or_stopped_is_not_told(beacon_cell, salt_cli, salt_master, event_listener):
    cell = beacon_cell.replace_cell(fresh_cell())
    began = time.time()
    # Drained and stopped by this extension: quiesced under its lease, then stopped with its mark.
    assert salt_cli.run("state.apply", "vcd.drained", minion_tgt=MINION).returncode == 0
    assert cell.snapshot()["service"] == "stopped"
    (shutdown,) = [e for e in cell.events() if e["event"] == "shutdown"]

    def readings_since_the_shutdown():
        # The beacon's: vmware-vcd-cell status, once a second; three seconds past quiesced_for.
        found = [e for e in cell.events() if e["event"] == "cli" and e["argv"] == ["status"]]
        return [e for e in found if e["t"] > shutdown["t"]][5:] or None

    wait_for(readings_since_the_shutdown, "the beacon's readings of the stopped cell")
    assert not beacon_events(event_listener, salt_master, "stopped", began)
    assert not beacon_events(event_listener, salt_master, "quiesced", began)
