"""
`salt-run state.orchestrate orch.vcd_rolling` over four real minions, each a vCD appliance of one fake
group (a primary, two standbys, a cell-type appliance sharing the embedded database cluster) with jobs
running, proven on the cells' and the cluster's timelines.
"""

import contextlib
from types import SimpleNamespace

import pytest

from simulator.appliance import appliance_group
from simulator.server import ApplianceServer, CellServer
from tests.conftest import APPLIANCE_ROOT_PASSWORD
from tests.e2e.conftest import ADMIN_PASSWORD, absolute, events_of, run_orchestration
from tests.e2e.test_rolling import down_intervals
from tests.support import assert_every_shutdown_follows_a_drained_reading

ROLES = {"ra1": "primary", "ra2": "standby", "ra3": "standby", "ra4": "cell"}
CELLS = tuple(ROLES)
DATABASE_NODES = ("ra1", "ra2", "ra3")


@pytest.fixture(scope="module")
def appliances(cell_minions, runners_synced):
    """Four appliances' servers (cell and appliance API) and minions; each test serves a fresh group behind them."""
    first = appliance_group(ROLES, admin_password=ADMIN_PASSWORD)
    with contextlib.ExitStack() as stack:
        servers = {}
        for appliance in first.appliances:
            appliance.config.root_password = APPLIANCE_ROOT_PASSWORD
            cell = stack.enter_context(CellServer(appliance.cell))
            servers[appliance.name] = SimpleNamespace(cell=cell, api=stack.enter_context(ApplianceServer(appliance)))
        minions = stack.enter_context(
            cell_minions({name: (server.cell, {"appliance": server.api}) for name, server in servers.items()})
        )
        yield SimpleNamespace(servers=servers, minions=minions)


@pytest.fixture
def fresh_group(appliances):
    """
    ``fresh_group(jobs=[...], appliance={name: {...}})``: a new appliance group behind the servers,
    failover AUTOMATIC, each cell with those jobs running.
    """

    def make(jobs=(0.5, 1.0), appliance=None):
        settings = {
            name: dict({"root_password": APPLIANCE_ROOT_PASSWORD}, **(appliance or {}).get(name, {})) for name in CELLS
        }
        group = appliance_group(ROLES, appliances=settings, admin_password=ADMIN_PASSWORD)
        for member in group.appliances:
            appliances.servers[member.name].cell.replace_cell(member.cell)
            appliances.servers[member.name].api.replace_appliance(member)
            for seconds in jobs:
                member.cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
        return group

    return make


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
