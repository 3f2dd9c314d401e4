"""
What `vcd_upgrade` leaves for the next run when a run fails, and how its last step finds a cell that went
down after it was started (each found by the fault matrix: its case named at the test).
"""

from tests.support import load_salt_module
from tests.unit.utils.stand_ins import upgrade_plan

runner = load_salt_module("_runners/vcd_upgrade.py", "vcd_upgrade_resume_under_test")
steps = load_salt_module("_utils/_vcd_upgrade_steps.py", "vcd_upgrade_steps_under_test")

NEW = "10.6.0"


class Record:
    """Stands in for the upgrade's record in the master's cache."""

    def __init__(self, data):
        self.data = data
        self.saved = []
        self.forgotten = False

    def save(self):
        self.saved.append(dict(self.data))

    def forget(self):
        self.forgotten = True


def test_starting_over_keeps_a_failover_mode_not_set_back_for_the_next_run():
    # upgrade/appliance/backup/start/appliance-unavailable: the next run read Manual as the mode before.
    record = Record({"done": ["vcd2"], "primary": "vcd1", "failover_before": "AUTOMATIC", "failover_changed": True})
    runner._start_over(record)
    assert not record.forgotten
    assert record.data == {"done": [], "failover_before": "AUTOMATIC", "failover_changed": True}
    assert record.saved == [record.data]


def test_starting_over_forgets_a_record_with_nothing_to_set_back():
    record = Record({"done": ["vcd2"], "failover_before": "AUTOMATIC", "failover_changed": False})
    runner._start_over(record)
    assert record.forgotten
    assert record.saved == []


class Cells:
    """Stands in for the orchestration's Cells: ``rounds`` of answers to verify's job, then what it applied."""

    def __init__(self, rounds):
        self.rounds = list(rounds)
        self.applied = []

    def call_each(self, cells, calls):
        health, listing = self.rounds.pop(0)
        return {
            "vcd_cell.health": {cell: {"up": cell not in health} for cell in cells},
            "vcd_cell.lease": {cell: {"held": False} for cell in cells},
            "vcd_cell.cells": {cell: listing for cell in cells},
        }

    def apply(self, cells, sls, pillar):
        self.applied.append((list(cells), sls))
        return {cell: None for cell in cells}


def listing(versions):
    return [
        {"name": cell, "version": version, "active": True, "status": "ACTIVE"} for cell, version in versions.items()
    ]


def context(cells):
    return upgrade_plan(cells=cells, record=Record({"names": {}}), version=NEW, cell_pillar={}, health_timeout=5)


def test_verify_starts_again_a_cell_down_that_vcd_lists_on_the_new_version():
    # upgrade/appliance/verify/start/crash: the re-run resuming at verify failed there for good.
    on_new = listing({"vcd1": NEW, "vcd2": NEW})
    cells = Cells([({"vcd2"}, on_new), (set(), on_new)])
    assert steps.verify(["vcd1", "vcd2"], context(cells)) == {"vcd1": None, "vcd2": None}
    assert cells.applied == [(["vcd2"], "vcd.active")]


def test_verify_does_not_start_a_cell_listed_on_another_version():
    cells = Cells([({"vcd2"}, listing({"vcd1": NEW, "vcd2": "10.5.0"}))])
    outcome = steps.verify(["vcd1", "vcd2"], context(cells))
    assert cells.applied == []
    assert outcome["vcd1"] is None
    assert "it does not serve" in outcome["vcd2"]
    assert f"not active on {NEW}" in outcome["vcd2"]
