"""
`salt-run state.orchestrate orch.vcd_rolling` over four real minions, each a vCD appliance of one fake
group (a primary, two standbys, a cell-type appliance sharing the embedded database cluster) with jobs
running, proven on the cells' and the cluster's timelines.
"""

import pytest

from tests.e2e.conftest import absolute, events_of, run_orchestration
from tests.e2e.test_rolling import down_intervals
from tests.support import assert_every_shutdown_follows_a_drained_reading

ROLES = {"ra1": "primary", "ra2": "standby", "ra3": "standby", "ra4": "cell"}
CELLS = tuple(ROLES)
DATABASE_NODES = ("ra1", "ra2", "ra3")


@pytest.fixture(scope="module")
def appliances(appliance_minions, runners_synced):
    """Four appliances' servers and minions; each test serves a fresh group behind them (``appliances.fresh``)."""
    with appliance_minions(ROLES) as served:
        yield served


@pytest.fixture
def fresh_group(appliances):
    """``fresh_group(jobs=[...], appliance={name: {...}})``: a new group, failover AUTOMATIC, with those jobs."""
    return appliances.fresh


@pytest.fixture
def orchestrate(salt_run_cli):
    def run(**rolling):
        return run_orchestration(
            salt_run_cli, "orch.vcd_rolling", {"vcd_rolling": dict({"cells": list(CELLS)}, **rolling)}
        )

    return run


def cluster_events(group, *kinds):
    return [e for e in group.timeline.since(0) if e["event"] in kinds]


def on_axis(group, event):
    return absolute(group.cells[0], event)


def test_a_rolling_reboot_takes_the_cluster_in_its_order_and_switches_the_primary_over(fresh_group, orchestrate):
    group = fresh_group()
    cells = {cell.config.cell_name: cell for cell in group.cells}
    success, report = orchestrate(rollout_id="appliance-rolling", reboot=True)
    assert success is True, report
    # Each appliance rebooted once, after its drain; never two database nodes down at once.
    reboots = cluster_events(group, "reboot", "boot")
    assert sorted(e["node"] for e in reboots if e["event"] == "reboot") == sorted(CELLS)
    down = 0
    for event in reboots:
        down += (1 if event["event"] == "reboot" else -1) if event["node"] in DATABASE_NODES else 0
        assert down <= 1, reboots
    for cell in group.cells:
        assert not events_of(cell, "job_abort", "database_lost"), cell.config.cell_name
        assert_every_shutdown_follows_a_drained_reading(cell)
        assert cell.snapshot()["service"] == "running" and not cell.snapshot()["quiesced"]
    # The cell-type appliance first, then the standbys, the primary last.
    first_down = {name: absolute(cell, events_of(cell, "shutdown")[0]) for name, cell in cells.items()}
    assert sorted(first_down, key=first_down.get) == ["ra4", "ra2", "ra3", "ra1"]
    # Never two database nodes down at once.
    spans = sorted(span for name in DATABASE_NODES for span in down_intervals(cells[name]))
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:], strict=False)), spans
    # The switchover, to a standby already maintained, with every cell quiesced for it, before the primary went down.
    (switchover,) = cluster_events(group, "switchover")
    assert (switchover["previous"], switchover["primary"]) == ("ra1", "ra2")
    assert switchover["failed_tasks"] == dict.fromkeys(CELLS, 0)
    when = on_axis(group, switchover)
    for name, cell in cells.items():
        quiesced = [absolute(cell, e) for e in events_of(cell, "quiesce") if absolute(cell, e) < when]
        unquiesced = [absolute(cell, e) for e in events_of(cell, "unquiesce", "start") if absolute(cell, e) < when]
        assert quiesced and (not unquiesced or max(unquiesced) < max(quiesced)), name
        assert any(absolute(cell, e) > when for e in events_of(cell, "unquiesce")), name
    assert when < first_down["ra1"]
    # Failover Manual before the first database node went down, as found (Automatic) once the last was back.
    modes = cluster_events(group, "failover_mode")
    assert [m["mode"] for m in modes] == ["MANUAL", "AUTOMATIC"]
    assert on_axis(group, modes[0]) < first_down["ra2"]
    assert on_axis(group, modes[1]) > max(end for _, end in spans)
    assert not cluster_events(group, "unplanned_failover", "hazard")
    cluster = group.cluster()
    assert (cluster["localClusterHealth"], cluster["localClusterFailover"]) == ("HEALTHY", "AUTOMATIC")
    assert [n["name"] for n in cluster["localClusterState"] if n["nodeRole"] == "PRIMARY"] == ["ra2"]


def test_a_degraded_cluster_is_refused_before_anything_is_touched(fresh_group, orchestrate):
    group = fresh_group(appliance={"ra3": {"unhealthy": True}})
    success, report = orchestrate(rollout_id="appliance-degraded")
    assert success is False
    assert "the cluster is DEGRADED, not HEALTHY" in report["comment"] and "Nothing was touched" in report["comment"]
    assert not any(events_of(cell, "quiesce", "shutdown") for cell in group.cells)
    assert not cluster_events(group, "failover_mode")


def test_switchover_false_leaves_the_primary_untouched_and_says_so(fresh_group, orchestrate):
    group = fresh_group(jobs=(0.5,))
    success, report = orchestrate(rollout_id="appliance-no-switchover", switchover=False)
    assert success is True, report
    assert report["cells"]["ra1"]["result"] == "left untouched"
    assert "The primary appliance ra1 was left untouched (switchover: false)" in report["comment"]
    primary = group.cells[0]
    assert not events_of(primary, "quiesce", "shutdown") and not cluster_events(group, "switchover")
    assert all(events_of(cell, "shutdown") for cell in group.cells[1:])
    assert [m["mode"] for m in cluster_events(group, "failover_mode")] == ["MANUAL", "AUTOMATIC"]
    assert not cluster_events(group, "unplanned_failover", "hazard")
