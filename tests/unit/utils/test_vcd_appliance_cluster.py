"""The appliances' database cluster as the orchestrations set its failover mode (`_utils/_vcd_appliance_cluster.py`)."""

from unittest import mock

import pytest

from tests.support import load_salt_module, minion_codes
from tests.unit.utils.stand_ins import Record

cluster = load_salt_module("_utils/_vcd_appliance_cluster.py", "vcd_appliance_cluster_under_test")
orchestration = cluster.orchestration


def appliances(modes):
    """Cells whose ``vcd_cell.failover_mode`` answers each appliance's entry of ``modes``: a mode, or an error."""
    calls = mock.create_autospec(orchestration.Cells, instance=True)

    def call(cells, fun, arg=(), kwarg=None, timeout=None):
        (cell,) = cells
        answer = modes[cell]
        given = {cell: {"failover": arg[0].upper()} if answer == "sets" else answer}
        return orchestration.Answers(given, codes=minion_codes(given))

    calls.call.side_effect = call
    return calls


def test_the_database_nodes_are_the_primary_and_standbys_the_primary_first():
    roles = {"c1": "CELL", "s1": "STANDBY", "p1": "PRIMARY", "s2": "STANDBY"}
    assert cluster.database_nodes(roles, "p1") == ["p1", "s1", "s2"]
    assert cluster.database_nodes(roles) == ["s1", "p1", "s2"]


def test_failover_goes_manual_only_when_found_automatic_and_is_recorded_as_changed():
    calls, record = appliances({"p1": "sets"}), Record(failover_before="AUTOMATIC")
    assert cluster.failover_manual(calls, "p1", record) is None
    calls.call.assert_called_once_with(["p1"], "vcd_cell.failover_mode", arg=["manual"])
    assert record.saved == [{"failover_before": "AUTOMATIC", "failover_changed": True}]
    found_manual = Record(failover_before="MANUAL")
    calls.call.reset_mock()
    assert cluster.failover_manual(calls, "p1", found_manual) is None
    calls.call.assert_not_called()
    assert not found_manual.saved


def test_a_failover_mode_that_would_not_change_is_why_the_step_failed():
    calls, record = appliances({"p1": "ERROR: the appliance API answered 503"}), Record(failover_before="AUTOMATIC")
    assert (
        cluster.failover_manual(calls, "p1", record) == "vcd_cell.failover_mode: ERROR: the appliance API answered 503"
    )
    assert not record.saved


@pytest.mark.parametrize(
    "modes, why, changed",
    [
        ({"p1": "sets", "s1": "sets"}, None, False),
        ({"p1": "ERROR: down", "s1": "sets"}, None, False),
        (
            {"p1": "ERROR: down", "s1": {"failover": "MANUAL"}},
            "p1: vcd_cell.failover_mode: ERROR: down; s1: the failover mode is MANUAL after setting it automatic",
            True,
        ),
    ],
    ids=["through-the-first", "a-node-down-gives-way", "none-sets-it"],
)
def test_the_failover_mode_is_set_back_through_the_first_node_that_can(modes, why, changed):
    calls, record = appliances(modes), Record(failover_before="AUTOMATIC", failover_changed=True)
    assert cluster.restore_failover(calls, record, ["p1", "s1"]) == why
    assert record.data["failover_changed"] is changed
    assert bool(record.saved) is not changed


def test_a_failover_mode_the_plan_never_changed_is_not_touched():
    calls = appliances({})
    assert cluster.restore_failover(calls, Record(failover_before="AUTOMATIC"), ["p1"]) is None
    calls.call.assert_not_called()


def _view(failover, health="HEALTHY"):
    """A cluster of a primary and a standby, both running, as an appliance answers it."""
    nodes = [
        {"name": name, "role": role, "status": "running", "health": health}
        for name, role in (("n1", "PRIMARY"), ("n2", "STANDBY"))
    ]
    warnings = [] if health == "HEALTHY" else ["n2 lags"]
    return {"health": health, "failover": failover, "warnings": warnings, "nodes": nodes, "primaries": ["n1"]}


def test_a_failover_mode_of_neither_kind_is_a_problem_unless_the_plan_set_it():
    assert cluster.problems(_view("AUTOMATIC"), ["n1", "n2"]) == []
    assert cluster.problems(_view("UNKNOWN")) == ["the failover mode is UNKNOWN"]
    assert cluster.problems(_view("UNKNOWN"), failover=False) == []
    # What else is wrong is said all the same.
    assert cluster.problems(_view("UNKNOWN", "DEGRADED"), failover=False) == [
        "the cluster is DEGRADED, not HEALTHY (n2 lags)"
    ]
