"""The rollout's appliance route, with the appliances' answers given (`_utils/_vcd_rolling_appliance.py`)."""

import dataclasses

import pytest
from salt.exceptions import SaltInvocationError

from tests.support import load_salt_module
from tests.unit.utils.stand_ins import Record, cluster_view, reached, rollout_plan

route = load_salt_module("_utils/_vcd_rolling_appliance.py", "vcd_rolling_appliance_under_test")

ROLES = {"p": "PRIMARY", "s": "STANDBY", "c1": "CELL", "c2": "CELL"}
NODES = {"p": "vcd1", "s": "vcd2"}


def view(cell, **state):
    """The cluster as ``cell``'s appliance answers ``vcd_cell.appliance_nodes``."""
    return cluster_view(ROLES, NODES, cell, **state)


def answering(**answers):
    return reached({"vcd_cell.appliance_nodes": {cell: view(cell) for cell in ROLES}, **answers})


def context(calls, **more):
    """The rollout's plan; the events it fired in ``fired(plan)``."""
    fields = {
        "cells": calls,
        "order": list(ROLES),
        "roles": ROLES,
        "nodes": dict(NODES, c1="c1-node", c2="c2-node"),
        "record": Record(done=[]),
    }
    return rollout_plan(**dict(fields, **more))


def fired(plan):
    """The events ``plan`` fired, as ``(tag, data)``."""
    return [call.args for call in plan.fire.call_args_list]


def test_the_plan_takes_the_cell_type_appliances_first_in_batches_then_the_standby_then_the_primary():
    record = Record()
    batches, roles, nodes = route.cluster_batches(answering(), ["p", "c1", "s", "c2"], 2, record)
    assert batches == [["c1", "c2"], ["s"], ["p"]]
    assert roles == {"p": "PRIMARY", "c1": "CELL", "s": "STANDBY", "c2": "CELL"}
    assert nodes["p"] == "vcd1" and nodes["s"] == "vcd2"
    # The failover mode found, kept for the end of the rollout (a re-run keeps the first run's).
    assert record.saved == [{"failover_before": "AUTOMATIC"}]


def test_the_plan_refuses_a_silent_appliance_and_an_unhealthy_cluster_before_anything_is_touched():
    silent = reached({"vcd_cell.appliance_nodes": {cell: view(cell) for cell in ("p", "s")}})
    with pytest.raises(SaltInvocationError, match="cannot be read: c1: .*its job was lost"):
        route.cluster_batches(silent, ["p", "s", "c1"], 1, Record())
    degraded = reached({"vcd_cell.appliance_nodes": {cell: view(cell, health="DEGRADED") for cell in ROLES}})
    with pytest.raises(SaltInvocationError, match="as p sees it: the cluster is DEGRADED.*unless it is HEALTHY"):
        route.cluster_batches(degraded, ["p", "s"], 1, Record())


def test_a_database_node_goes_down_only_with_the_cluster_healthy_right_then():
    assert route.healthy(["s"], context(answering())) == {"s": None}
    down = reached({"vcd_cell.appliance_nodes": {"s": view("s", down=("p",))}})
    (why,) = route.healthy(["s"], context(down)).values()
    assert "database node(s) not running: vcd1" in why and "unless the cluster is HEALTHY" in why
    assert route.healthy(["s"], context(reached({}))) == {"s": "its job was lost"}


def test_a_database_nodes_batch_checks_the_cluster_and_the_failover_first_and_the_primary_switches_over():
    common = [("vcd.drained", None)]
    ctx = context(answering())
    assert route.steps_for(["c1", "c2"], ctx, common) == common
    assert [name for name, _ in route.steps_for(["s"], ctx, common)] == ["cluster", "failover", "vcd.drained"]
    assert [name for name, _ in route.steps_for(["p"], ctx, common)] == [
        "cluster",
        "failover",
        "switchover",
        "vcd.drained",
    ]


def test_the_switchover_quiesces_every_cell_for_its_duration_and_goes_to_a_standby_maintained_first():
    calls = answering(**{"vcd_cell.switchover": {"p": {"primary": "vcd2"}}, "vcd_cell.cells": {"p": []}})
    calls.quiesce_running.return_value = (list(ROLES), dict.fromkeys(ROLES))
    calls.call_each.side_effect = None
    calls.call_each.return_value = {"vcd_cell.unquiesce": dict.fromkeys(ROLES, True), "vcd_cell.release_lease": {}}
    ctx = context(calls, record=Record(done=["s", "c1", "c2"]))
    assert route.switchover(["p"], ctx) == {"p": None}
    calls.quiesce_running.assert_called_once_with(list(ROLES), 600)
    calls.call.assert_any_call(["p"], "vcd_cell.switchover", arg=["vcd2"])
    assert [tag for tag, _ in fired(ctx)] == ["switchover/start", "switchover/finish"]
    assert fired(ctx)[-1][1] == {"primary": "vcd2", "previous": "vcd1", "result": "done"}


def test_no_switchover_when_a_cell_could_not_be_quiesced_and_every_quiesced_one_is_given_back():
    calls = answering()
    calls.quiesce_running.return_value = (["p", "c1"], {"p": None, "c1": "vcd_cell.quiesce: the tool hung"})
    calls.call_each.side_effect = None
    calls.call_each.return_value = {"vcd_cell.unquiesce": {"p": True, "c1": False}, "vcd_cell.release_lease": {}}
    (why,) = route.switchover(["p"], context(calls)).values()
    assert why == "could not quiesce c1: no switchover; unquiescing c1 failed: unquiesce them by hand"
    assert all(call.args[1] != "vcd_cell.switchover" for call in calls.call.call_args_list)
    calls.call_each.assert_called_once_with(
        ["p", "c1"], [("vcd_cell.unquiesce", (), None), ("vcd_cell.release_lease", (), None)]
    )


def test_a_rerun_that_finds_the_primary_a_standby_already_has_nothing_to_switch():
    calls = reached({"vcd_cell.appliance_nodes": {"p": dict(view("p"), role="STANDBY")}})
    ctx = context(calls)
    assert route.switchover(["p"], ctx) == {"p": None}
    calls.quiesce_running.assert_not_called()
    assert fired(ctx) == []


def test_with_switchover_false_only_the_primary_is_left_alone():
    ctx = context(answering(), switchover=False)
    assert route.ROUTE.left_alone(ctx, ["p"]) is True
    assert route.ROUTE.left_alone(ctx, ["s"]) is False
    assert route.ROUTE.left_alone(dataclasses.replace(ctx, switchover=True), ["p"]) is False


def test_a_rebooted_appliance_is_back_once_its_database_node_is_healthy():
    back = route.node_back(context(answering()))
    assert back.calls == (("vcd_cell.appliance_nodes", (), None),)
    assert back("s", {"vcd_cell.appliance_nodes": {"s": view("s")}}) is None
    stopped = {"vcd_cell.appliance_nodes": {"s": view("s", down=("s",))}}
    assert back("s", stopped) == "its database node is stopped, HEALTHY"
    assert back("c1", {"vcd_cell.appliance_nodes": {"c1": view("c1")}}) is None
