"""The vcd_cell beacon (`_beacons/vcd_cell.py`): a cell quiesced or stopped behind everyone's back, said once."""

import pytest
from salt.exceptions import CommandExecutionError

from tests.support import load_salt_module

beacon = load_salt_module("_beacons/vcd_cell.py", "vcd_cell_beacon_under_test")
DECLARED = [{"interval": 10}, {"quiesced_for": 60}]
# What Salt hands the beacon of DECLARED: interval taken out (Salt itself calls it that often), its name in.
CONFIG = [{"quiesced_for": 60}, {"_beacon_name": "vcd_cell"}]


class Cell:
    """What the module's functions answer of a cell, and how often they were asked."""

    def __init__(self):
        self.running, self.status, self.lease, self.asked = True, {"active": True, "quiesced": False}, {}, []
        self.declared = DECLARED

    def functions(self):
        def ask(name, answer):
            def function():
                self.asked.append(name)
                return answer()

            return function

        return {
            "vcd_cell.is_running": ask("is_running", lambda: self.running),
            "vcd_cell.status": ask("status", lambda: self.status),
            "config.merge": lambda key, default: {"vcd_cell": self.declared} if key == "beacons" else default,
            "vcd_cell.lease": ask("lease", lambda: {"held": False, "drain": None, "stopped_at": None, **self.lease}),
        }


@pytest.fixture(name="cell")
def _cell(monkeypatch):
    cell, clock = Cell(), [1000.0]
    monkeypatch.setattr(beacon, "__salt__", cell.functions(), raising=False)
    monkeypatch.setattr(beacon, "__context__", {}, raising=False)
    monkeypatch.setattr(beacon.time, "time", lambda: clock[0])
    cell.clock = clock
    return cell


def look(cell, at):
    cell.clock[0] = 1000.0 + at
    return [event["tag"] for event in beacon.beacon(CONFIG)]


def test_a_cell_quiesced_by_hand_fires_once_after_quiesced_for_and_once_when_it_is_over(cell):
    assert look(cell, 0) == []
    cell.status = {"active": False, "quiesced": True}  # quiesced by hand
    assert look(cell, 10) == [] and look(cell, 60) == []  # 50 s so far
    assert look(cell, 70) == ["quiesced"]
    assert look(cell, 80) == [] and look(cell, 200) == []  # once
    cell.status = {"active": True, "quiesced": False}
    assert look(cell, 210) == ["quiesced/cleared"] and look(cell, 220) == []


def test_a_drain_or_a_lease_of_ours_holds_the_cell_quiet(cell):
    cell.status = {"active": False, "maintenance": False}  # an older tool: the scheduler inactive
    cell.lease = {"held": True}
    assert look(cell, 0) == [] and look(cell, 100) == []
    cell.lease = {"held": False, "drain": "pid 12 (salt-minion job, since ...)"}
    assert look(cell, 200) == []
    cell.lease = {}
    assert look(cell, 210) == [] and look(cell, 280) == ["quiesced"]


def test_a_cell_stopped_by_someone_else_fires_and_one_stopped_by_us_does_not(cell):
    assert look(cell, 0) == []
    cell.running, cell.lease = False, {"stopped_at": 1005.0}  # a drain of ours stopped it
    assert look(cell, 10) == [] and look(cell, 100) == []
    assert "status" not in cell.asked[3:]  # a stopped cell costs no status reading
    cell.running = True  # started again (a reboot), its mark left behind
    assert look(cell, 110) == []
    cell.running = False  # then stopped behind everyone's back
    assert look(cell, 120) == [] and look(cell, 180) == ["stopped"]
    cell.running = True
    assert look(cell, 190) == ["stopped/cleared"]


def test_without_an_interval_configured_the_beacon_reads_once_a_minute_itself(cell):
    cell.declared = [{"quiesced_for": 60}]  # Salt would call it at every turn of the minion's loop
    look(cell, 0)
    asked = len(cell.asked)
    assert look(cell, 1) == [] and look(cell, 59) == [] and len(cell.asked) == asked
    look(cell, 60)
    assert len(cell.asked) == asked * 2
    # With an interval configured, Salt calls it that often, and it reads each time.
    cell.declared = DECLARED
    look(cell, 61)
    assert len(cell.asked) == asked * 3


def test_a_reading_that_fails_is_passed_over(cell):
    def hung():
        raise CommandExecutionError("cell-management-tool did not answer within 60 s")

    beacon.__salt__["vcd_cell.status"] = hung
    cell.status = {"active": False}
    assert look(cell, 0) == [] and look(cell, 100) == []


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ([{"interval": 60}, {"quiesced_for": 900}], (True, "Valid beacon configuration")),
        ([{"quiesced_for": 0}], (False, "vcd_cell beacon: quiesced_for must be a positive number of seconds, not 0")),
        ([{"interval": "soon"}], (False, "vcd_cell beacon: interval must be a positive number of seconds, not 'soon'")),
        (
            {"interval": 60},
            (False, "vcd_cell beacon: the configuration must be a list, e.g. [{interval: 60}, {quiesced_for: 900}]"),
        ),
    ],
)
def test_the_configuration_is_checked(config, said):
    assert beacon.validate(config) == said
