"""The upgrade's appliance route, with the appliances' answers given (`_utils/_vcd_upgrade_appliance.py`)."""

from tests.support import load_salt_module
from tests.unit.utils.stand_ins import Record, cluster_view, reached, upgrade_plan

route = load_salt_module("_utils/_vcd_upgrade_appliance.py", "vcd_upgrade_appliance_under_test")

CELLS = ["vcd1", "vcd2", "vcd3"]
ROLES = {"vcd1": "STANDBY", "vcd2": "PRIMARY", "vcd3": "CELL"}
# The database nodes' appliances, the primary's first.
NODES = {"vcd2": "db-2", "vcd1": "db-1"}
OLD, NEW = "10.5.0.23000000", "10.6.0"
LISTED = [{"name": cell} for cell in CELLS]


def group(**answers):
    """The three appliances answering the preflight's job as a healthy group on OLD would, and ``answers``."""
    found = {
        "vcd_cell.version": dict.fromkeys(CELLS, OLD),
        "vcd_cell.is_running": dict.fromkeys(CELLS, True),
        "vcd_cell.readiness": {cell: {"cell_name": cell} for cell in CELLS},
        "vcd_cell.cells": dict.fromkeys(CELLS, LISTED),
        "vcd_cell.appliance_nodes": {cell: cluster_view(ROLES, NODES, cell) for cell in CELLS},
    }
    found.update(answers)
    return reached(found)


def context(calls, record=None, **plan):
    return upgrade_plan(**dict({"cells": calls, "order": CELLS, "version": NEW, "record": record or Record()}, **plan))


def test_the_preflight_finds_the_primary_and_records_the_cluster_as_it_was():
    ctx = context(group())
    assert route.preflight(CELLS, ctx) == dict.fromkeys(CELLS)
    assert ctx.db_cell == "vcd2"
    data = ctx.record.data
    assert (data["roles"], data["primary"], data["failover_before"]) == (ROLES, "vcd2", "AUTOMATIC")
    assert data["nodes"] == {"vcd1": "db-1", "vcd2": "db-2", "vcd3": "vcd3-node"}


def test_the_preflight_refuses_a_db_cell_other_than_the_primary_and_a_cluster_other_than_the_plan():
    assert route.preflight(CELLS, context(group(), db_cell="vcd1")) == dict.fromkeys(
        CELLS, "db_cell must be the primary appliance (vcd2), where the database is: not vcd1"
    )
    # A database node the plan does not hold: its appliance is missing from the cells planned.
    two = ["vcd1", "vcd3"]
    outcome = route.preflight(two, context(group(**{"vcd_cell.cells": dict.fromkeys(two, LISTED[::2])})))
    assert all("the database cluster's nodes (db-1, db-2) and the planned" in why for why in outcome.values())


def test_the_primary_is_installed_first_and_alone_when_its_install_fails():
    calls = group()
    calls.single.side_effect = lambda cells, *args: {
        cell: "vamicli update failed (exit 1)" if cell == "vcd2" else None for cell in cells
    }
    ctx = context(calls, Record(primary="vcd2"), install_sls=None, cell_pillar=None)
    assert route.install(CELLS, ctx) == {"vcd2": "vamicli update failed (exit 1)", "vcd1": None, "vcd3": None}
    (only,) = calls.single.call_args_list
    assert only.args[0] == ["vcd2"]
    assert ctx.record.data["point_of_no_return"] is True


def test_no_reboot_while_failover_is_automatic_nor_of_another_appliance_before_the_primary_is_back():
    record = Record(primary="vcd2", roles=ROLES)
    automatic = context(group(**{"vcd_cell.is_running": dict.fromkeys(CELLS, False)}), record, timeout=30)
    outcome = route.reboot(CELLS, automatic)
    assert outcome["vcd2"].startswith("failover must be MANUAL before a reboot (found: AUTOMATIC)")
    assert outcome["vcd1"] == outcome["vcd3"] == "not rebooted: the primary is not back"
    assert all(call.args[1] != "vcd_cell.reboot" for call in automatic.cells.call.call_args_list)
    manual = {cell: cluster_view(ROLES, NODES, cell, failover="MANUAL", down=("vcd2",)) for cell in CELLS}
    calls = group(**{"vcd_cell.is_running": {"vcd1": False, "vcd2": False}, "vcd_cell.appliance_nodes": manual})
    running, others = route._may_reboot(["vcd1", "vcd3"], context(calls, record))  # pylint: disable=protected-access
    assert running == {"vcd1": False, "vcd2": False}
    assert others == dict.fromkeys(
        ["vcd1", "vcd3"], "not rebooted: the primary vcd2 is not back (its database node is stopped, HEALTHY)"
    )


def test_the_backup_step_only_with_backup_appliance_and_the_db_cell_of_a_resumed_run_from_its_record():
    names = [name for name, _ in route.ROUTE.steps(upgrade_plan(backup="confirmed"))]
    assert "backup" not in names and names[0] == "preflight" and names[-1] == "verify"
    assert "backup" in [name for name, _ in route.ROUTE.steps(upgrade_plan(backup="appliance"))]
    assert route.ROUTE.db_cell(context(group(), Record(primary="vcd2"))) == "vcd2"
    assert route.ROUTE.db_cell(context(group(), db_cell="vcd1")) == "vcd1"


def test_after_the_point_of_no_return_each_appliance_is_described_in_words():
    calls = group(**{"vcd_cell.is_running": {"vcd1": False, "vcd2": True}})
    report = {cell: {} for cell in CELLS}
    route.ROUTE.where_cells_are(CELLS, context(calls, Record(roles=ROLES)), report)
    assert report["vcd2"]["state"] == f"PRIMARY, vCD {OLD} installed, service running, node running, HEALTHY"
    assert report["vcd1"]["state"] == f"STANDBY, vCD {OLD} installed, service stopped, node running, HEALTHY"
    assert report["vcd3"]["state"] == f"CELL, vCD {OLD} installed, service unknown, no database node"
