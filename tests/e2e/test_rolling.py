"""
`salt-run state.orchestrate orch.vcd_rolling` over three real minions, each driving its own fake cell.
"""

import contextlib
import re
import subprocess
import time
from types import SimpleNamespace

import pytest

from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig
from simulator.server import CellServer
from tests.e2e.conftest import (
    ADMIN_PASSWORD,
    absolute,
    assert_a_finish_event_each,
    assert_one_after_another,
    events_of,
    kill_midway_and_restart_master,
    run_orchestration,
)
from tests.support import end_running_jobs, wait_for

CELLS = ("cell-a", "cell-b", "cell-c")
UPGRADE_SLS = "tests.e2e.sls.upgrade"
DOWN = ("shutdown", "stop", "crash")


@pytest.fixture(scope="module")
def group(cell_minions, runners_synced):
    """Three cells of a server group, each a fake cell driven by its own minion."""
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(CellServer(Cell(CellConfig(cell_name=name, admin_password=ADMIN_PASSWORD))))
            for name in CELLS
        }
        minions = stack.enter_context(cell_minions({name: (server, {}) for name, server in servers.items()}))
        yield SimpleNamespace(servers=servers, minions=minions)


@pytest.fixture
def fresh_cells(group):
    """
    ``fresh_cells(jobs=[1.0])``: a new fake cell behind each minion, with those jobs running, the cells
    one server group (vCD lists each of them: the rollout's precheck reads it).
    """

    def make(jobs=(1.0,), **config):
        cells = {}
        for name, server in group.servers.items():
            cell = server.replace_cell(Cell(CellConfig(cell_name=name, admin_password=ADMIN_PASSWORD, **config)))
            for seconds in jobs:
                cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
            cells[name] = cell
        ServerGroup(list(cells.values()))
        return cells

    return make


@pytest.fixture
def orchestrate(salt_run_cli):
    """Run the rolling orchestration with ``vcd_rolling`` pillar; returns (success, the runner's report)."""

    def run(**rolling):
        return run_orchestration(salt_run_cli, "orch.vcd_rolling", {"vcd_rolling": rolling})

    return run


def down_intervals(cell):
    """When the cell was not serving: from each stop to the next time it served."""
    intervals, went_down = [], None
    for event in cell.events():
        if event["event"] in DOWN and went_down is None:
            went_down = absolute(cell, event)
        elif event["event"] == "serving" and went_down is not None:
            intervals.append((went_down, absolute(cell, event)))
            went_down = None
    if went_down is not None:
        intervals.append((went_down, float("inf")))
    return intervals


def assert_budget_held(cells, batch, min_active):
    """At every instant at most ``batch`` cells were down and at least ``min_active`` served."""
    intervals = [interval for cell in cells.values() for interval in down_intervals(cell)]
    for start, _ in intervals:
        down = sum(1 for s, e in intervals if s <= start < e)
        assert down <= batch, intervals
        assert len(cells) - down >= min_active, intervals


def cmt_runs(cell):
    return [e for e in events_of(cell, "cli") if e["tool"] == "cell-management-tool"]


def test_a_full_rollout_keeps_the_budget_and_loses_no_job(
    fresh_cells, orchestrate, tmp_path, event_listener, salt_master
):
    cells = fresh_cells(jobs=(1.0, 1.5), start_seconds=0.5)
    started = time.time()
    success, report = orchestrate(
        cells=list(CELLS),
        maintenance_sls=UPGRADE_SLS,
        cell_pillar={"upgrade_marker_dir": str(tmp_path)},
        rollout_id="full",
    )
    assert success is True, report
    assert {name: entry["result"] for name, entry in report["cells"].items()} == dict.fromkeys(CELLS, "done")
    assert report["cells"]["cell-a"]["steps"] == [
        "budget",
        "vcenter proxies",
        "vcd.drained",
        "vcenter reconnect",
        UPGRADE_SLS,
        "vcd.active",
    ]
    assert_budget_held(cells, batch=1, min_active=1)
    for name, cell in cells.items():
        assert not events_of(cell, "job_abort"), name
        (shutdown,) = events_of(cell, "shutdown")
        assert (shutdown["job_count"], shutdown["active"]) == (0, False)
        assert cell.snapshot()["service"] == "running"
        assert (tmp_path / name).read_text().strip() == "cell running during the upgrade: False"
    assert_one_after_another(cells, CELLS)
    assert_a_finish_event_each(event_listener, salt_master, CELLS, started)
    started_events = event_listener.get_events(
        [(salt_master.id, f"vcd/rolling/{name}/start") for name in CELLS], after_time=started
    )
    assert sorted(e.data["cell"] for e in started_events) == sorted(CELLS)
    # The checks the rollout began with, before it touched anything: ready, and the warnings in its return.
    (checked,) = event_listener.get_events([(salt_master.id, "vcd/rolling/precheck/finish")], after_time=started)
    assert checked.data["ready"] is True and checked.data["failed"] == []
    assert report["precheck"]["ready"] is True
    # What it warned of: each cell's transfer share (a directory of this host's own disk here) and its
    # address (http://: no certificate to read).
    warned = {(r["check"], r["result"]) for r in report["precheck"]["checks"]}
    assert warned == {("transfer_share", "warn"), ("certificate", "warn")}


def test_a_failure_stops_the_rollout_and_a_rerun_resumes_after_the_fix(fresh_cells, orchestrate):
    cells = fresh_cells(jobs=(0.5,))
    stuck = cells["cell-b"].add_job(seconds=None, name="vmMigrate", owner="bob")
    rolling = {
        "cells": list(CELLS),
        "rollout_id": "resume",
        "cell_pillar": {"vcd_cell": {"drain": {"timeout": 2, "interval": 1, "on_timeout": "fail"}}},
    }
    success, report = orchestrate(**rolling)
    assert success is False
    assert report["comment"].startswith("Stopped at cell-b, step vcd.drained")
    assert stuck["id"] in report["comment"] and "Not touched: cell-c" in report["comment"]
    assert [report["cells"][n]["result"] for n in CELLS] == ["done", "failed", "not started"]
    assert not events_of(cells["cell-c"], "quiesce") and not cmt_runs(cells["cell-c"])
    snapshot_b = cells["cell-b"].snapshot()
    assert (snapshot_b["service"], snapshot_b["quiesced"]) == ("running", True)
    assert not any(events_of(cell, "job_abort") for cell in cells.values())

    cells["cell-b"].cancel_job(stuck["id"])
    seen_on_a = len(cells["cell-a"].events())
    success, report = orchestrate(**rolling)
    assert success is True, report
    assert [report["cells"][n]["result"] for n in CELLS] == ["done earlier", "done", "done"]
    assert "cell-a done in an earlier run" in report["comment"]
    assert len(cells["cell-a"].events()) == seen_on_a
    assert_budget_held(cells, batch=1, min_active=1)
    assert all(cell.snapshot()["service"] == "running" for cell in cells.values())


def test_the_budget_refuses_to_start_when_the_other_cells_are_down(fresh_cells, orchestrate):
    cells = fresh_cells(jobs=())
    cells["cell-b"].crash()
    cells["cell-c"].shutdown()
    success, report = orchestrate(cells=list(CELLS), rollout_id="budget")
    assert success is False
    # Refused by the checks the rollout begins with, before it touches anything.
    assert "Stopped at cell-a, step precheck: budget: 1 of 3 cells serve now (cell-a)" in report["comment"]
    assert report["precheck"]["ready"] is False
    assert not cmt_runs(cells["cell-a"])
    assert cells["cell-a"].snapshot()["service"] == "running"


@pytest.mark.parametrize(
    "rolling, message",
    [
        ({"cells": list(CELLS), "batch": 3}, "cannot be taken down 3 at a time while 1 keep serving"),
        ({"cells": list(CELLS), "min_active": 0}, "min_active must be a whole number of at least 1"),
        ({"cells": ["cell-a", "cell-a"]}, "lists a minion twice"),
        ({"cells": "nothing-matches-*"}, "matches no accepted minion"),
        ({"cells": list(CELLS), "pause": -1}, "pause must be a number of seconds"),
        ({"cells": "cell-*", "tgt_type": "regex"}, "tgt_type must be one of"),
        ({"cells": list(CELLS), "maintenance_sls": 7}, "maintenance_sls must be the name of an SLS"),
    ],
)
def test_an_impossible_plan_is_refused_before_any_cell_is_touched(fresh_cells, orchestrate, rolling, message):
    cells = fresh_cells(jobs=())
    success, report = orchestrate(**rolling)
    assert success is False
    assert message in report["comment"]
    assert not any(events_of(cell, "cli") for cell in cells.values())


def test_a_master_restarted_during_a_rollout_resumes_when_run_again(
    fresh_cells, orchestrate, group, salt_master, salt_run_cli, salt_cli
):
    # cell-b's job runs until the master has been restarted, however long that took.
    cells = fresh_cells(jobs=())
    cells["cell-b"].add_job(seconds=None, name="vappDeploy", owner="alice")
    rolling = {"cells": list(CELLS), "rollout_id": "master-restart"}
    command = salt_run_cli.cmdline("state.orchestrate", "orch.vcd_rolling", pillar={"vcd_rolling": rolling})
    kill_midway_and_restart_master(
        command,
        lambda: events_of(cells["cell-b"], "quiesce"),
        "the rollout to reach cell-b",
        salt_master,
        group.minions,
        salt_cli,
    )
    seen_on_a = len(cells["cell-a"].events())
    end_running_jobs(group.servers["cell-b"].url)
    success, report = orchestrate(**rolling)
    assert success is True, report
    assert [report["cells"][n]["result"] for n in CELLS] == ["done earlier", "done", "done"]
    assert len(cells["cell-a"].events()) == seen_on_a
    assert_budget_held(cells, batch=1, min_active=1)
    for name, cell in cells.items():
        assert len(events_of(cell, "shutdown")) == 1, name
        assert not events_of(cell, "job_abort"), name
        assert cell.snapshot()["service"] == "running", name


def test_a_rolling_reboot_reboots_each_host_after_its_drain_and_waits_for_its_new_boot(fresh_cells, orchestrate):
    cells = fresh_cells(jobs=(0.5,))
    boot_ids = {name: cell.boot_id for name, cell in cells.items()}
    success, report = orchestrate(cells=list(CELLS), reboot=True, vcenter_reconnect=False, rollout_id="reboot")
    assert success is True, report
    assert report["cells"]["cell-a"]["steps"] == ["budget", "vcd.drained", "reboot", "vcd.active"]
    assert_budget_held(cells, batch=1, min_active=1)
    for name, cell in cells.items():
        kinds = [e["event"] for e in cell.events() if e["event"] in ("shutdown", "reboot", "boot", "start", "serving")]
        # vmware-vcd starts at boot; vcd.active then finds it started.
        assert kinds == ["shutdown", "reboot", "boot", "start", "serving"], (name, kinds)
        assert cell.boot_id != boot_ids[name] and not events_of(cell, "job_abort", "power_off"), name
        assert cell.snapshot()["service"] == "running"


HEARTBEAT = 15.0


@pytest.mark.parametrize("reconnect", [True, False], ids=["reconnected", "heartbeat-failover"])
def test_vcenter_proxies_move_at_once_with_a_reconnect_and_only_after_the_heartbeat_without(
    fresh_cells, orchestrate, reconnect
):
    cells = fresh_cells(jobs=(0.5,))
    group = cells["cell-a"].group
    group.heartbeat_seconds = HEARTBEAT
    for name in ("vc1.example.com", "vc2.example.com"):
        group.add_vcenter(name, "cell-a")
    success, report = orchestrate(cells=list(CELLS), vcenter_reconnect=reconnect, rollout_id=f"proxies-{reconnect}")
    assert success is True, report
    # Every vCenter has a live proxy again (without the reconnect, once the heartbeat failover moved it).
    wait_for(lambda: all(v["live"] for v in group.vcenter_records()), "every vCenter's proxy to be live", deadline=120)
    losses = group.without_proxy()
    assert set(losses) == {"vc1.example.com", "vc2.example.com"} and all(losses.values()), losses
    longest = max(max(spans) for spans in losses.values())
    if reconnect:
        assert longest < 10, losses
        moved = report["cells"]["cell-a"]["vcenters"]
        assert moved == dict.fromkeys(("vc1.example.com", "vc2.example.com"), "proxy moved to cell-b"), report
    else:
        assert longest >= HEARTBEAT, losses
        assert "vcenters" not in report["cells"]["cell-a"]


def test_a_drain_names_the_vcenter_proxies_it_stops_and_reconnects_them_through_the_group(
    fresh_cells, group, salt_cli, event_listener, salt_master
):
    cells = fresh_cells(jobs=(0.5,))
    server_group = cells["cell-a"].group
    server_group.add_vcenter("vc1.example.com", "cell-a")
    started = time.time()
    pillar = {"vcd_cell": {"group_api_url": group.servers["cell-b"].url, "drain": {"vcenter_reconnect": True}}}
    ret = salt_cli.run("state.apply", "vcd.drained", minion_tgt="cell-a", pillar=pillar, _timeout=180)
    (result,) = ret.data.values()
    assert result["result"] is True, result
    assert result["changes"]["vcenter_proxies"] == ["vc1.example.com"]
    assert result["changes"]["vcenters"] == {"vc1.example.com": "proxy moved to cell-b"}
    assert "it ran the VC proxies of vc1.example.com, reconnected through the server group" in result["comment"]
    assert server_group.without_proxy()["vc1.example.com"][0] < 10

    def through_the_last_progress_event():
        # It reaches the master's bus on its own way, which may be after the state's return.
        progress = event_listener.get_events([(salt_master.id, "vcd/cell/cell-a/drain")], after_time=started)
        return progress if any(e.data["data"]["job_count"] == 0 for e in progress) else None

    progress = wait_for(through_the_last_progress_event, "the drain's last progress event")
    assert all(e.data["data"].get("vcenter_proxies") == ["vc1.example.com"] for e in progress)
    assert salt_cli.run("state.apply", "vcd.active", minion_tgt="cell-a", _timeout=180).returncode == 0


def test_a_precheck_says_whether_min_active_holds_with_the_cells_serving_now(fresh_cells, salt_run_cli):
    cells = fresh_cells(jobs=())
    asked = ("vcd_rolling.precheck", f"cells=[{', '.join(CELLS)}]", "min_active=2")
    ret = salt_run_cli.run(*asked)
    report = ret.data
    assert ret.returncode == 0 and report["ready"] is True, report
    assert [r["check"] for r in report["checks"]][-1] == "budget"
    budget = [r for r in report["checks"] if r["check"] == "budget"]
    assert budget == [
        {
            "check": "budget",
            "cell": None,
            "result": "pass",
            "detail": "3 of 3 cells serve now: each of the 3 batch(es) leaves 2 serving",
            "fix": "",
        }
    ]

    cells["cell-c"].shutdown()
    # A cell of the group no plan names: the rollout leaves it alone, a warning.
    cells["cell-a"].group.join(Cell(CellConfig(cell_name="cell-x")))
    ret = salt_run_cli.run(*asked)
    report = ret.data
    assert ret.returncode != 0 and report["ready"] is False, report
    (listed,) = [r for r in report["checks"] if r["check"] == "cell_list"]
    assert (listed["result"], listed["detail"]) == (
        "warn",
        "vCD lists cell(s) outside the plan: cell-x; the rollout leaves them alone",
    ), listed
    (budget,) = [r for r in report["checks"] if r["check"] == "budget"]
    assert budget["result"] == "fail" and budget["detail"] == (
        "2 of 3 cells serve now (cell-a, cell-b): with cell-a down only 1 would, min_active is 2"
    ), budget
    assert "The window would be refused on: budget." in report["comment"]
    assert not any(cmt_runs(cell) for cell in cells.values())
    assert [e["event"] for e in cells["cell-c"].events() if e["event"] in DOWN] == ["shutdown"]


def without_json(cmdline):
    """A salt-run command line as a person types it: salt-factories' ``--out=json`` options left out."""
    return [arg for arg in cmdline if not arg.startswith("--out")]


def test_a_rollout_in_batches_of_two_says_its_progress_a_follower_watches_it_and_its_report_is_listed(
    fresh_cells, salt_run_cli
):
    cells = fresh_cells(jobs=(1.0,))
    # From another shell, before the run: it waits for the run to begin, and ends with it (its output a
    # pipe, as into a log: a line each time what it says changes).
    follow = without_json(salt_run_cli.cmdline("vcd_watch.follow", "run=watched", "timeout=600", "interval=0.2"))
    follower = subprocess.Popen(follow, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        # The runner itself, as a person types it: a target expression, two cells at a time.
        rollout = without_json(
            salt_run_cli.cmdline("vcd_rolling.rollout", "cells=cell-*", "batch=2", "rollout_id=watched")
        )
        ran = subprocess.run(rollout, capture_output=True, text=True, timeout=600, check=False)
        followed, _ = follower.communicate(timeout=120)
    finally:
        follower.kill()
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert_budget_held(cells, batch=2, min_active=1)
    # cell-a and cell-b went down together, cell-c only after both served again.
    (a_down,), (b_down,), (c_down,) = (down_intervals(cells[n]) for n in CELLS)
    assert max(a_down[0], b_down[0]) < min(a_down[1], b_down[1])
    assert c_down[0] > max(a_down[1], b_down[1])
    # Salt's runner progress, printed as the run went: a line a step, the time first.
    said = [line for line in ran.stdout.splitlines() if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert said[0].endswith(f"vcd_rolling watched begins on {', '.join(CELLS)}"), said
    assert any(line.endswith("vcd.drained: done on cell-a, cell-b") for line in said), said
    assert any(line.endswith("vcd.drained: done on cell-c") for line in said), said
    assert said[-1][9:].startswith("done: 3 cell(s)") and "(report: " in said[-1], said[-1]
    # The follower's lines: the cells draining, then serving again; the run done, the budget kept.
    assert re.search(r"cell-b +vcd\.drained +draining", followed), followed
    assert "vcd_rolling watched done: serving 3 of 3 (min_active 1)" in followed, followed
    # The report, listed and shown.
    (listed,) = [r for r in salt_run_cli.run("vcd_report.list").data if r["plan_id"] == "watched"]
    assert listed["result"] == "done" and listed["cells"] == list(CELLS)
    shown = salt_run_cli.run("vcd_report.show", listed["id"]).data
    assert shown["path"] == listed["path"] and said[-1].endswith(f"(report: {listed['path']})")
    assert "result: done" in shown["summary"] and "outage: none: a cell served all along" in shown["summary"]
