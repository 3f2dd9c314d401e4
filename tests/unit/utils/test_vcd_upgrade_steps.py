"""The upgrade's steps on Linux cells, with the cells' answers given (`_utils/_vcd_upgrade_steps.py`)."""

from tests.support import load_salt_module
from tests.unit.utils.stand_ins import reached, upgrade_plan

steps = load_salt_module("_utils/_vcd_upgrade_steps.py", "vcd_upgrade_steps_unit_under_test")
orchestration = steps.orchestration

NEW = "10.6.0"
CELLS = ["c1", "c2"]


def context(answers, **plan):
    return upgrade_plan(**dict({"cells": reached(answers), "order": CELLS, "version": NEW, "db_cell": "c1"}, **plan))


LISTED = [{"name": "c1", "version": "10.5.0"}, {"name": "c2", "version": "10.5.0"}]
GROUP = {
    "vcd_cell.version": {"c1": "10.5.0", "c2": "10.5.0"},
    "vcd_cell.is_running": {"c1": True, "c2": False},
    "vcd_cell.readiness": {"c1": {"cell_name": "c1"}, "c2": {"cell_name": "c2"}},
    "vcd_cell.cells": {"c1": LISTED, "c2": "ERROR: no REST on a stopped cell"},
}


def test_the_preflight_records_what_it_found_in_one_job_per_cell():
    ctx = context(GROUP)
    assert steps.preflight(CELLS, ctx) == {"c1": None, "c2": None}
    ctx.cells.call_each.assert_called_once()
    assert ctx.found.running == {"c1": True, "c2": False}
    assert ctx.found.upgraded_already is False
    assert ctx.record.saved == [
        {"before": GROUP["vcd_cell.version"], "names": {"c1": "c1", "c2": "c2"}, "listed": ["c1", "c2"]}
    ]


def test_the_preflight_refuses_a_group_with_a_cell_outside_the_plan():
    listing = [*LISTED, {"name": "c3", "version": "10.5.0"}]
    ctx = context(dict(GROUP, **{"vcd_cell.cells": {"c1": listing}}))
    outcome = steps.preflight(CELLS, ctx)
    assert set(outcome) == set(CELLS)
    assert all("outside the plan: c3" in why for why in outcome.values())
    assert not ctx.record.saved


def test_the_preflight_names_a_cell_that_did_not_answer():
    ctx = context(dict(GROUP, **{"vcd_cell.version": {"c1": "10.5.0"}}))
    outcome = steps.preflight(CELLS, ctx)
    assert outcome["c1"] is None and "its job was lost" in outcome["c2"]


def test_a_group_on_the_version_and_serving_is_upgraded_already():
    ctx = context(
        dict(GROUP, **{"vcd_cell.version": {"c1": NEW, "c2": NEW}, "vcd_cell.is_running": {"c1": True, "c2": True}})
    )
    steps.preflight(CELLS, ctx)
    assert ctx.found.upgraded_already is True


def test_the_database_is_upgraded_once_only_with_every_cell_read_stopped():
    ctx = context({"vcd_cell.is_running": {"c1": False, "c2": False}, "vcd_cell.upgrade_database": {"c1": {}}})
    assert steps.database(CELLS, ctx) == {"c1": None, "c2": None}
    ctx.cells.call.assert_called_with(["c1"], "vcd_cell.upgrade_database", kwarg={"backup_completed": True})
    funs = [c.args[1] for c in ctx.cells.call.call_args_list]
    assert funs == ["vcd_cell.is_running", "vcd_cell.upgrade_database"]


def test_the_database_is_left_alone_while_a_cell_runs_or_cannot_say():
    for running in ({"c1": False, "c2": True}, {"c1": False}):
        ctx = context({"vcd_cell.is_running": running})
        outcome = steps.database(CELLS, ctx)
        assert outcome["c1"].startswith("cell(s) still run: c2")
        assert [c.args[1] for c in ctx.cells.call.call_args_list] == ["vcd_cell.is_running"]


def test_an_install_sls_must_leave_the_cell_reporting_the_version():
    ctx = context({"vcd_cell.version": {"c1": NEW, "c2": "10.5.0"}}, install_sls="vcd_install", cell_pillar=None)
    ctx.cells.apply.return_value = {"c1": None, "c2": None}
    outcome = steps.install(CELLS, ctx)
    assert outcome == {"c1": None, "c2": f"the cell reports vCD 10.5.0 after the install, not {NEW}"}
    # Past this point a failed run must not be undone by vcd.active alone: the record says so first.
    assert ctx.record.saved == [{"point_of_no_return": True}]
